"""The review flag sees what code does at run time (issue 23, item 2).

The worker's audit hook (``grader.sandbox.watch``) reports dynamic code, frame, gc, ctypes, raw-fd and
kit-import events raised by student code, with the file and line; no honest submission may be flagged,
the book's own package included.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from book import book_zip, requires_book
from conftest import EXAMPLES, ROOT
from grader.assignment import load_assignment
from grader.grading import grade_files
from grader.review import scan_cells
from grader.variants import find_variants

HOSTILE = ROOT / "examples" / "hostile"
ASSIGNMENTS = sorted(path.parent.name for path in ROOT.glob("assignments/*/assignment.toml"))


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


@pytest.mark.e2e
@pytest.mark.hostile
def test_the_obfuscated_walk_is_flagged_at_run_time_with_its_lines(grade):
    """exec of hex-encoded text that walks frames, sys.modules and gc: the text scan sees none of it."""
    path = HOSTILE / "obfuscated_walk.py"
    source = path.read_text(encoding="utf-8")
    assert not {kind for kind, _, _ in scan_cells([source])} & {"exec", "frames", "gc"}
    result = grade(path)
    assert result["score"] == result["max_score"]  # a flag never changes a score
    reasons = result["extra_data"]["review"]
    at_load, in_backward = _line_of(path, "_RUN(bytes.fromhex("), _line_of(path, '_SPACE["_walk"]()')
    expected = {"code built from a string": [at_load], "stack frames": [at_load, in_backward],
                "garbage collector": [at_load, in_backward]}
    for words, lines in expected.items():
        [reason] = [r for r in reasons if words in r]
        assert "seen while the code ran" in reason and all(f"line {n}" in reason for n in lines), reason


@pytest.mark.e2e
@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_no_variant_of_any_stage_is_flagged(assignment_id):
    """Every correct and buggy variant (and stage 1's example submissions): honest code, never flagged."""
    assignment = load_assignment(assignment_id, repo_root=ROOT)
    paths = [variant.path for variant in find_variants(assignment.root)]
    if assignment_id == "stage1_autodiff":
        paths += sorted(p for p in EXAMPLES.glob("*") if p.is_file())
    assert paths, f"{assignment_id} has no variants"
    results = grade_files(assignment, paths)
    flagged = {path.name: result["extra_data"]["review"] for path, result in zip(paths, results)
               if result["extra_data"]["review"]}
    assert flagged == {}


@pytest.mark.e2e
@requires_book
def test_the_books_own_package_is_not_flagged(tmp_path):
    """The book's complete dezero/ as a student would download it: its __init__ imports every module, tries
    cupy, matplotlib and urllib; none of that is a sign."""
    stage2 = load_assignment("stage2_natural_code", repo_root=ROOT)
    [result] = grade_files(stage2, [book_zip(tmp_path / "book.zip", steps=(24,))])
    assert result["extra_data"]["review"] == [], result["extra_data"]["review"]


# ---- the hook itself, in a fresh interpreter (an audit hook can never be removed) ---------------

_HOOK_SCRIPT = '''
import json, os, sys
sys.path.insert(0, {kit!r})
from grader.binding import private_copies
from grader.sandbox import watch
workdir = {workdir!r}
signs = []
private_copies(watch, ["install"])["install"](signs.append, workdir, ("submission.py",), None)
for name in [name for name in sys.modules if name.partition(".")[0] == "grader"]:
    del sys.modules[name]  # as the worker does before student code runs
import runpy
runpy.run_path(os.path.join(workdir, "pkg", "mod.py"))
print(json.dumps(signs))
'''


def _signs(tmp_path: Path, student: str) -> list[dict]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(textwrap.dedent(student), encoding="utf-8")
    script = _HOOK_SCRIPT.format(kit=str(ROOT), workdir=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_library_code_acting_for_the_student_is_no_sign(tmp_path):
    """namedtuple and enum call sys._getframe, dataclasses exec, traceback reads tb_frame: all for honest code."""
    signs = _signs(tmp_path, '''
        import collections, dataclasses, enum, traceback, typing
        Point = collections.namedtuple("Point", "x y")
        Color = enum.Enum("Color", "RED GREEN")
        @dataclasses.dataclass
        class Box:
            size: int = 1
        T = typing.TypeVar("T")
        try:
            1 / 0
        except ZeroDivisionError:
            text = traceback.format_exc()
        Box(); Point(1, 2)
    ''')
    assert signs == []


def test_each_tool_is_a_sign_with_its_line(tmp_path):
    signs = _signs(tmp_path, '''
        import gc, inspect, sys, types
        frame = sys._getframe()
        outer = inspect.currentframe()
        objects = gc.get_referrers(frame)
        eval("1 + 1")
        copy = types.FunctionType(inspect.currentframe.__code__, {})
        import importlib
        try:
            importlib.import_module("grader.wire")
        except Exception:
            pass
        for name in ("/proc/self/fd",):
            os_listing = __import__("os").listdir(name)
        class Finder:
            def find_spec(self, *args):
                return None
        sys.meta_path.insert(0, Finder())
        import json.tool
    ''')
    places = {(s["kind"], s["line"]) for s in signs}
    assert {("frames", 3), ("frames", 4), ("gc", 5), ("exec", 6), ("code_objects", 7), ("kit", 10),
            ("raw_io", 14), ("hooks", 19)} <= places, places
    assert all(s["file"] == "pkg/mod.py" for s in signs)


def test_a_str_subclass_never_runs_inside_the_hook(tmp_path):
    """Event arguments and code file names can be str subclasses: the hook never hashes or calls them."""
    signs = _signs(tmp_path, '''
        import sys
        ran = []
        class Name(str):
            def __hash__(self):
                ran.append(1)
                return 1
            def startswith(self, *args):
                ran.append(1)
                return True
        sys.audit(Name("sys._getframe"))
        sys.audit("object.__getattr__", object(), Name("tb_frame"))
        sys.audit("import", Name("grader"))
        code = compile("import sys; sys._getframe()", "x.py", "exec").replace(co_filename=Name("x.py"))
        exec(code)
        assert not ran, "student code ran inside the hook"
    ''')
    assert {s["kind"] for s in signs} >= {"exec", "frames"}


@pytest.mark.e2e
@pytest.mark.hostile
@pytest.mark.parametrize("removal", [
    "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'AllowedImports']",
    "sys.meta_path = [f for f in sys.meta_path if type(f).__name__ != 'AllowedImports']",
    "import copy; sys.meta_path[0] = copy.copy(sys.meta_path[0])",  # a copy in its place
    "sys.audit('grader.import_policy', None); sys.meta_path.pop(0)",  # announcing another one first
    "",  # nothing taken away: the same imports are no sign
])
def test_taking_the_import_policy_away_is_a_sign_at_the_next_import(tmp_path, grade, removal):
    """Without the policy's finder any installed module imports; the import that follows is flagged.
    heapq loads a C extension (an import event of its own, without sys.meta_path)."""
    path = tmp_path / "escape.py"
    path.write_text("import sys\n" + removal + "\nimport colorsys, heapq\n" + (EXAMPLES / "correct.py").read_text(),
                    "utf-8")
    result = grade(path)
    assert result["score"] == result["max_score"], result["output"]
    reasons = [r for r in result["extra_data"]["review"] if "import hooks" in r]
    assert len(reasons) == (1 if removal else 0), result["extra_data"]["review"]
    assert all("line 3" in reason for reason in reasons), reasons
