"""The known bugs' answers, recorded in the sandbox, and the answer book built from them (the kit only).

Mutants come from the trusted reference, but one may loop forever or fill memory (``while pending``
-> ``while not pending`` is a mutant too). So nothing of a known bug ever runs in the trusted
process: each one is graded exactly like a student's file, through the sandbox with every layer, as
one class in one session, under ``[selftest]``'s tighter deadlines (a mutant that never returns costs
at most ``mutant_submission_seconds``), and what comes back is the validated plain data of its
answers to each test (``Session(record=True)``). Recording there rather than running mutants in
the grading process also reuses every bound the sandbox already proves, and grades each bug with
the very tests and checks students get.

The book depends on everything that decides those answers (config, tests, probes, reference, the
buggy variants, the grader's own grading code) and is cached per assignment version under a key of
all of them (``cache_folder``): ``grader selftest`` writes it, since it grades every mutant anyway,
and a grading command that finds none records it once. The hints themselves are not in the key:
they are looked up when the book is loaded, so editing ``hints.toml`` costs nothing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grader
from grader import wire
from grader.assignment import Assignment
from grader.errors import SubmissionError
from grader.hints.book import FORMAT, RECORDED_NAME, WRONG, AnswerBook, Hint, same
from grader.hints.catalogue import KnownBug, bug_hints, known_bugs
from grader.results import write_json_atomic
from grader.runner import Session
from grader.submission import Submission, load_submission, select
from grader.variants import find_variants

CHUNK = 50  # submissions per pytest session, as grader batch does
# The grader's own modules that decide what a known bug answers and whether a check fails: a change
# to any of them makes every recorded book stale.
_ANSWERING_MODULES = ("mutants.py", "checks.py", "handles.py", "plugin.py", "wire.py", "replies.py",
                      "submission.py", "sandbox/child.py", "hints/book.py", "hints/record.py")
REFERENCE = "reference"  # the name the reference's own recording goes by


@dataclass
class Recording:
    """One graded known bug (or the reference): did it lose a point, and what each test got."""

    killed: bool
    tests: dict[str, tuple[str, bool, list[tuple[str, Any]]]] = field(default_factory=dict)
    # case id -> (how it ended, hidden, [(probe key, answer)])

    def wrong(self) -> dict[str, list[tuple[str, Any]]]:
        return {case: answers for case, (ended, _, answers) in self.tests.items() if ended == WRONG and answers}


def bug_limits(assignment: Assignment) -> Assignment:
    """The assignment with [selftest]'s tighter deadlines: some mutants loop forever."""
    settings = assignment.selftest
    seconds = min(settings.mutant_submission_seconds, assignment.submission_seconds)
    return dataclasses.replace(
        assignment, test_seconds=min(settings.mutant_test_seconds, assignment.test_seconds),
        submission_seconds=seconds, limits=dataclasses.replace(assignment.limits, cpu_seconds=int(seconds) + 1))


def submission_of(bug: KnownBug, assignment: Assignment) -> Submission | SubmissionError:
    """A known bug as the grader sees a student's file: a mutant as the template's .py."""
    try:
        if bug.path is not None:
            return load_submission(bug.path, assignment.template_name, assignment.package)
        return select({f"{assignment.template_name}.py": (bug.source or "").encode()}, assignment.template_name,
                      bug.name, assignment.package)
    except SubmissionError as error:
        return error


def record(assignment: Assignment, submissions: dict[str, Submission | SubmissionError]) -> dict[str, Recording]:
    """Grade each named submission in the sandbox, as one class, and keep every test's answers."""
    recordings: dict[str, Recording] = {}
    session = Session(bug_limits(assignment), hide=[], record=True)
    try:
        names = list(submissions)
        for start in range(0, len(names), CHUNK):
            chunk = names[start:start + CHUNK]
            for name, run in zip(chunk, session.run([submissions[n] for n in chunk])):
                hidden = {outcome.test: outcome.hidden for outcome in run.outcomes}
                recordings[name] = Recording(
                    killed=not run.outcomes or not all(outcome.passed for outcome in run.outcomes),
                    tests={case: (ended, hidden.get(case, True), answers)
                           for case, (ended, answers) in run.tests.items()})
    finally:
        session.close()
    return recordings


def reference_submission(assignment: Assignment) -> Submission | SubmissionError:
    return submission_of(KnownBug(REFERENCE, None, path=assignment.reference), assignment)


def build_book(recordings: dict[str, Recording], key: str = "") -> AnswerBook:
    """Group the known bugs by their wrong answers, then list each test's distinct wrong traces.

    A trace the reference's own answers equal (within ``same``) is not distinctive and is left out:
    a mutant caught only by a tolerance tighter than the book's has no fingerprint.
    """
    reference = recordings.get(REFERENCE)
    groups: list[tuple[list[str], dict]] = []  # (member names, the first member's wrong traces)
    for name, recording in recordings.items():
        if name == REFERENCE:
            continue
        wrong = {case: answers for case, answers in recording.wrong().items()
                 if reference is None or not _is_prefix_of(answers, reference.tests.get(case))}
        if not wrong:
            continue
        for members, traces in groups:
            if _same_traces(traces, wrong):
                members.append(name)
                break
        else:
            groups.append(([name], wrong))
    hidden = {case: is_hidden for recording in recordings.values()
              for case, (_, is_hidden, _) in recording.tests.items()}
    tests: dict[str, dict] = {}
    for number, (_, traces) in enumerate(groups):
        for case, answers in traces.items():
            entry = tests.setdefault(case, {"hidden": hidden.get(case, True), "traces": []})
            for trace in entry["traces"]:
                if _same_answers(trace["decoded"], answers):
                    trace["groups"].append(number)
                    break
            else:
                entry["traces"].append({"groups": [number], "decoded": answers,
                                        "answers": [[k, wire.encode_value(v)] for k, v in answers]})
    for entry in tests.values():
        for trace in entry["traces"]:
            del trace["decoded"]
    return AnswerBook([{"members": members} for members, _ in groups], tests, key)


def _same_answers(first: list, second: list) -> bool:
    return len(first) == len(second) and all(k1 == k2 and same(v1, v2) for (k1, v1), (k2, v2) in zip(first, second))


def _same_traces(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(_same_answers(first[case], second[case]) for case in first)


def _is_prefix_of(answers: list, reference: tuple | None) -> bool:
    """Whether the reference answered the same calls of that test the same way (a near-miss)."""
    if reference is None:
        return False
    return _same_answers(answers, reference[2][:len(answers)])


def named(book: AnswerBook, hints: dict[str, Hint]) -> tuple[AnswerBook, list[list[str]]]:
    """The book with each group's hint: the one its members' hints agree on. Also the groups whose
    members were given different hints (the tests cannot tell those bugs apart: no hint shows)."""
    resolved, conflicts = [], []
    for group in book.groups:
        if "members" not in group:  # a shipped book: its hints are written in
            resolved.append(group.get("hint"))
            continue
        given = [hints[name] for name in group["members"] if name in hints]
        distinct = [hint for number, hint in enumerate(given) if hint not in given[:number]]
        if len(distinct) > 1:
            conflicts.append([name for name in group["members"] if name in hints])
        resolved.append(distinct[0] if len(distinct) == 1 else None)
    return book.with_hints(resolved), conflicts


# --- the cache ---------------------------------------------------------------------------------

def cache_folder() -> Path:
    """$GRADER_CACHE, else $XDG_CACHE_HOME/dezero-autograder, else ~/.cache/dezero-autograder."""
    if os.environ.get("GRADER_CACHE"):
        return Path(os.environ["GRADER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dezero-autograder"


def book_key(assignment: Assignment) -> str:
    """Everything a known bug's answers depend on; the hints are not part of it."""
    digest = hashlib.sha256(f"answer-book {FORMAT} {grader.__version__} {assignment.fingerprint()}".encode())
    package = Path(grader.__file__).parent
    for name in _ANSWERING_MODULES:
        digest.update(name.encode() + (package / name).read_bytes())
    for variant in find_variants(assignment.root):
        if variant.kind == "buggy":
            digest.update(variant.path.name.encode() + variant.path.read_bytes())
    return digest.hexdigest()


def cache_path(assignment: Assignment, key: str) -> Path:
    return cache_folder() / f"{assignment.id}-{key[:24]}.json"


def save_book(book: AnswerBook, assignment: Assignment) -> None:
    """Keep the book for the next session; a cache that cannot be written only costs a re-recording."""
    try:
        write_json_atomic(cache_path(assignment, book.key), book.to_data())
    except OSError:
        pass


def kit_book(assignment: Assignment) -> AnswerBook:
    """The assignment's answer book, hints resolved: shipped beside it (an autograder zip), cached, or
    recorded now, once per assignment version (every known bug graded in the sandbox)."""
    key = book_key(assignment)
    for path in (assignment.root / RECORDED_NAME, cache_path(assignment, key)):
        book = _read(path)
        if book is not None and book.key == key:
            return named(book, bug_hints(assignment))[0]
    print(f"grader: recording the known bugs' answers of {assignment.id} for hints (once per version of the "
          "assignment; about a minute at most)", file=sys.stderr)
    book = record_book(assignment, key)
    save_book(book, assignment)
    return named(book, bug_hints(assignment))[0]


def record_book(assignment: Assignment, key: str) -> AnswerBook:
    submissions = {REFERENCE: reference_submission(assignment)}
    submissions.update({bug.name: submission_of(bug, assignment) for bug in known_bugs(assignment)})
    return build_book(record(assignment, submissions), key)


def _read(path: Path) -> AnswerBook | None:
    try:
        return AnswerBook.from_data(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
