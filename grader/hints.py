"""Feedback that names the bug: a wrong answer compared with the answers of the known buggy variants.

Three different bugs used to print the same "x.grad has the wrong values". The assignment's
``variants/buggy/*.py`` are trusted code, each one classic mistake with a hint in every language
(``grader.variants``). When a test fails, the answers the student's code gave to that test's
probes are compared with what each variant answers to the same probe calls; if one variant gives
exactly those answers, its hint is shown. The hint is fixed text, so a hidden test can use it too
without showing its inputs.

In the instructor's kit the variants run here, in the grading process, like the reference, once
per probe call (cached). A handout has no variant source: it carries their recorded answers to
the public tests' probe calls (``known_bugs.json``), written by ``grader handout``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from grader import wire
from grader.binding import load_probes
from grader.handles import load_module, probe_key
from grader.variants import find_variants

RECORDED_NAME = "known_bugs.json"
_FAILED = object()  # the variant raised on this probe call: it matches nothing


class KnownBug:
    """One buggy variant: its hints, and its answers (computed on demand, or recorded)."""

    def __init__(self, name: str, hints: dict[str, str], path: Path | None, probes: dict,
                 recorded: dict[str, str] | None = None) -> None:
        self.name, self.hints, self._path, self._probes = name, hints, path, probes
        self._module = None
        self._recorded = dict(recorded or {})
        self._answers: dict[str, Any] = {}

    def answer(self, key: str, name: str, args: dict) -> Any:
        if key not in self._answers:
            self._answers[key] = self._compute(key, name, args)
        return self._answers[key]

    def recorded(self, calls: dict[str, tuple[str, dict]]) -> dict[str, str]:
        """This variant's answers to ``calls`` in wire form; a call it fails on is left out."""
        out = {}
        for key, (name, args) in calls.items():
            value = self.answer(key, name, args)
            if value is not _FAILED:
                out[key] = json.dumps(wire.encode_value(value))
        return out

    def _compute(self, key: str, name: str, args: dict) -> Any:
        if key in self._recorded:
            return wire.decode_value(json.loads(self._recorded[key]))
        if self._path is None or name not in self._probes:
            return _FAILED
        limit = sys.getrecursionlimit()  # a variant may raise it at import (a "fix" found online)
        try:
            if self._module is None:
                self._module = load_module(self._path, f"grader_known_bug_{self.name}")
            sys.setrecursionlimit(limit)
            # Through the wire form, as a student's answer is: both are compared in the same form.
            return wire.decode_value(wire.encode_value(self._probes[name](self._module, **wire.copy_value(args))))
        except Exception:  # noqa: BLE001 - a buggy variant failing on a call is expected, and matches nothing
            return _FAILED
        finally:
            sys.setrecursionlimit(limit)


class KnownBugs:
    """The assignment's buggy variants, asked which of them a failed test's answers look like."""

    def __init__(self, bugs: list[KnownBug]) -> None:
        self.bugs = bugs

    @classmethod
    def for_assignment(cls, assignment) -> "KnownBugs":
        probes = load_probes(assignment.probes, "grader_probes_known_bugs").functions
        recorded_path = assignment.root / RECORDED_NAME
        if assignment.reference is None:  # a handout: recorded answers only
            if not recorded_path.is_file():
                return cls([])
            data = json.loads(recorded_path.read_text(encoding="utf-8"))
            return cls([KnownBug(name, dict(entry["hints"]), None, probes, entry["answers"])
                        for name, entry in sorted(data.items())])
        return cls([KnownBug(v.path.stem, dict(v.hints), v.path, probes)
                    for v in find_variants(assignment.root) if v.kind == "buggy"])

    def match(self, answers: list[tuple[str, dict, Any]]) -> KnownBug | None:
        """The one variant whose answers to these ``(probe, args, answer)`` calls are the student's, if any."""
        if not answers or not self.bugs:
            return None
        found = [bug for bug in self.bugs
                 if all(same(bug.answer(probe_key(name, args), name, args), got) for name, args, got in answers)]
        return found[0] if len(found) == 1 else None

    def record(self, calls: dict[str, tuple[str, dict]]) -> dict:
        """What a handout carries: each variant's hints and its answers to ``calls`` (public probes only)."""
        return {bug.name: {"hints": bug.hints, "answers": bug.recorded(calls)} for bug in self.bugs}


def hint_text(bug: KnownBug, lang: str) -> str:
    return bug.hints.get(lang) or bug.hints.get("en") or next(iter(bug.hints.values()), "")


def same(want: Any, got: Any) -> bool:
    """Equal plain data, arrays compared like ``check_array`` compares values (shape and dtype too)."""
    if want is _FAILED:
        return False
    if isinstance(want, np.ndarray) or isinstance(got, np.ndarray):
        if not (isinstance(want, np.ndarray) and isinstance(got, np.ndarray)):
            return False
        if want.shape != got.shape or want.dtype != got.dtype:
            return False
        try:
            return bool(np.allclose(got, want, rtol=1e-6, atol=1e-8, equal_nan=True))
        except TypeError:
            return bool(np.array_equal(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(same(want[k], got[k]) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(same(w, g) for w, g in zip(want, got))
    if isinstance(want, float) and isinstance(got, float):
        return bool(np.isclose(got, want, rtol=1e-6, atol=1e-8, equal_nan=True))
    return type(want) is type(got) and want == got
