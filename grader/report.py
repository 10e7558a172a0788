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
    graded = [r for r in results if r["extra_data"]["status"] == "graded"]
    problems = [r for r in rows if r["status"] in ("error", "missing")]
    timeouts = [r for r in results if any("did not finish" in e or "time limit" in e for e in r["extra_data"].get("events", []))]
    max_score = results[0]["max_score"] if results else 0
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(rows)} students: {sum(r['status'] in ('graded', 'late') for r in rows)} graded, "
        f"{sum(r['status'] == 'error' for r in rows)} errors, {sum(r['status'] == 'missing' for r in rows)} missing, "
        f"{sum(r['status'] == 'late' for r in rows)} late. Mean score "
        f"{_mean([r['score'] for r in graded]):.1f} / {max_score:g} over graded submissions.</p>",
        "<h2>Score distribution</h2>", histogram_svg([r["score"] for r in results], max_score),
        "<h2>Pass rate per test</h2>", pass_rate_svg(results),
        "<h2>Errors, timeouts and missing submissions</h2>", _problem_table(problems, timeouts, _warnings(results)),
        "<h2>To review by hand / 직접 검토할 제출물</h2>", _review_table(rows),
        "<h2>Students</h2>", _student_table(rows),
    ]
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>" + html.escape(title) +
            "</title><style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}"
            ".error,.missing{color:#b00}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    path.write_text(page, encoding="utf-8")


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


def pass_rates(results: list[dict]) -> list[tuple[str, float]]:
    graded = [r for r in results if r["extra_data"]["status"] == "graded"]
    names: dict[str, list[bool]] = {}
    for result in graded:
        for test in result["tests"]:
            names.setdefault(test["name"], []).append(test["status"] == "passed")
    return [(name, sum(v) / len(v)) for name, v in names.items()]


def pass_rate_svg(results: list[dict]) -> str:
    rates = pass_rates(results)
    row, label, width = 18, 330, 620
    height = row * len(rates) + 30
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
             f"aria-label='pass rate per test'>"]
    for i, (name, rate) in enumerate(rates):
        y = 10 + i * row
        short = name if len(name) <= 52 else name[:50] + "…"
        parts.append(f"<text x='{label - 6}' y='{y + 12}' font-size='11' text-anchor='end'>{html.escape(short)}</text>")
        parts.append(f"<rect x='{label}' y='{y}' width='{(width - label - 50) * rate:.1f}' height='{row - 4}' "
                     f"fill='{'#4a9b5b' if rate >= 0.5 else '#c0504d'}'><title>{html.escape(name)}: {rate:.0%}</title></rect>")
        parts.append(f"<text x='{label + (width - label - 50) * rate + 4:.1f}' y='{y + 12}' font-size='11'>{rate:.0%}</text>")
    parts.append("</svg>")
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


def _student_table(rows: list[dict]) -> str:
    cells = []
    for row in rows:
        link = (f"<a href='results/{html.escape(row['student'])}.json'>{html.escape(row['student'])}</a>"
                if row["status"] != "missing" else html.escape(row["student"]))
        cells.append(f"<tr><td>{link}</td><td>{html.escape(str(row.get('name', '')))}</td>"
                     f"<td>{_cell(row['score'])} / {_cell(row['max_score'])}</td>"
                     f"<td class='{row['status']}'>{row['status']}{' (review)' if row.get('review') else ''}</td></tr>")
    return "<table><tr><th>student</th><th>name</th><th>score</th><th>status</th></tr>" + "".join(cells) + "</table>"
