"""Score rows for every LMS: late policy, scale to the LMS's maximum, group members, comment, plain CSV.

Every export and upload starts from the batch's score rows (``report.score_rows``) passed
through these, so every LMS receives the same numbers.
"""
from __future__ import annotations

import csv
import io
import math
import re
from datetime import datetime, timedelta

from grader.assignment import Assignment
from grader.report import csv_text

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


def number(value: float) -> str:
    return f"{value:g}"


def iso_time(stamp: str | None) -> str:
    """An ISO 8601 time with its offset (strtotime reads it the same in every server zone)."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return ""
    return (moment if moment.tzinfo else moment.astimezone()).isoformat(timespec="seconds")


def lms_score(row: dict) -> float:
    return float(row["lms_score"]) if row.get("lms_score") not in (None, "") else float(row["final_score"])


def lms_max(row: dict) -> float:
    return float(row["lms_max"]) if row.get("lms_max") not in (None, "") else float(row.get("max_score") or 0)


def plain_csv(rows: list[dict]) -> str:
    columns = ["student", "name", "canvas_user_id", "moodle_participant", "gradescope_submission", "sid", "email",
               "score", "max_score", "days_late", "penalty_percent", "final_score", "status", "reason"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: number(v) if isinstance(v, float) else v if isinstance(v, int) else csv_text(v)
                         for k, v in row.items()})
    return buffer.getvalue()


def comment_for(row: dict) -> str:
    """The one-line comment an LMS shows next to the grade."""
    text = f"Autograder: {number(float(row['score'] or 0))}/{number(float(row['max_score'] or 0))}"
    if row.get("penalty_percent"):
        text += f", late {row['days_late']} day(s): -{number(row['penalty_percent'])}%"
    if row.get("lms_max") not in (None, "") and float(row["lms_max"]) != float(row.get("max_score") or 0):
        text += f" (= {number(lms_score(row))}/{number(lms_max(row))})"
    if row.get("reason"):
        text += f". {row['reason']}"
    return text



