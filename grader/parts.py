"""Parts of a reference, and the proof that a test depends only on what its title names.

A *part* is the qualified name of a reference function or method holding a ``# BEGIN SOLUTION``
region (``Variable.backward``, ``Function.__call__``, ``numerical_diff``); a class name covers its
methods. A test declares the parts it measures with ``@pytest.mark.needs(...)`` and the other
student-written parts it relies on with ``@pytest.mark.uses(...)``; ``[parts] everywhere`` in
assignment.toml lists the parts every test relies on (``Variable.__init__``).

``grader selftest`` derives, for every part, the reference with only that part's regions as the
template has them (a ``raise NotImplementedError`` stub), and, for each class or function that is
wholly the student's, the reference without it altogether (a file that follows the book's step 10
has ``Square`` but no ``Exp``). Each derived file must lose only tests that declare a removed part,
and at least one test that measures it (``needs``); a declaration no removal ever makes true is
reported too, since a test declaring everything would pass this check while proving nothing.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from grader.mutants import solution_regions
from grader.template import stub_lines

NEEDS, USES = "needs", "uses"  # the pytest markers (registered by grader.plugin)


@dataclass(frozen=True)
class Part:
    name: str                             # "Variable.backward"
    spans: tuple[tuple[int, int], ...]    # 1-based (BEGIN line, END line) of each of its regions


@dataclass(frozen=True)
class Removal:
    """The reference with one part stubbed, or one class or function missing altogether."""

    name: str                 # the part, or the class or function that is missing
    parts: tuple[str, ...]    # every part it takes away
    missing: bool             # True: the definition is gone; False: its regions are the template's stubs
    source: str

    @property
    def label(self) -> str:
        if not self.missing:
            return f"with {self.name} as the template has it"
        naming = [part for part in self.parts if not covers(self.name, part)]
        return f"without {self.name} (missing altogether" + (f"; {', '.join(naming)} names it)" if naming else ")")


def find_parts(source: str) -> tuple[list[Part], list[str]]:
    """The reference's parts in source order, and one line per solution region that lies in no function."""
    tree = ast.parse(source)
    owners = _functions(tree)
    spans: dict[str, list[tuple[int, int]]] = {}
    stray = []
    for first, last in solution_regions(source):
        begin, end = first - 1, last + 1
        holding = [(node.lineno, name) for name, node in owners if node.lineno < begin <= node.end_lineno]
        if not holding:
            stray.append(f"the solution region at line {begin} lies in no function or method, so no test can "
                         "name it as a part; move it into the function it belongs to")
            continue
        spans.setdefault(max(holding)[1], []).append((begin, end))  # the innermost function holding it
    return [Part(name, tuple(found)) for name, found in spans.items()], stray


def _functions(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """Every function and method with its qualified name (classes and functions nest their names)."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    found.append((name, child))
                visit(child, name + ".")

    visit(tree, "")
    return found


def covers(declared: str, part: str) -> bool:
    """``declared`` names ``part`` itself or a class (or function) that holds it."""
    return part == declared or part.startswith(declared + ".")


def derive_removals(source: str) -> list[Removal]:
    """One file per part with that part stubbed, then one per wholly-student class or function without it."""
    parts, _ = find_parts(source)
    lines = source.splitlines(keepends=True)
    removals = [Removal(part.name, (part.name,), False, _stubbed(lines, part.spans)) for part in parts]
    tree = ast.parse(source)
    for node in _wholly_students(tree, parts):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        inside = [p for p in parts if covers(node.name, p.name)]
        last = max([node.end_lineno] + [end for p in inside for _, end in p.spans])  # its last END marker too
        # A part that names the missing definition breaks with it (setup_variable assigns rsub).
        naming = [p for p in parts if p not in inside and _names(tree, p, node.name)]
        removals.append(Removal(node.name, tuple(p.name for p in inside + naming), True,
                                "".join(lines[:first - 1] + lines[last:])))
    return removals


def _names(tree: ast.Module, part: Part, name: str) -> bool:
    """Whether the code in ``part``'s regions refers to the module-level ``name``."""
    return any(isinstance(node, ast.Name) and node.id == name and any(b < node.lineno < e for b, e in part.spans)
               for node in ast.walk(tree))


def _stubbed(lines: list[str], spans: tuple[tuple[int, int], ...]) -> str:
    out = list(lines)
    for begin, end in sorted(spans, reverse=True):  # bottom up, so earlier line numbers stay valid
        marker = out[begin - 1]
        indent = marker[: len(marker) - len(marker.lstrip())]
        block = [line.rstrip("\n") for line in out[begin:end - 1]]
        out[begin - 1:end] = [line + "\n" for line in stub_lines(block, indent)]
    return "".join(out)


def _wholly_students(tree: ast.Module, parts: list[Part]) -> list[ast.AST]:
    """Top-level classes and functions with nothing of the kit's in them but a docstring.

    A function is wholly the student's when every statement of its body lies in one of its own
    solution regions; a class, when every method is (``Pow`` has a given ``__init__``: it is not).
    """
    spans = {part.name: part.spans for part in parts}

    def students(node: ast.AST, name: str) -> bool:
        body = _without_docstring(node.body)
        if isinstance(node, ast.ClassDef):
            return bool(body) and all(isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                                      and students(item, f"{name}.{item.name}") for item in body)
        return bool(body) and all(any(begin < s.lineno and s.end_lineno < end for begin, end in spans.get(name, ()))
                                  for s in body)

    return [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and students(node, node.name)]


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


# ---- judging the graded removals ------------------------------------------------------------------

@dataclass(frozen=True)
class Declared:
    """One test case (``test_x[case]``) and the parts it declares."""

    test: str
    needs: tuple[str, ...]
    uses: tuple[str, ...]

    def declares(self, part: str, everywhere: tuple[str, ...] = ()) -> bool:
        return any(covers(name, part) for name in (*self.needs, *self.uses, *everywhere))

    def measures(self, part: str) -> bool:
        return any(covers(name, part) for name in self.needs)


def declarations(result: dict) -> list[Declared]:
    """Each graded test's declarations, as the result carries them (``tests[].extra_data``)."""
    found = []
    for test in result["tests"]:
        extra = test.get("extra_data") or {}
        found.append(Declared(test["tags"][-1], tuple(extra.get(NEEDS, ())), tuple(extra.get(USES, ()))))
    return found


def lost_tests(result: dict) -> dict[str, str]:
    """test id -> the first line of its feedback, for every test the result did not pass."""
    return {t["tags"][-1]: (t.get("output") or "").strip().split("\n", 1)[0][:160]
            for t in result["tests"] if t["status"] != "passed"}


@dataclass
class PartsReport:
    removals: list[Removal]
    isolated: int = 0               # removals that lose only declaring tests, and a measuring one
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        missing = sum(r.missing for r in self.removals)
        return [f"parts: {self.isolated} of {len(self.removals)} isolated ({len(self.removals) - missing} parts "
                f"stubbed one at a time, {missing} missing altogether)"]


def judge(source: str, removals: list[Removal], results: list[dict], everywhere: tuple[str, ...],
          tests: list[Declared]) -> PartsReport:
    """Hold each graded removal against the tests' declarations; one problem line per offence.

    ``tests``: every test's declarations, as the graded results carry them.
    """
    parts, stray = find_parts(source)
    names = [part.name for part in parts]
    report = PartsReport(removals, problems=stray + _unknown_names(tests, everywhere, names))
    shown: set[tuple[str, str]] = set()  # (test, declared name) that some removal showed the test relies on
    for removal, result in zip(removals, results):
        offences = _offences(removal, result, everywhere)
        report.problems += offences
        report.isolated += not offences
        lost = lost_tests(result)
        shown |= {(declared.test, name) for declared in declarations(result) if declared.test in lost
                  for name in (*declared.needs, *declared.uses) if any(covers(name, part) for part in removal.parts)}
    for declared in tests:
        for kind, listed in ((NEEDS, declared.needs), (USES, declared.uses)):
            report.problems += [f"parts: {declared.test} declares {kind}(\"{name}\"), but passes without it: "
                                "drop the declaration" for name in listed
                                if (declared.test, name) not in shown and any(covers(name, p) for p in names)]
    return report


def _offences(removal: Removal, result: dict, everywhere: tuple[str, ...]) -> list[str]:
    """A lost test that declares no removed part; no lost test that measures one."""
    by_test = {d.test: d for d in declarations(result)}
    lost = lost_tests(result)
    offences = [f"parts: {removal.label}, {test} fails, and it declares no part of {removal.name}: {feedback}"
                for test, feedback in sorted(lost.items())
                if not any(by_test[test].declares(part, everywhere) for part in removal.parts)]
    if not any(by_test[test].measures(part) for test in lost for part in removal.parts):
        if lost:
            offences.append(f"parts: {removal.label}, none of the tests that fail measures it ({', '.join(sorted(lost))});"
                            f" mark the one whose title names it with @pytest.mark.needs(\"{removal.name}\")")
        else:
            offences.append(f"parts: {removal.label}, every test passes: no test measures {removal.name}")
    return offences


def _unknown_names(tests: list[Declared], everywhere: tuple[str, ...], names: list[str]) -> list[str]:
    """A declared name that covers no part: a typo, or a part renamed in the reference."""
    known = ", ".join(names)
    problems = [f"parts: [parts] everywhere lists \"{name}\", which is no part of the reference (parts: {known})"
                for name in everywhere if not any(covers(name, part) for part in names)]
    for declared in tests:
        for kind, listed in ((NEEDS, declared.needs), (USES, declared.uses)):
            problems += [f"parts: {declared.test} declares {kind}(\"{name}\"), which is no part of the reference "
                         f"(parts: {known})" for name in listed if not any(covers(name, part) for part in names)]
    return problems
