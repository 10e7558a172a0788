"""The public entry points: grade submissions into validated result dicts."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from grader.assignment import Assignment
from grader.errors import GraderError, SubmissionError
from grader.i18n import choose_language
from grader.results import build_result, now, validate
from grader.review import review_reasons
from grader.runner import Session
from grader.submission import Submission, load_submission

Loaded = Submission | SubmissionError


def load_or_error(path: Path, assignment: Assignment) -> Loaded:
    """A submission, or the SubmissionError that says why it cannot be graded (scores 0)."""
    return contained(lambda: load_submission(path, assignment.template_name), str(path))


def contained(load: Callable[[], Submission], label: str) -> Loaded:
    """Run ``load``; any failure on a student's bytes becomes that student's SubmissionError.

    Expected problems already are SubmissionErrors; anything else (a parser's RecursionError,
    zlib.error, a library bug triggered by a crafted file) must not stop a class either, so it
    is reported as "could not read" with the exception's type, and logged for the instructor.
    GraderError (the instructor's path or permissions) still stops, as it should.
    """
    try:
        return load()
    except SubmissionError as error:
        return error
    except GraderError:
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        print(f"grader: {label}: unexpected {type(exc).__name__} while reading; recorded as an error row",
              file=sys.stderr)
        return SubmissionError("unreadable", file=label, problem=type(exc).__name__)


def grade_loaded(assignment: Assignment, submissions: list[tuple[str, Loaded]], session: Session,
                 *, insecure: bool = False) -> list[dict]:
    """Grade ``(label, submission)`` pairs in one pytest session; one validated result each."""
    started = now()
    runs = session.run([submission for _, submission in submissions])
    fingerprint = assignment.fingerprint()
    results = []
    for (label, submission), run in zip(submissions, runs):
        result = build_result(assignment, run, label=label, started_at=started, insecure=insecure,
                              assignment_hash=fingerprint, lang=session.lang)
        # Signs of reaching for the grader rather than solving the assignment: shown, never scored.
        result["extra_data"]["review"] = (review_reasons(submission.cells, session.lang, run.untagged_replies)
                                          if isinstance(submission, Submission) else [])
        validate(result)
        results.append(result)
    return results


def open_session(assignment: Assignment, hide: list[str], *, insecure: bool = False, slot: int = 0,
                 public_only: bool = False, lang: str | None = None, compute_ahead: bool = True) -> Session:
    return Session(assignment, hide=hide, secure=not insecure, slot=slot, public_only=public_only,
                   lang=choose_language(lang, assignment.language), compute_ahead=compute_ahead)


def grade_files(assignment: Assignment, paths: list[Path], *, insecure: bool = False,
                public_only: bool = False, session: Session | None = None, lang: str | None = None) -> list[dict]:
    """Grade each path with the assignment's tests; one validated result dict per path."""
    submissions = [(str(p), load_or_error(Path(p), assignment)) for p in paths]
    own = session is None
    session = session or open_session(assignment, [str(Path(p).resolve().parent) for p in paths],
                                      insecure=insecure, public_only=public_only, lang=lang)
    try:
        return grade_loaded(assignment, submissions, session, insecure=insecure)
    finally:
        if own:
            session.close()
