"""Score files for LMS import: Canvas gradebook CSV, Moodle grading worksheet, plain CSV.

All three start from the batch's score rows (``report.score_rows``) with the late policy
applied, so every LMS receives the same numbers.
"""
from __future__ import annotations

import csv
import io
import math
import re
from datetime import datetime, timedelta

from grader.assignment import Assignment
from grader.errors import GraderError
from grader.report import csv_text

# Canvas's importer drops any column whose title matches these (an unanchored regex).
_CANVAS_IGNORED_TITLES = re.compile(r"(Current|Final|Override|Unposted).*(Score|Points|Grade|Status)", re.I)


LATE_MODES = ("kit", "lms", "none")


def late_mode(assignment: Assignment) -> str:
    """Who deducts for lateness: the kit, the LMS (the kit posts raw scores), or nobody."""
    return (assignment.late_policy or {}).get("applied_by", "kit") if assignment.late_policy else "none"


def apply_late_policy(rows: list[dict], assignment: Assignment) -> list[dict]:
    """Add ``days_late``, ``penalty_percent`` and ``final_score`` to each row.

    Days late come from the real submission time: ``seconds_late`` where the LMS gives it
    (Canvas), else the submission time and the due date. A bare late marker (Canvas ``LATE``)
    says nothing about how late, so it costs nothing here and the row says so; Canvas's own
    ``seconds_late`` (``grader upload canvas``) or ``applied_by = "lms"`` give the real penalty.
    With ``applied_by = "lms"`` or ``"none"`` the kit never deducts, so the LMS's late policy is
    the only one (Canvas applies its own on top of any entered score).
    """
    policy = assignment.late_policy if late_mode(assignment) == "kit" else None
    out = []
    for row in rows:
        row = dict(row)
        days = _days_late(row, assignment) if policy else 0
        if days is None:
            days = 0
            row["late_unknown"] = True
        penalty = min(policy["max_percent"], policy["percent_per_day"] * days) if policy else 0.0
        score = float(row.get("score") or 0)
        row.update(days_late=days, penalty_percent=penalty, final_score=round(score * (1 - penalty / 100), 4))
        out.append(row)
    return out


def _days_late(row: dict, assignment: Assignment) -> int | None:
    grace = timedelta(hours=assignment.late_policy["grace_hours"])
    if row.get("seconds_late") not in (None, ""):
        late_by = timedelta(seconds=float(row["seconds_late"])) - grace
        return max(0, math.ceil(late_by / timedelta(days=1)))
    if row.get("submitted_at") and assignment.due:
        try:
            submitted = datetime.fromisoformat(str(row["submitted_at"]).replace(" +", "+"))
        except ValueError:
            submitted = None
        if submitted is not None:
            late_by = submitted - assignment.due - grace
            return max(0, math.ceil(late_by / timedelta(days=1)))
    return None if row.get("late") == "yes" else 0


def scale_rows(rows: list[dict], maximum: float | None) -> list[dict]:
    """Add ``lms_score`` / ``lms_max``: the final score on the LMS's scale, never above its maximum.

    Moodle silently skips a grade above its maximum and Canvas takes it as extra credit, so a
    score is clamped to the maximum as well as scaled to it.
    """
    out = []
    for row in rows:
        row = dict(row)
        kit_max = float(row.get("max_score") or 0)
        lms_max = float(maximum) if maximum else kit_max
        final = float(row.get("final_score") or 0)
        scaled = final * lms_max / kit_max if kit_max and maximum else final
        row.update(lms_max=lms_max, lms_score=round(min(max(scaled, 0.0), lms_max), 4))
        out.append(row)
    return out


_MEMBER_IDS = ("canvas_user_id", "canvas_anonymous_id", "moodle_participant", "sid", "email")


def expand_groups(rows: list[dict]) -> list[dict]:
    """One row per group member: every member of a group submission gets its grade and comment.

    Members come from the download (Gradescope's submitters, kept as ``group_members``) or from
    the roster's ``group`` column (Canvas and Moodle downloads hold one submission per group).
    A member with a submission of their own keeps their own row.
    """
    submitted = [row for row in rows if row.get("status") != "missing"]
    missing = [row for row in rows if row.get("status") == "missing"]
    own = {(key, row[key]) for row in submitted for key in _MEMBER_IDS if row.get(key)}
    out = list(submitted)
    for row in submitted:
        members = [dict(m) for m in row.get("group_members") or []]
        if row.get("group"):
            members += [m for m in missing if m.get("group") == row["group"]]
        for member in members:
            ids = {k: str(member[k]) for k in _MEMBER_IDS if member.get(k)}
            if not ids or any(item in own for item in ids.items()):
                continue
            own.update(ids.items())
            missing = [m for m in missing if not any(m.get(k) == v for k, v in ids.items())]
            key = member.get("student") or re.sub(r"[^\w.@-]+", "_", f"{row['student']}+{next(iter(ids.values()))}")
            out.append({**row, **{k: "" for k in _MEMBER_IDS}, **ids, "student": key,
                        "name": member.get("name") or key, "group_of": row["student"], "group_members": []})
    return sorted(out + missing, key=lambda r: (r["student"], r.get("status", "")))


def _number(value: float) -> str:
    return f"{value:g}"


def canvas_csv(rows: list[dict], assignment: Assignment, canvas_assignment_id: str) -> tuple[str, list[str]]:
    """Gradebook import CSV; returns the text and the students left out (no Canvas user id)."""
    title = f"{assignment.title} ({canvas_assignment_id})"
    if _CANVAS_IGNORED_TITLES.search(assignment.title):
        raise GraderError(f"assignment title '{assignment.title}' would be dropped by Canvas's importer "
                          "(it looks like a total column); change 'title' in assignment.toml")
    if not re.fullmatch(r"\d+", canvas_assignment_id or ""):
        raise GraderError("--canvas-assignment-id must be the number in the assignment's Canvas URL")
    buffer, skipped = io.StringIO(), []
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title])
    max_score = next((_lms_max(r) for r in rows if r.get("max_score") not in ("", None)), "")
    writer.writerow(["    Points Possible", "", "", "", "", _number(float(max_score)) if max_score != "" else ""])
    for row in rows:
        if not row.get("canvas_user_id"):
            skipped.append(row["student"])
            continue
        grade = "" if row["status"] == "missing" else _number(_lms_score(row))
        writer.writerow([csv_text(row.get("name", "")), csv_text(row["canvas_user_id"]), csv_text(row.get("sid", "")),
                         csv_text(row.get("email", "")), "", grade])
    return buffer.getvalue(), skipped


# The importer finds its columns by the site's language strings (importgradeslib.php init: recordid,
# grade, lastmodifiedgrade; feedback by the plugin's editor-field name) and cuts the Identifier at
# the length of 'hiddenuser'. English is lang/en/assign.php. The Korean row is UNVERIFIED against
# Moodle's ko language pack (not in the sources read): check it against your site's own worksheet.
MOODLE_HEADERS = {
    "en": {"recordid": "Identifier", "hiddenuser": "Participant", "fullname": "Full name", "email": "Email address",
           "status": "Status", "grade": "Grade", "maxgrade": "Maximum grade", "gradecanbechanged": "Grade can be changed",
           "lastmodifiedsubmission": "Last modified (submission)", "lastmodifiedgrade": "Last modified (grade)",
           "feedback": "Feedback comments", "submitted": "Submitted for grading", "nosubmission": "No submission",
           "yes": "Yes"},
    "ko": {"recordid": "식별자", "hiddenuser": "참가자", "fullname": "성명", "email": "이메일 주소",
           "status": "상태", "grade": "성적", "maxgrade": "최고 성적", "gradecanbechanged": "성적 변경 가능",
           "lastmodifiedsubmission": "최종 수정 (제출)", "lastmodifiedgrade": "최종 수정 (성적)",
           "feedback": "피드백 코멘트", "submitted": "채점을 위해 제출됨", "nosubmission": "제출 안 함",
           "yes": "예"},
}


def moodle_csv(rows: list[dict], assignment: Assignment, now: datetime | None = None, *,
               lang: str = "en") -> tuple[str, list[str]]:
    """Offline grading worksheet in the Moodle site's language.

    'Last modified (grade)' is when the kit graded the row (``graded_at``), with an explicit
    offset: Moodle skips a row whose grade was changed after that time (a TA's manual edit
    survives), which writing "now" would defeat. The participant id is the download's
    per-assignment ``uniqueid`` (never a roster's user id, which would grade someone else).
    """
    if lang not in MOODLE_HEADERS:
        raise GraderError(f"--moodle-language {lang}: known languages are {', '.join(MOODLE_HEADERS)}; "
                          "use the language your Moodle site's worksheet headers are in")
    words = MOODLE_HEADERS[lang]
    fallback = (now or datetime.now().astimezone()).isoformat(timespec="seconds")
    buffer, skipped = io.StringIO(), []
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([words[k] for k in ("recordid", "fullname", "email", "status", "grade", "maxgrade",
                                        "gradecanbechanged", "lastmodifiedsubmission", "lastmodifiedgrade", "feedback")])
    for row in rows:
        if not row.get("moodle_participant"):
            skipped.append(row["student"])
            continue
        missing = row["status"] == "missing"
        writer.writerow([f"{words['hiddenuser']} {row['moodle_participant']}", csv_text(row.get("name", "")),
                         csv_text(row.get("email", "")),
                         words["nosubmission"] if missing else words["submitted"],
                         "" if missing else _number(_lms_score(row)), _number(_lms_max(row)),
                         words["yes"], "-", _iso(row.get("graded_at")) or fallback, csv_text(comment_for(row))])
    return buffer.getvalue(), skipped


def _iso(stamp: str | None) -> str:
    """An ISO 8601 time with its offset (strtotime reads it the same in every server zone)."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return ""
    return (moment if moment.tzinfo else moment.astimezone()).isoformat(timespec="seconds")


def _lms_score(row: dict) -> float:
    return float(row["lms_score"]) if row.get("lms_score") not in (None, "") else float(row["final_score"])


def _lms_max(row: dict) -> float:
    return float(row["lms_max"]) if row.get("lms_max") not in (None, "") else float(row.get("max_score") or 0)


def plain_csv(rows: list[dict]) -> str:
    columns = ["student", "name", "canvas_user_id", "moodle_participant", "gradescope_submission", "sid", "email",
               "score", "max_score", "days_late", "penalty_percent", "final_score", "status", "reason"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _number(v) if isinstance(v, float) else v if isinstance(v, int) else csv_text(v)
                         for k, v in row.items()})
    return buffer.getvalue()


def comment_for(row: dict) -> str:
    """The one-line comment an LMS shows next to the grade."""
    text = f"Autograder: {_number(float(row['score'] or 0))}/{_number(float(row['max_score'] or 0))}"
    if row.get("penalty_percent"):
        text += f", late {row['days_late']} day(s): -{_number(row['penalty_percent'])}%"
    if row.get("lms_max") not in (None, "") and float(row["lms_max"]) != float(row.get("max_score") or 0):
        text += f" (= {_number(_lms_score(row))}/{_number(_lms_max(row))})"
    if row.get("reason"):
        text += f". {row['reason']}"
    return text



