"""Probes measure with tools the student cannot touch (issue 23, item 1).

A submission runs in the worker's own process and may replace any module attribute or builtin
before the probes run. Every test here grades a correct submission that lies to the kit, and only
to the kit: each tool it replaces answers wrongly (it raises a ``BaseException`` no probe catches)
when called from a frame of the kit (a probe file or ``grader/``), and behaves exactly as before for
everybody else. The honest score must not change.

The tools are found, not listed: for every ``assignments/*/probes.py`` (a new stage is covered
without editing this file), every ``module.attr`` chain its source refers to and every builtin
function it names; and the same for the worker's dispatcher, wire and watch code.
"""
from __future__ import annotations

import ast
import builtins
import types
from pathlib import Path

import pytest

from conftest import ROOT
from grader.assignment import load_assignment
from grader.binding import attribute_chains
from grader.grading import grade_files
from grader.handles import load_module

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]
PROBE_FILES = sorted(ROOT.glob("assignments/*/probes.py"))
# The worker's code that runs after student code, from these functions on (the loaders run between
# student modules too). Kit modules themselves are out of reach: they leave sys.modules.
WORKER_CODE = {ROOT / "grader" / "sandbox" / "child.py": ["_private_channel", "answer_requests", "load_package",
                                                          "load_submission", "_flush_output"],
               ROOT / "grader" / "wire.py": ["frame", "parse_message"],
               ROOT / "grader" / "sandbox" / "watch.py": ["make_hook"]}

LIAR = '''

# ---- lies to the kit, and only to the kit (tests/test_probe_integrity.py) ----
import builtins as _b, importlib as _il, sys as _sys
_getframe, _isinstance, _issubclass, _getattr, _setattr = _sys._getframe, isinstance, issubclass, getattr, setattr


class _KitLied(BaseException):
    pass


def _from_kit():
    name = _getframe(2).f_code.co_filename
    return name.endswith("probes.py") or "/grader/" in name


def _lying(original, name):
    def wrapper(*args, **kwargs):
        if _from_kit():
            raise _KitLied(name)
        if original is _getframe:  # one frame deeper than its caller thinks
            return original((args[0] if args else kwargs.get("depth", 0)) + 1)
        return original(*args, **kwargs)
    return wrapper


class _LyingType(type):
    def __instancecheck__(cls, obj):
        if _from_kit():
            raise _KitLied(cls.__name__)
        return _isinstance(obj, cls._original)

    def __subclasscheck__(cls, sub):
        if _from_kit():
            raise _KitLied(cls.__name__)
        return _issubclass(sub, cls._original)

    def __call__(cls, *args, **kwargs):
        if _from_kit():
            raise _KitLied(cls.__name__)
        return cls._original(*args, **kwargs)

    def __getattr__(cls, name):
        return _getattr(cls._original, name)


for _module, _name in TOOLS:
    _owner = _b if _module == "builtins" else _il.import_module(_module)
    _value = _getattr(_owner, _name)
    _setattr(_owner, _name, _LyingType(_name, (), {"_original": _value}) if _isinstance(_value, type)
             else _lying(_value, _module + "." + _name))
'''


def _resolve(value, chain: tuple[str, ...]):
    """(module name, attribute) of the tool a chain ends at, or None for data and kit modules."""
    for index, name in enumerate(chain):
        owner, value = value, getattr(value, name, None)
        if value is None:
            return None
        if index == len(chain) - 1 and not isinstance(value, types.ModuleType) and callable(value):
            return owner.__name__, name
        if not isinstance(value, types.ModuleType):
            return None
    return None


def tools_of(path: Path, functions: list[str] | None = None) -> set[tuple[str, str]]:
    """Every tool the code refers to: ``(module, attribute)`` pairs and ``("builtins", name)``.

    ``functions``: only what these functions of the file (and the file's functions they name) refer to.
    """
    source = path.read_text(encoding="utf-8")
    if functions is not None:
        defined = {n.name: n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
        seen, todo = set(), list(functions)
        while todo:
            name = todo.pop()
            if name in defined and name not in seen:
                seen.add(name)
                todo += [n.id for n in ast.walk(defined[name]) if isinstance(n, ast.Name)]
        source = "\n".join(ast.unparse(defined[name]) for name in sorted(seen))
    namespace = vars(load_module(path, f"integrity_{path.parent.name}_{path.stem}"))
    found = set()
    for name, chains in attribute_chains(source).items():
        root = namespace.get(name)
        if isinstance(root, types.ModuleType) and root.__name__.partition(".")[0] != "grader":
            found |= {tool for chain in chains if (tool := _resolve(root, chain))}
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    found |= {("builtins", name) for name in names if name not in namespace  # not shadowed by the file
              and isinstance(getattr(builtins, name, None), types.BuiltinFunctionType)}
    return found


def liar(source: str, tools: set[tuple[str, str]]) -> str:
    return source + LIAR.replace("TOOLS", repr(sorted(tools)))


def worker_tools() -> set[tuple[str, str]]:
    return set().union(*(tools_of(path, names) for path, names in WORKER_CODE.items()))


def test_the_tools_are_found():
    """The finder sees what the issue names (a test of the test: an empty set would prove nothing)."""
    stage2 = tools_of(ROOT / "assignments" / "stage2_natural_code" / "probes.py")
    assert {("gc", "disable"), ("gc", "isenabled"), ("sys", "_getframe"), ("numpy", "asarray"),
            ("numpy", "ndarray"), ("builtins", "isinstance")} <= stage2
    assert {("os", "_exit"), ("builtins", "isinstance"), ("numpy", "ascontiguousarray")} <= worker_tools()


@pytest.mark.parametrize("probes", PROBE_FILES, ids=lambda p: p.parent.name)
def test_tools_replaced_to_lie_to_the_kit_leave_the_honest_score(probes, tmp_path):
    assignment = load_assignment(probes.parent.name, repo_root=ROOT)
    if assignment.reference is None or assignment.reference.suffix != ".py":
        pytest.skip(f"{assignment.id} has no single-file reference to grade")
    source = assignment.reference.read_text(encoding="utf-8")
    tools = tools_of(probes) | worker_tools()
    honest_path, lying_path = tmp_path / "honest" / assignment.reference.name, tmp_path / "lying" / assignment.reference.name
    for path, text in ((honest_path, source), (lying_path, liar(source, tools))):
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
    honest, lying = grade_files(assignment, [honest_path, lying_path])
    assert honest["score"] == honest["max_score"] > 0
    if lying["score"] != honest["score"]:
        pytest.fail(f"{assignment.id}: {lying['score']} with lying tools, {honest['score']} without; "
                    f"leaked: {_culprits(assignment, source, tools, tmp_path)}")
    assert [t["status"] for t in lying["tests"]] == [t["status"] for t in honest["tests"]]


def _culprits(assignment, source: str, tools: set[tuple[str, str]], tmp_path: Path) -> list[str]:
    """The tools that, replaced alone, change the score (only computed when the test fails)."""
    paths = []
    for index, tool in enumerate(sorted(tools)):
        path = tmp_path / f"one_{index}" / assignment.reference.name
        path.parent.mkdir()
        path.write_text(liar(source, {tool}), encoding="utf-8")
        paths.append((tool, path))
    results = grade_files(assignment, [path for _, path in paths])
    full = results and max(r["max_score"] for r in results)
    return [".".join(tool) for (tool, _), result in zip(paths, results) if result["score"] != full]


WEAKREF_LIE = '''
import weakref as _weakref


class _NeverAlive:
    """What weakref.ref now makes: a reference that always says its object is gone."""

    def __init__(self, obj, callback=None):
        pass

    def __call__(self):
        return None


_weakref.ref = _NeverAlive
'''


def test_a_package_that_fakes_weakref_ref_keeps_its_honest_score(tmp_path):
    """The issue's attack: strong references to outputs (honestly failing "the graph is freed"), and an
    ``__init__.py`` that makes ``weakref.ref`` report every object gone. It scored 46/46 with the probe
    taking ``weakref.ref`` from the worker's shared module."""
    from test_stage2 import INIT

    stage2 = load_assignment("stage2_natural_code", repo_root=ROOT)
    variant = (ROOT / "assignments" / "stage2_natural_code" / "variants" / "buggy" / "strong_output_references.py")
    core = variant.read_text(encoding="utf-8").rstrip()
    assert core.endswith("\nsetup_variable()")
    packages = []
    for name, init in (("honest", INIT), ("lying", WEAKREF_LIE + INIT)):
        package = tmp_path / name / "dezero"
        package.mkdir(parents=True)
        (package / "core_simple.py").write_text(core[: -len("setup_variable()")], encoding="utf-8")
        (package / "__init__.py").write_text(init, encoding="utf-8")
        packages.append(tmp_path / name)
    honest, lying = grade_files(stage2, packages)
    freed = "test_graph_freed_when_output_dropped"
    assert honest["score"] == 43 and any(freed in t["name"] or freed in str(t.get("tags")) for t in honest["tests"]
                                          if t["status"] == "failed"), honest["tests"]
    assert lying["score"] == honest["score"]
    assert [t["status"] for t in lying["tests"]] == [t["status"] for t in honest["tests"]]


def test_a_probe_state_changed_through_a_handed_function_is_refused_restored_and_flagged(tmp_path):
    """``numerical_diff(f, x)`` is handed the probe's own ``f``: its ``__globals__`` are the probe file's.
    Replacing ``describe`` there would forge every later answer; the guard refuses that answer, restores
    the probe file and says so."""
    assignment = load_assignment("stage1_autodiff", repo_root=ROOT)
    source = (ROOT / "examples" / "submissions" / "correct.py").read_text(encoding="utf-8")
    head = 'def numerical_diff(f, x, eps=1e-4):\n    """Central-difference estimate of df/dx at the Variable ``x``."""\n'
    assert head in source
    forging = head + ('    f.__globals__["describe"] = lambda value: {"type": "float", "dtype": None, "shape": [],\n'
                      '                                               "array": 0.0}\n')
    honest_path, forged_path = tmp_path / "honest.py", tmp_path / "forged.py"
    honest_path.write_text(source, encoding="utf-8")
    forged_path.write_text(source.replace(head, forging), encoding="utf-8")
    honest, forged = grade_files(assignment, [honest_path, forged_path])
    refused = {t["name"] for t in forged["tests"] if t["status"] == "failed"}
    assert refused and all("numerical" in name or "central" in name.lower() for name in refused), refused
    assert forged["score"] == honest["score"] - sum(t["score"] for t in honest["tests"] if t["name"] in refused)
    assert any("changed a probe's own code" in reason for reason in forged["extra_data"]["review"])
