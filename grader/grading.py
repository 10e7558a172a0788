"""The public entry points: grade submissions into validated result dicts."""
from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from typing import Union
from pathlib import Path

from grader.assignment import Assignment, find_repo_root, list_assignments, load_assignment
from grader.errors import GraderError, SubmissionError
from grader.hints.book import AnswerBook, shipped_book
from grader.hints.record import kit_book
from grader.i18n import choose_language
from grader.results import build_result, now, validate
from grader.review import review_reasons
from grader.runner import Session, workers_runtime
from grader.submission import PackageShape, Submission, load_submission, load_upload

Loaded = Union[Submission, SubmissionError]


def load_or_error(path: Path, assignment: Assignment) -> Loaded:
    """A submission, or the SubmissionError that says why it cannot be graded (scores 0)."""
    return contained(lambda: load_submission(path, assignment.template_name, assignment.package), str(path))


def upload_or_error(name: str, data: bytes, assignment: Assignment) -> Loaded:
    """An uploaded file's submission (``grader serve``), or the SubmissionError that says why not."""
    return contained(lambda: load_upload(name, data, assignment.template_name, assignment.package), name)


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


def assignment_for(path: Path, repo_root: Path | None = None) -> Assignment:
    """The kit's only assignment, or the one ``path`` is plainly for: named like its template (or its
    package), else defining more of the names only its reference defines than of any other's.

    A package is for each stage whose package it has the shape of (the book's stages 2-5 all use
    ``dezero``): of those, the one whose modules it holds all of, and the most of them (a stage-2
    package holds core_simple.py only; the book's complete package holds every stage's modules and
    so goes to the last stage; an instructor grading it as an earlier stage says so with -a).

    When that is a tie, the instructor chooses with -a rather than a student being graded
    against the wrong tests.
    """
    folders = list_assignments(repo_root or find_repo_root())
    if len(folders) <= 1:
        return load_assignment(None, repo_root)
    assignments = [load_assignment(str(folder)) for folder in folders]
    loaded = {a.id: load_or_error(path, a) for a in assignments}
    named = _most_complete((a, loaded[a.id]) for a in assignments if _named_for(_submission_or_none(loaded[a.id]), a))
    if len(named) == 1:
        return named[0]
    own = _distinctive_names(assignments)
    coverage = {a.id: len(own[a.id] & _defined_names(_submission_or_none(loaded[a.id]))) / max(1, len(own[a.id]))
                for a in assignments}
    best = max(coverage.values())
    winners = [a for a in assignments if coverage[a.id] == best]
    if best > 0 and len(winners) == 1:
        return winners[0]
    ids = ", ".join(assignment.id for assignment in assignments)
    problems = [error for error in loaded.values() if isinstance(error, SubmissionError)]
    if len(problems) == len(loaded):  # nothing to go by: what is wrong with the file comes first
        raise GraderError(f"{problems[0]} (then choose its assignment with -a: {ids})")
    raise GraderError(f"{path}: cannot tell which assignment it is for; choose one with -a ({ids})")


def _most_complete(named: Iterable[tuple[Assignment, Submission]]) -> list[Assignment]:
    """The package-shaped matches holding every module their assignment lists, the most modules first;
    files named like a template stay as they are."""
    named = list(named)
    packages = [(a, s) for a, s in named if s.package is not None]
    if len(packages) < 2:
        return [a for a, _ in named]
    complete = [(len(s.package["modules"]), a) for a, s in packages if _holds_every_module(s.package)]
    if not complete:
        return [a for a, _ in named]
    most = max(count for count, _ in complete)
    return [a for count, a in complete if count == most]


def _holds_every_module(package: dict) -> bool:
    shape = PackageShape(package["name"], tuple(package["modules"]))
    return all(shape.module_file(module) in package["files"] for module in shape.modules)


def _submission_or_none(loaded: Loaded) -> Submission | None:
    return loaded if isinstance(loaded, Submission) else None


def _named_for(submission: Submission | None, assignment: Assignment) -> bool:
    if submission is None:
        return False
    stem = Path(submission.chosen).stem
    return submission.package is not None or stem == assignment.template_name \
        or stem.endswith("_" + assignment.template_name)


_TOP_LEVEL = re.compile(r"^(?:def|class)\s+(\w+)", re.M)


def _defined_names(submission: Submission | None) -> set[str]:
    """Top-level def/class names, read as text: a file that does not parse still shows them."""
    if submission is None:
        return set()
    return {name for cell in submission.cells for name in _TOP_LEVEL.findall(cell)}


def _distinctive_names(assignments: list[Assignment]) -> dict[str, set[str]]:
    defined = {a.id: set(_TOP_LEVEL.findall(a.reference.read_text(encoding="utf-8"))) if a.reference else set()
               for a in assignments}
    return {a.id: defined[a.id] - set().union(*(names for other, names in defined.items() if other != a.id))
            for a in assignments}


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
        result["extra_data"]["review"] = (review_reasons(_sources(submission), session.lang, run.untagged_replies,
                                                         run.signs, _source_names(submission))
                                          if isinstance(submission, Submission) else [])
        validate(result)
        results.append(result)
    return results


def _sources(submission: Submission) -> list[str]:
    """Every source the worker runs: a package's files too, not only its graded module."""
    return list(submission.package["files"].values()) if submission.package else submission.cells


def _source_names(submission: Submission) -> list[str] | None:
    """A package's file names, in the order of ``_sources`` (a review place names the file); None otherwise."""
    return list(submission.package["files"]) if submission.package else None


def open_session(assignment: Assignment, hide: list[str], *, insecure: bool = False, slot: int = 0,
                 public_only: bool = False, lang: str | None = None, compute_ahead: bool = True,
                 book: AnswerBook | None = None) -> Session:
    """A grading session; ``book``: the known bugs' answers for hints (default: ``answer_book``)."""
    workers_runtime(assignment)  # a workers' Python that cannot be used is one line, before bugs are recorded
    return Session(assignment, hide=hide, secure=not insecure, slot=slot, public_only=public_only,
                   lang=choose_language(lang, assignment.language), compute_ahead=compute_ahead,
                   book=answer_book(assignment) if book is None else book)


def answer_book(assignment: Assignment) -> AnswerBook:
    """The known bugs' answers: the one a handout ships, or the kit's (cached, or recorded once)."""
    return shipped_book(assignment.root) if assignment.reference is None else kit_book(assignment)


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
