"""The answer book: the known bugs' wrong answers, and matching a graded submission against them.

A *trace* is what one test got from a submission: each probe call the test made (its key) and
the answer, in order, up to the check that failed. Known bugs that give the same wrong answers on
every test they fail form one *group* (one fingerprint); a group's hint is the one its bugs agree
on, if they agree on one.

Matching a submission (``hints_for``), when tests failed on a wrong answer (not an exception):

1. The whole submission: the one group whose traces are the submission's on every test it failed
   with a wrong answer, and which fails no other test with one. The submission behaves exactly like
   that known bug: its hint shows on each of those tests (nothing, if the group has no hint).
2. Otherwise, test by test (a student with two bugs): the groups whose trace for that test is the
   submission's; their hint if all of them have one and it is the same.

A hint is fixed text, so a hidden test shows it without its inputs. The book is plain data (JSON):
the kit caches it per assignment version (``grader.hints.record``); a handout ships the public
tests' part of it, with the hints written in (``RECORDED_NAME``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from grader import wire

RECORDED_NAME = "known_bugs.json"  # the shipped book: a handout's (public tests) or an autograder zip's
FORMAT = 1
WRONG, PASSED, ERROR = "wrong", "passed", "error"  # how a test ended, as recorded per test

Hint = Dict[str, str]               # language -> text
Answers = List[Tuple[str, Any]]     # (probe key, decoded answer), in the order the test asked


class _Trace:
    """One distinct wrong trace of one test, and the groups that give it; decoded when first compared."""

    __slots__ = ("groups", "encoded", "keys", "_answers")

    def __init__(self, groups: List[int], encoded: list) -> None:
        self.groups, self.encoded = tuple(groups), encoded
        self.keys = tuple(key for key, _ in encoded)
        self._answers: Optional[list] = None

    def matches(self, keys: tuple, answers: Answers) -> bool:
        if keys != self.keys:
            return False
        if self._answers is None:
            self._answers = [wire.decode_value(value) for _, value in self.encoded]
        # The last answer is the one whose check failed: the one most likely to differ.
        return all(same(want, got) for want, (_, got) in zip(reversed(self._answers), reversed(answers)))


class AnswerBook:
    """Per test, the distinct wrong traces of the known bugs; per group, its hint."""

    def __init__(self, groups: List[dict], tests: Dict[str, dict], key: str = "") -> None:
        self.key = key
        self.groups = groups  # [{"members": [bug names]}] (the kit's cache) or [{"hint": Hint | None}] (shipped)
        self.hints: List[Optional[Hint]] = [group.get("hint") for group in groups]
        self.tests = tests    # case id -> {"hidden": bool, "traces": [{"groups": [...], "answers": [[key, wire]]}]}
        self._traces = {case: [_Trace(t["groups"], t["answers"]) for t in entry["traces"]]
                        for case, entry in tests.items()}
        self._wrong_tests = [0] * len(groups)  # how many tests each group fails with a wrong answer
        for traces in self._traces.values():
            for trace in traces:
                for group in trace.groups:
                    self._wrong_tests[group] += 1

    @classmethod
    def empty(cls) -> "AnswerBook":
        return cls([], {})

    @classmethod
    def from_data(cls, data: Any) -> "AnswerBook":
        """A book read from JSON; ValueError if it is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an answer book of this grader's format")
        groups, tests = data.get("groups"), data.get("tests")
        if not isinstance(groups, list) or not isinstance(tests, dict):
            raise ValueError("an answer book needs groups and tests")
        try:
            return cls(groups, tests, str(data.get("key", "")))
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"malformed answer book ({type(exc).__name__})") from None

    def to_data(self, public_only: bool = False, shipped: bool = False) -> dict:
        """The JSON form. ``shipped``: each group's hint written in, and no member names (a mutant's
        name quotes the reference); ``public_only``: the public tests only (a handout)."""
        tests = {case: entry for case, entry in self.tests.items() if not (public_only and entry["hidden"])}
        kept = sorted({group for entry in tests.values() for trace in entry["traces"] for group in trace["groups"]})
        number = {group: new for new, group in enumerate(kept)}  # the groups the kept tests still name
        tests = {case: {"hidden": entry["hidden"], "traces": [
                    {"groups": [number[group] for group in trace["groups"]], "answers": trace["answers"]}
                    for trace in entry["traces"]]} for case, entry in tests.items()}
        groups = [{"hint": self.hints[group]} if shipped else self.groups[group] for group in kept]
        return {"format": FORMAT, "key": self.key, "groups": groups, "tests": tests}

    def with_hints(self, hints: List[Optional[Hint]]) -> "AnswerBook":
        """This book with each group's hint set (the kit resolves them from its catalogue)."""
        book = AnswerBook(self.groups, self.tests, self.key)
        book.hints = list(hints)
        return book

    def public_part(self) -> "AnswerBook":
        """The public tests only, for a session that runs only those: a bug's fingerprint is then what
        the public tests see of it."""
        book = AnswerBook(self.groups, {case: entry for case, entry in self.tests.items() if not entry["hidden"]},
                          self.key)
        book.hints = self.hints
        return book

    def matching_groups(self, case: str, answers: Answers) -> set:
        """The groups whose trace for ``case`` is ``answers``."""
        keys = tuple(key for key, _ in answers)
        return {group for trace in self._traces.get(case, ()) if trace.matches(keys, answers)
                for group in trace.groups}

    def hints_for(self, tests: Dict[str, Tuple[str, Answers]]) -> Dict[str, Hint]:
        """case id -> the hint to show, for a submission's tests (case -> (how it ended, its answers))."""
        wrong = {case: answers for case, (ended, answers) in tests.items() if ended == WRONG and answers}
        if not wrong or not self._traces:
            return {}
        matched = {case: self.matching_groups(case, answers) for case, answers in wrong.items()}
        common = set.intersection(*matched.values())
        whole = [group for group in common if self._wrong_tests[group] == len(wrong)]
        if len(whole) == 1:
            hint = self.hints[whole[0]]
            return {case: hint for case in wrong} if hint else {}
        shown = {}
        for case, groups in matched.items():
            hints = [self.hints[group] for group in groups]
            if hints and all(hint is not None and hint == hints[0] for hint in hints):
                shown[case] = hints[0]
        return shown


def shipped_book(folder: Path) -> AnswerBook:
    """The book shipped beside an assignment's config (``RECORDED_NAME``), or an empty one."""
    path = Path(folder) / RECORDED_NAME
    if not path.is_file():
        return AnswerBook.empty()
    try:
        return AnswerBook.from_data(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return AnswerBook.empty()  # an unreadable book costs the hints, never the grading


def hint_text(hint: Hint, lang: str) -> str:
    return hint.get(lang) or hint.get("en") or next(iter(hint.values()), "")


def same(want: Any, got: Any) -> bool:
    """Equal plain data, arrays compared like ``check_array`` compares values (shape and dtype too)."""
    if isinstance(want, np.ndarray) or isinstance(got, np.ndarray):
        if not (isinstance(want, np.ndarray) and isinstance(got, np.ndarray)):
            return False
        if want.shape != got.shape or want.dtype != got.dtype:
            return False
        if want.tobytes() == got.tobytes():
            return True  # most answers that agree agree to the bit: skip the tolerance
        try:
            return bool(np.allclose(got, want, rtol=1e-6, atol=1e-8, equal_nan=True))
        except TypeError:
            return False
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(same(want[k], got[k]) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(same(w, g) for w, g in zip(want, got))
    if isinstance(want, float) and isinstance(got, float):
        return bool(np.isclose(got, want, rtol=1e-6, atol=1e-8, equal_nan=True))
    return type(want) is type(got) and want == got
