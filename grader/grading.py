"""The public entry point: grade submission files into result dicts."""
from __future__ import annotations

from pathlib import Path

from grader.assignment import Assignment
from grader.errors import SubmissionError
from grader.results import build_result, now, validate
from grader.runner import Session
from grader.submission import Submission, load_submission


def load_or_error(path: Path, assignment: Assignment) -> Submission | SubmissionError:
    """A submission, or the SubmissionError that says why it cannot be graded (scores 0)."""
    try:
        return load_submission(path, assignment.template_name)
    except SubmissionError as error:
        return error


def grade_files(assignment: Assignment, paths: list[Path], *, insecure: bool = False,
                public_only: bool = False, session: Session | None = None) -> list[dict]:
    """Grade each path with the assignment's tests; one validated result dict per path."""
    started = now()
    submissions = [load_or_error(Path(p), assignment) for p in paths]
    own = session is None
    session = session or Session(assignment, hide=[str(Path(p).resolve().parent) for p in paths],
                                 secure=not insecure, public_only=public_only)
    try:
        runs = session.run(submissions)
    finally:
        if own:
            session.close()
    fingerprint = assignment.fingerprint()
    results = []
    for path, run in zip(paths, runs):
        result = build_result(assignment, run, label=str(path), started_at=started, insecure=insecure,
                              assignment_hash=fingerprint)
        validate(result)
        results.append(result)
    return results
