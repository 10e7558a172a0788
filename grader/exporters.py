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


def apply_late_policy(rows: list[dict], assignment: Assignment) -> list[dict]:
    """Add ``days_late``, ``penalty_percent`` and ``final_score`` to each row.

    Days late come from the submission time and the due date when both are known; a bare late
    marker (Canvas ``LATE``) with no time counts as one day.
    """
    policy = assignment.late_policy
    out = []
    for row in rows:
        row = dict(row)
        days = _days_late(row, assignment) if policy else 0
        penalty = min(policy["max_percent"], policy["percent_per_day"] * days) if policy else 0.0
        score = float(row.get("score") or 0)
        row.update(days_late=days, penalty_percent=penalty, final_score=round(score * (1 - penalty / 100), 4))
        out.append(row)
    return out


def _days_late(row: dict, assignment: Assignment) -> int:
    grace = timedelta(hours=assignment.late_policy["grace_hours"])
    if row.get("submitted_at") and assignment.due:
        try:
            submitted = datetime.fromisoformat(str(row["submitted_at"]).replace(" +", "+"))
        except ValueError:
            submitted = None
        if submitted is not None:
            late_by = submitted - assignment.due - grace
            return max(0, math.ceil(late_by / timedelta(days=1)))
    return 1 if row.get("late") == "yes" else 0


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
    max_score = next((r["max_score"] for r in rows if r.get("max_score") not in ("", None)), "")
    writer.writerow(["    Points Possible", "", "", "", "", _number(float(max_score)) if max_score != "" else ""])
    for row in rows:
        if not row.get("canvas_user_id"):
            skipped.append(row["student"])
            continue
        grade = "" if row["status"] == "missing" else _number(row["final_score"])
        writer.writerow([csv_text(row.get("name", "")), csv_text(row["canvas_user_id"]), csv_text(row.get("sid", "")),
                         csv_text(row.get("email", "")), "", grade])
    return buffer.getvalue(), skipped


def moodle_csv(rows: list[dict], assignment: Assignment, now: datetime | None = None) -> tuple[str, list[str]]:
    """Offline grading worksheet; 'Last modified (grade)' is now, so Moodle takes the new grades."""
    # Local time, as Moodle writes it: run the export where the clock's zone matches Moodle's.
    stamp = _moodle_date(now or datetime.now().astimezone())
    buffer, skipped = io.StringIO(), []
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade",
                     "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments"])
    for row in rows:
        if not row.get("moodle_participant"):
            skipped.append(row["student"])
            continue
        missing = row["status"] == "missing"
        writer.writerow([f"Participant {row['moodle_participant']}", csv_text(row.get("name", "")),
                         csv_text(row.get("email", "")),
                         "No submission" if missing else "Submitted for grading",
                         "" if missing else _number(row["final_score"]), _number(float(row["max_score"] or 0)),
                         "Yes", "-", stamp, csv_text(comment_for(row))])
    return buffer.getvalue(), skipped


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
    if row.get("reason"):
        text += f". {row['reason']}"
    return text


def _moodle_date(moment: datetime) -> str:
    # Moodle parses this with strtotime(); this is the English userdate() form it writes itself.
    return moment.strftime("%A, %d %B %Y, %I:%M %p").replace(" 0", " ")
