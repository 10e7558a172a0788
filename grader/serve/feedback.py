"""What a student may see of a result: the assignment's feedback policy, applied to one results.json.

Each test carries Gradescope's ``visibility`` (``assignment.toml [visibility]``): ``visible`` tests are
shown at once; ``after_due_date`` ones once the due date has passed or the instructor released them;
``after_published`` ones only when released; ``hidden`` ones never (instructors see everything). While any
test is withheld, so is the total (it would tell the hidden tests' score), as on Gradescope.

A student's view also leaves out what is for instructors only: review flags, the worker's events (their
timings belong to hidden tests too) and the sandbox's layers.
"""
from __future__ import annotations

from datetime import datetime, timezone

STUDENT_EXTRA = ("status", "submission", "chosen_file", "submission_sha256", "assignment_id", "assignment_version",
                 "language", "error", "started_at", "finished_at", "submitted_at", "submission_id", "late")


def visible_now(visibility: str, due_passed: bool, released: bool) -> bool:
    if visibility == "visible":
        return True
    if visibility == "after_due_date":
        return due_passed or released
    if visibility == "after_published":
        return released
    return False  # "hidden", or anything unknown


def student_view(result: dict, *, due: datetime | None, released: bool, now: datetime | None = None) -> dict:
    """The result as this student may see it: a results.json with only the tests they may see, and
    ``extra_data.withheld`` saying how many tests (and points) are still to come, and when."""
    now = now or datetime.now(timezone.utc)
    due_passed = due is not None and now >= due
    shown = [t for t in result["tests"] if visible_now(t.get("visibility", "visible"), due_passed, released)]
    withheld = [t for t in result["tests"] if t not in shown]
    notes = result.get("output", "").splitlines()[1:]  # the first line is the total, the hidden tests' too
    view = {
        "score": round(sum(t["score"] for t in shown), 6), "max_score": round(sum(t["max_score"] for t in shown), 6),
        "output": "\n".join(notes), "output_format": "text", "tests": shown,
        "extra_data": {key: result["extra_data"][key] for key in STUDENT_EXTRA if key in result["extra_data"]},
    }
    if withheld:
        kinds = {t.get("visibility") for t in withheld}
        when = "after_due_date" if kinds == {"after_due_date"} and due is not None else \
            "never" if kinds == {"hidden"} else "released"
        view["extra_data"]["withheld"] = {"tests": len(withheld),
                                          "points": round(sum(t["max_score"] for t in withheld), 6), "when": when}
    else:
        view["score"], view["max_score"] = result["score"], result["max_score"]
    return view
