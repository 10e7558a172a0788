"""Known submissions that prove the tests: ``variants/correct`` must score full marks, each file in
``variants/buggy`` must fail exactly the tests it declares.

A buggy variant declares its failing tests in a header comment, one or more lines like::

    # expect-fail: test_some_function, test_other_function[case_id]

or, for a notebook (or any file), in ``<stem>.toml`` beside it: ``expect_fail = ["test_x", ...]``.
A name without ``[case]`` means every case of that test function; a ``test_x[case]`` id means that
case only.

A buggy variant also names its bug for students, in every feedback language, in header lines::

    # hint(en): Square.backward seems to ignore gy: multiply by it
    # hint(ko): Square.backward가 gy를 곱하지 않는 것 같습니다

(or ``[hint] en = ... ko = ...`` in ``<stem>.toml``). When a student's answers to a failed test are
the ones this variant gives, feedback shows that hint (``grader/hints.py``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from grader.compat import tomllib
from grader.errors import GraderError
from grader.submission import GRADABLE

_HEADER = re.compile(r"^#\s*expect-fail\s*:(.*)$")
_HINT = re.compile(r"^#\s*hint\((\w+)\)\s*:\s*(.+)$")
HINT_LANGUAGES = ("en", "ko")
_HEADER_LINES = 40  # the declaration belongs at the top, where a reader looks for it
_NAME = re.compile(r"^test_\w+(\[[^\]\s]+\])?$")


@dataclass(frozen=True)
class Variant:
    path: Path
    kind: str                       # "correct" or "buggy"
    expect_fail: tuple[str, ...]    # test function names or case ids; empty for correct ones
    hints: tuple[tuple[str, str], ...] = ()  # (language, text): what feedback says when a student matches it

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.path.name}"


def find_variants(root: Path) -> list[Variant]:
    """Every gradable file under ``root/variants/{correct,buggy}``, sorted; GraderError on a bad declaration."""
    found = []
    for kind in ("correct", "buggy"):
        folder = root / "variants" / kind
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in GRADABLE):
            declared = tuple(declared_failures(path)) if kind == "buggy" else ()
            if kind == "buggy" and not declared:
                raise GraderError(f"{path}: declares no failing tests; add a '# expect-fail: test_name, ...' "
                                  f"line at the top or expect_fail = [...] in {path.stem}.toml")
            hints = tuple(sorted(declared_hints(path).items())) if kind == "buggy" else ()
            found.append(Variant(path, kind, declared, hints))
    return found


def declared_failures(path: Path) -> list[str]:
    """The test names a buggy variant declares it fails: header lines, then ``<stem>.toml``."""
    names = []
    if path.suffix.lower() == ".py":
        for line in path.read_text(encoding="utf-8").splitlines()[:_HEADER_LINES]:
            match = _HEADER.match(line.strip())
            if match:
                names += [n.strip() for n in match.group(1).split(",") if n.strip()]
    beside = path.with_suffix(".toml")
    if beside.is_file():
        try:
            listed = tomllib.loads(beside.read_text(encoding="utf-8")).get("expect_fail", [])
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise GraderError(f"{beside}: not readable TOML ({exc}); fix the file") from None
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise GraderError(f"{beside}: expect_fail must be a list of test names")
        names += [n.strip() for n in listed]
    for name in names:
        if not _NAME.match(name):
            raise GraderError(f"{path}: '{name}' is not a test name; write test_function or test_function[case]")
    return list(dict.fromkeys(names))


def declared_hints(path: Path) -> dict[str, str]:
    """language -> the hint a buggy variant gives students: header lines, then ``[hint]`` in ``<stem>.toml``."""
    hints: dict[str, str] = {}
    if path.suffix.lower() == ".py":
        for line in path.read_text(encoding="utf-8").splitlines()[:_HEADER_LINES]:
            match = _HINT.match(line.strip())
            if match:
                hints[match.group(1)] = match.group(2).strip()
    beside = path.with_suffix(".toml")
    if beside.is_file():
        try:
            table = tomllib.loads(beside.read_text(encoding="utf-8")).get("hint", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise GraderError(f"{beside}: not readable TOML ({exc}); fix the file") from None
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise GraderError(f"{beside}: [hint] must map languages to texts")
        hints.update(table)
    unknown = sorted(set(hints) - set(HINT_LANGUAGES))
    if unknown:
        raise GraderError(f"{path}: hint for unknown language {unknown[0]}; use one of {', '.join(HINT_LANGUAGES)}")
    return hints


def matches(declared: str, test_id: str) -> bool:
    return declared == test_id or ("[" not in declared and test_id.split("[", 1)[0] == declared)


def variant_problems(variant: Variant, result: dict) -> list[str]:
    """One line per way ``result`` differs from what the variant promises."""
    tests = {t["tags"][-1]: t for t in result["tests"]}
    failed = {name for name, t in tests.items() if t["status"] != "passed"}
    if variant.kind == "correct":
        if result["score"] == result["max_score"] and not failed:
            return []
        error = result["extra_data"].get("error")
        detail = error or "; ".join(f"{name}: {_first_line(tests[name]['output'])}" for name in sorted(failed))
        return [f"variant {variant.label} scores {result['score']:g}/{result['max_score']:g}, not full marks: {detail}"]
    problems = [f"variant {variant.label} has no hint in {lang}; add a '# hint({lang}): <what the bug looks like "
                "to a student>' line at the top" for lang in HINT_LANGUAGES if lang not in dict(variant.hints)]
    expected = {name for name in tests if any(matches(d, name) for d in variant.expect_fail)}
    for declared in variant.expect_fail:
        if not any(matches(declared, name) for name in tests):
            problems.append(f"variant {variant.label} declares '{declared}', which matches no test")
    for name in sorted(expected - failed):
        problems.append(f"variant {variant.label} passes {name}, which it declares it fails")
    for name in sorted(failed - expected):
        problems.append(f"variant {variant.label} fails undeclared {name}: {_first_line(tests[name]['output'])}")
    return problems


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0][:160] if lines else ""
