"""Class-level outputs of a batch: ``scores.csv``, the roster join and ``report.html``.

Everything is rebuilt from the result files on disk, so a resumed batch reports on all of
its students, and the same results always give the same files.
"""
from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from grader.errors import GraderError

ID_COLUMNS = ("canvas_user_id", "canvas_anonymous_id", "moodle_participant", "gradescope_submission", "sid", "email")
SCORE_COLUMNS = ("student", "name", *ID_COLUMNS, "score", "max_score", "status", "late", "submission_sha256",
                 "chosen_file", "reason", "review")


@dataclass
class RosterRow:
    name: str
    ids: dict[str, str]
    group: str = ""  # a group assignment's group name: members share its submission's grade


def read_roster(path: Path) -> list[RosterRow]:
    """A CSV with a ``name`` column and any of the id columns (``id`` means the LMS user id)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GraderError(f"{path}: cannot read the roster ({exc.strerror}); check the path") from None
    except UnicodeDecodeError:
        raise GraderError(f"{path}: the roster is not UTF-8; export it as 'CSV UTF-8'") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "name" not in columns:
        raise GraderError(f"{path}: no 'name' column (found: {', '.join(columns) or 'no header'}); "
                          "add a header row with name and, if you have them, id, sid or email")
    rows = []
    for raw in reader:
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        ids = {key: row[key] for key in ID_COLUMNS if row.get(key)}
        if row.get("id"):
            # The LMS user id is Canvas's; Moodle's worksheet needs the download's per-assignment
            # participant number, which a user id is not (it would grade someone else).
            ids.setdefault("canvas_user_id", row["id"])
        rows.append(RosterRow(name=row["name"], ids=ids, group=row.get("group", "")))
    return rows


def _name_keys(name: str) -> set[str]:
    tokens = [t for t in re.split(r"[^\w]+", name.lower()) if t]
    return {"".join(tokens), "".join(reversed(tokens))} if tokens else set()


def load_results(outdir: Path) -> list[dict]:
    results = []
    for path in sorted((outdir / "results").glob("*.json")):
        try:
            results.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # a file being written by another run; the next report picks it up
    return results


def score_rows(results: list[dict], roster: list[RosterRow] | None) -> list[dict]:
    rows = [_row(result) for result in results]
    if roster:
        matched: set[int] = set()
        for index, row in enumerate(rows):
            for person in roster:
                if _same_person(row, person):
                    matched.add(id(person))
                    row["name"] = person.name
                    # The roster supplies the ids a download lacks (a plain folder has none).
                    row.update({k: v for k, v in person.ids.items() if not row.get(k)})
                    row["group"] = person.group
                    break
        for person in roster:
            if id(person) not in matched:
                rows.append({"student": re.sub(r"[^\w.-]+", "_", person.name).strip("_"), "name": person.name,
                             **person.ids, "group": person.group, "score": 0, "max_score": results[0]["max_score"] if results else "",
                             "status": "missing", "late": "", "reason": "no submission"})
    return sorted(rows, key=lambda r: (r["student"], r.get("status", "")))


def _same_person(row: dict, person: RosterRow) -> bool:
    if any(row.get(key) and row.get(key) == value for key, value in person.ids.items()):
        return True
    return bool(_name_keys(row.get("name", "")) & _name_keys(person.name))


def _row(result: dict) -> dict:
    extra = result["extra_data"]
    ids = extra.get("lms_ids") or {}
    status = "error" if extra["status"] == "error" else "late" if extra.get("late") else "graded"
    return {"student": extra.get("student", extra["submission"]), "name": extra.get("name", ""),
            **{key: ids.get(key, "") for key in ID_COLUMNS},
            "score": result["score"], "max_score": result["max_score"], "status": status,
            "late": "yes" if extra.get("late") else "", "submitted_at": extra.get("submitted_at") or "",
            "submission_sha256": extra.get("submission_sha256") or "",
            "chosen_file": extra.get("chosen_file") or "", "reason": extra.get("error") or "",
            "graded_at": extra.get("finished_at") or "", "group_members": extra.get("group_members") or [],
            # A Moodle team folder is its group: roster rows with this group name are its members.
            "group": extra.get("name", "") if str(extra.get("student", "")).startswith("team_") else "",
            "review": [str(reason) for reason in extra.get("review") or []]}


def write_scores_csv(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SCORE_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(row.get(key, "")) for key in SCORE_COLUMNS})
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        value = " | ".join(str(item) for item in value)
    return csv_text(value)


# A spreadsheet runs a cell starting with one of these as a formula (tab and CR too, as some
# importers strip them first): names, reasons and feedback are student-controlled.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> str:
    """A text cell for any CSV a person opens in a spreadsheet: formula starts are neutralised.

    The OWASP rule: prefix such a cell with an apostrophe, which spreadsheets show as text.
    Numbers are formatted by the caller and never pass through here.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# ---- report.html -------------------------------------------------------------------------

def write_report(results: list[dict], rows: list[dict], path: Path, title: str) -> None:
    body = [f"<h1>{html.escape(title)}</h1>", *report_sections(results, rows)]
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>" + html.escape(title) +
            "</title><style>" + PAGE_CSS + REPORT_CSS + "</style></head><body>" + "\n".join(body) +
            MATRIX_SCRIPT + "</body></html>\n")
    path.write_text(page, encoding="utf-8")


PAGE_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
            ".error,.missing{color:#b00}")


def report_sections(results: list[dict], rows: list[dict],
                    student_link: Callable[[dict], str | None] | None = None) -> list[str]:
    """The report's sections as HTML, in order; ``student_link(row)`` is each student's link
    (default: their results/<student>.json next to report.html). ``grader serve`` shows the same
    sections live, linking to its own pages."""
    graded = [r for r in results if r["extra_data"]["status"] == "graded"]
    problems = [r for r in rows if r["status"] in ("error", "missing")]
    timeouts = [r for r in results if any("did not finish" in e or "time limit" in e for e in r["extra_data"].get("events", []))]
    max_score = results[0]["max_score"] if results else 0
    return [
        provenance_html(results),
        f"<p>{class_summary(rows)} {score_denominator(graded, results, max_score)}</p>",
        "<h2>Score distribution</h2>", histogram_svg([r["score"] for r in graded], max_score),
        "<h2>Pass rate per test</h2>", pass_rate_table(results),
        "<h2>Who failed what</h2>", matrix_html(results),
        "<h2>Errors, timeouts and missing submissions</h2>", _problem_table(problems, timeouts, _warnings(results)),
        "<h2>To review by hand / 직접 검토할 제출물</h2>", _review_table(rows),
        "<h2>Students</h2>", _student_table(sorted(rows, key=student_sort_key), student_link or _result_file),
    ]


# ---- report.html: provenance, summary, pass rates, the student x test matrix (issue 14) ----------

def plural(count: int, word: str, many: str | None = None) -> str:
    """"1 student", "2 students", "0 errors": the count and the word agree."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def student_sort_key(row: dict) -> tuple:
    """Alphabetical as a person reads it: "bob" between "Alice" and "Carol"."""
    return (str(row.get("student", "")).casefold(), str(row.get("student", "")), row.get("status", ""))


def provenance_html(results: list[dict]) -> str:
    """When the page was made, by which kit, from which version of the assignment."""
    from datetime import datetime, timezone

    import grader

    hashes = sorted({str(r["extra_data"].get("assignment_hash", ""))[:12] for r in results} - {""})
    versions = sorted({str(r["extra_data"].get("grader_version", "")) for r in results} - {""})
    mixed = " (results from more than one version: regrade with --force)" if len(hashes) > 1 else ""
    return (f"<p class='meta'>Generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by "
            f"dezero-autograder {html.escape(grader.__version__)}; results graded by "
            f"{html.escape(', '.join(versions) or 'no result')}; assignment hash "
            f"<code>{html.escape(', '.join(hashes) or '-')}</code>{html.escape(mixed)}.</p>")


def class_summary(rows: list[dict]) -> str:
    count = {status: sum(r["status"] == status for r in rows) for status in ("graded", "late", "error", "missing")}
    return (f"{plural(len(rows), 'student')}: {count['graded'] + count['late']} graded "
            f"({count['late']} late), {plural(count['error'], 'error')}, {count['missing']} missing.")


def score_denominator(graded: list[dict], results: list[dict], max_score: float) -> str:
    """The mean and the histogram count the same submissions, and the page says which."""
    errors = len(results) - len(graded)
    left_out = (f" {plural(errors, 'submission')} that could not be run {'is' if errors == 1 else 'are'} not "
                "counted (listed under errors below)." if errors else "")
    return (f"Mean score {_mean([r['score'] for r in graded]):.1f} / {max_score:g} over the "
            f"{plural(len(graded), 'graded submission')}; the histogram counts the same ones.{left_out}")


def test_columns(results: list[dict]) -> list[dict]:
    """Every test in grading order: id, full title, hidden or public, points."""
    columns: dict[str, dict] = {}
    for result in results:
        for test in result["tests"]:
            tags = test.get("tags") or []
            ident = tags[-1] if tags else test["name"]
            columns.setdefault(ident, {"id": ident, "title": test["name"], "hidden": "hidden" in tags,
                                       "points": test.get("max_score", 0)})
    return list(columns.values())


def pass_rate_color(rate: float) -> str:
    """Red through amber to green, steepest near the top: 80 % is visibly not 100 %."""
    hue = 120 * max(0.0, min(1.0, rate)) ** 2
    return f"hsl({hue:.0f},62%,{42 if rate < 1 else 34}%)"


def pass_rate_table(results: list[dict]) -> str:
    graded = [r for r in results if r["extra_data"]["status"] == "graded"]
    rows = []
    for column in test_columns(graded):
        outcomes = [t["status"] == "passed" for r in graded for t in r["tests"]
                    if (t.get("tags") or [t["name"]])[-1] == column["id"]]
        passed, total = sum(outcomes), len(outcomes)
        rate = passed / total if total else 0.0
        rows.append(f"<tr><td>{html.escape(column['title'])} {_kind(column)}</td><td class='bar'>"
                    f"<span style='width:{100 * rate:.1f}%;background:{pass_rate_color(rate)}'></span></td>"
                    f"<td class='num'>{rate:.0%}</td><td class='num'>{passed} of {total} graded</td></tr>")
    if not rows:
        return "<p>No graded submission yet.</p>"
    return ("<table class='rates'><tr><th>test</th><th>pass rate</th><th></th><th>passed</th></tr>" + "".join(rows)
            + "</table>")


def _kind(column: dict) -> str:
    label = "hidden" if column["hidden"] else "public"
    return f"<span class='kind {label}'>{label}, {column['points']:g} pt</span>"


def matrix_html(results: list[dict]) -> str:
    """Students x tests, one coloured cell per result, sortable by any column.

    The cells travel as one short string per student (p, f, or - for not run) and are drawn by the
    page's script: 2,000 students x 30 tests stay a few hundred kilobytes instead of megabytes of markup.
    """
    columns = test_columns(results)
    if not columns:
        return "<p>No results yet.</p>"
    index = {column["id"]: i for i, column in enumerate(columns)}
    students = []
    for result in sorted(results, key=lambda r: str(r["extra_data"].get("student", "")).casefold()):
        cells = ["-"] * len(columns)
        # A submission that could not be loaded failed nothing it was tested on: its cells say "not run".
        for test in result["tests"] if result["extra_data"]["status"] != "error" else []:
            position = index.get((test.get("tags") or [test["name"]])[-1])
            if position is not None:
                cells[position] = "p" if test["status"] == "passed" else "f"
        students.append([str(result["extra_data"].get("student", "")), result["score"], "".join(cells),
                         result["extra_data"]["status"]])
    data = {"tests": [{"title": c["title"], "hidden": c["hidden"], "points": c["points"]} for c in columns],
            "students": students}
    legend = "".join(f"<li value='{i}'>{html.escape(c['title'])} {_kind(c)}</li>"
                     for i, c in enumerate(columns, start=1))
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return ("<p>Green passed, red failed, grey not run (the submission could not be loaded). Click a column "
            "heading to sort; columns are numbered as in the list below, hidden tests in purple (hover for the title).</p>"
            "<div id='matrix' class='matrix'><noscript>The matrix needs JavaScript.</noscript></div>"
            f"<script type='application/json' id='matrix-data'>{payload}</script>"
            f"<details><summary>Test numbers</summary><ol class='legend'>{legend}</ol></details>")


REPORT_CSS = (".meta{color:#555;font-size:.9em}.kind{font-size:.8em;color:#555;white-space:nowrap}"
              ".kind.hidden{color:#7a3e9d}.rates td.bar{width:16em}.rates td.bar span{display:block;height:.9em}"
              ".num{text-align:right;white-space:nowrap}"
              ".matrix{max-height:70vh;overflow:auto;max-width:100%}"
              ".matrix table{font-size:.75em}.matrix th{position:sticky;top:0;background:#f4f4f4;cursor:pointer;"
              "padding:0 .15em;text-align:center}.matrix td{padding:0 .15em;min-width:1.2em;height:1.1em}"
              ".matrix td.p{background:#4a9b5b}.matrix td.f{background:#c0504d}.matrix td.n{background:#ddd}"
              ".matrix th.h{color:#fff;background:#7a3e9d}")

# Builds the matrix from its JSON: text only through textContent, so no student byte becomes markup.
MATRIX_SCRIPT = """<script>(function(){
var box=document.getElementById('matrix'),src=document.getElementById('matrix-data');if(!box||!src)return;
var d=JSON.parse(src.textContent),t=document.createElement('table'),head=t.insertRow(),order=[],up=true,body;
function th(text,tip,cls,key){var c=document.createElement('th');c.textContent=text;c.title=tip;if(cls)c.className=cls;
c.onclick=function(){sortBy(key)};head.appendChild(c)}
th('student','sort by name','', -2);th('score','sort by score','',-1);
d.tests.forEach(function(x,i){th(String(i+1),x.title+(x.hidden?' (hidden)':' (public)')+', '+x.points+' pt',x.hidden?'h':'',i)});
body=document.createElement('tbody');t.appendChild(body);
function draw(){body.textContent='';var f=document.createDocumentFragment();d.students.forEach(function(s){
var r=document.createElement('tr'),a=document.createElement('td'),b=document.createElement('td');a.textContent=s[0];
b.textContent=s[1];b.className='num';r.appendChild(a);r.appendChild(b);for(var i=0;i<s[2].length;i++){
var c=document.createElement('td'),k=s[2][i];c.className=k==='p'?'p':k==='f'?'f':'n';r.appendChild(c)}f.appendChild(r)});
body.appendChild(f)}
function sortBy(key){up=order[0]===key?!up:true;order=[key];d.students.sort(function(x,y){var v;
if(key===-2)v=x[0].localeCompare(y[0],undefined,{sensitivity:'base'});else if(key===-1)v=x[1]-y[1];
else v=(x[2][key]==='p')-(y[2][key]==='p');return up?v:-v});draw()}
draw();box.appendChild(t)})();</script>"""


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def histogram_svg(scores: list[float], max_score: float, bins: int = 10) -> str:
    width, height, pad = 600, 240, 40
    counts = [0] * bins
    for score in scores:
        index = min(bins - 1, int(bins * score / max_score)) if max_score else 0
        counts[index] += 1
    top = max(counts + [1])
    bar = (width - 2 * pad) / bins
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
             f"aria-label='score histogram'>"]
    for i, count in enumerate(counts):
        h = (height - 2 * pad) * count / top
        x, y = pad + i * bar, height - pad - h
        low = max_score * i / bins
        parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar - 2:.1f}' height='{h:.1f}' fill='#4a7ebb'>"
                     f"<title>{low:g}-{low + max_score / bins:g}: {count}</title></rect>")
        if count:
            parts.append(f"<text x='{x + bar / 2:.1f}' y='{y - 4:.1f}' font-size='11' text-anchor='middle'>{count}</text>")
        parts.append(f"<text x='{x:.1f}' y='{height - pad + 14}' font-size='10'>{low:g}</text>")
    parts.append(f"<text x='{width - pad:.1f}' y='{height - pad + 14}' font-size='10'>{max_score:g}</text>")
    parts.append(f"<line x1='{pad}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' stroke='#333'/>")
    parts.append(f"<text x='{width / 2}' y='{height - 6}' font-size='12' text-anchor='middle'>score</text></svg>")
    return "".join(parts)


def _warnings(results: list[dict]) -> list[tuple[str, str, str]]:
    """Planning warnings (e.g. two students whose names made the same key), one row each."""
    return [(r["extra_data"].get("student", ""), "warning", str(w))
            for r in results for w in r["extra_data"].get("warnings") or []]


def _problem_table(problems: list[dict], timeouts: list[dict], warnings: list[tuple[str, str, str]]) -> str:
    lines = [(r["student"], r["status"], r.get("reason", "")) for r in problems]
    lines += [(t["extra_data"].get("student", ""), "timeout", "; ".join(t["extra_data"]["events"][:2]))
              for t in timeouts if t["extra_data"]["status"] == "graded"]
    lines += warnings
    if not lines:
        return "<p>None.</p>"
    cells = "".join(f"<tr><td>{html.escape(s)}</td><td class='{html.escape(k)}'>{html.escape(k)}</td>"
                    f"<td>{html.escape(reason)}</td></tr>" for s, k, reason in lines)
    return f"<table><tr><th>student</th><th>status</th><th>reason</th></tr>{cells}</table>"


def _review_table(rows: list[dict]) -> str:
    """Submissions whose source reaches for the grader's internals; their scores stand until someone looks."""
    flagged = [row for row in rows if row.get("review")]
    if not flagged:
        return "<p>None. / 없음.</p>"
    cells = "".join(f"<tr><td>{html.escape(row['student'])}</td><td>{_cell(row['score'])} / {_cell(row['max_score'])}</td>"
                    f"<td>{'<br>'.join(html.escape(r) for r in row['review'])}</td></tr>" for row in flagged)
    return ("<p>The score is kept; read the code and decide. / 점수는 그대로입니다. 코드를 읽고 판단하세요.</p>"
            f"<table><tr><th>student</th><th>score</th><th>why / 사유</th></tr>{cells}</table>")


def _result_file(row: dict) -> str | None:
    return f"results/{row['student']}.json" if row["status"] != "missing" else None


def _student_table(rows: list[dict], student_link: Callable[[dict], str | None]) -> str:
    cells = []
    for row in rows:
        href = student_link(row)
        link = (f"<a href='{html.escape(href)}'>{html.escape(row['student'])}</a>" if href
                else html.escape(row["student"]))
        cells.append(f"<tr><td>{link}</td><td>{html.escape(str(row.get('name', '')))}</td>"
                     f"<td>{_cell(row['score'])} / {_cell(row['max_score'])}</td>"
                     f"<td class='{row['status']}'>{row['status']}{' (review)' if row.get('review') else ''}</td></tr>")
    return "<table><tr><th>student</th><th>name</th><th>score</th><th>status</th></tr>" + "".join(cells) + "</table>"
