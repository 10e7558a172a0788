"""Writing a new assignment: ``grader new ID`` scaffolds it, ``missing_parts`` says what is left, in order.

The scaffold is everything an assignment needs except its content: a config, empty probes,
empty public and hidden test folders, titles in both languages, an empty hints.toml, notebook notes,
and a reference stub with one ``# BEGIN/END SOLUTION`` region. docs/authoring.md walks an
author from there to a Gradescope zip.
"""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

from grader.assignment import CONFIG_NAME, Assignment
from grader.errors import GraderError
from grader.binding import load_probes

ID_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TEST_NAME = re.compile(r"^def (test_\w+)", re.M)

CONFIG = '''# {title}. Points go only to the parts students write; see docs/authoring.md.
id = "{id}"
title = "{title}"
version = "1"
reference = "../../reference/{id}.py"
probes = "probes.py"
template_name = "{id}"
# due = "2027-01-31T23:59:00+09:00"
language = "en"

[limits]
submission_seconds = 60   # wall clock for all tests of one submission
test_seconds = 10         # wall clock for one test (load included): the upper bound of every deadline
floor_seconds = 1         # a probe's deadline is max(floor_seconds, reference_factor x the reference's
reference_factor = 100    #   time for the same probe)
memory_mb = 1024          # address space of the worker; never below 256
output_kb = 64            # student output kept for the report

[load]
on_error = "grade_defined"  # or "zero": a .py whose module-level code raises scores 0

[visibility]
public = "visible"
hidden = "after_due_date"

# Parts of the student's code (functions and methods holding a solution region) that every test relies
# on, e.g. ["Variable.__init__"]; each test names the others with @pytest.mark.needs(...) and uses(...),
# and grader selftest proves it by removing one part at a time (docs/authoring.md, "Parts").
[parts]
everywhere = []

# grader selftest plants mistakes in the solution regions and wants the tests to catch this share of
# them (docs/selftest.md); fewer than min_mutants means the regions broke: a small assignment lowers it.
[selftest]
mutation_threshold = 0.9
min_mutants = 30

# Points per test function, e.g. test_public_forward = 1 (a parametrized test earns them once per case).
[points]
'''

PROBES = '''"""Probes for {id}: small trusted functions run inside the sandboxed worker.

Each probe takes the student's module (``mod``) and JSON-able arguments from a test, exercises
one behaviour and returns plain data (numbers, strings, booleans, lists, dicts, ndarrays). It
holds no inputs and no expected values: those live in the tests. See docs/authoring.md.
"""
import numpy as np


def describe(value):
    """What grader.checks.check_array compares: type, dtype, shape and the numbers, or None."""
    if isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind in "biufc":
        return {{"type": type(value).__name__, "dtype": str(value.dtype), "shape": list(np.shape(value)),
                "array": np.asarray(value)}}
    return {{"type": type(value).__name__, "dtype": None, "shape": None, "array": None}}


PROBES = {{probe.__name__: probe for probe in ()}}
'''

REFERENCE = '''"""{title}.

Fill in every body that raises ``NotImplementedError``; the TODO comments say what to write.
Check yourself with ``grader check`` before you submit.
"""
# BEGIN REMOVE
# Instructor reference solution: the bodies between BEGIN SOLUTION and END SOLUTION are what
# students write; `grader template build -a {id}` turns them into stubs in student_template/.
# END REMOVE
import numpy as np


def example(x):
    """Replace this function with the assignment's own code."""
    # BEGIN SOLUTION
    # TODO(ko): 학생에게 보일 한국어 설명을 쓰세요.
    # TODO(en): the English instruction students see.
    return np.asarray(x)
    # END SOLUTION
'''

MESSAGES = {"en": "# The assignment's title and its test titles shown to students (English). Keys: test function names;\n"
                  "# ko.toml has the same keys.\ntitle = \"{title}\"\n\n[tests]\n",
            "ko": "# 학생에게 보이는 과제 제목과 테스트 제목(한국어). 키는 en.toml과 같습니다.\n"
                  "title = \"{title}\"  # 한국어 제목으로 바꾸세요\n\n[tests]\n"}
HINTS = '''# Hints for students whose answers are those of a mutant of the reference (docs/selftest.md).
# `grader selftest -a {id} --unnamed` lists the mutants no hint names yet, by id; name one per line of
# that list, saying what the code seems to do as a student would recognise it, and the fix:
#
# [mutants."Mul.backward: return gy * x1, gy * x0 -> return gy * x0, gy * x1"]
# en = "Mul.backward seems to return the gradients the wrong way round: x0's is gy * x1"
# ko = "Mul.backward가 기울기를 반대로 반환하는 것 같습니다: x0의 기울기는 gy * x1입니다"
'''

NOTEBOOK = '''# Markdown cells of the generated template notebook: an intro, then one per top-level name.
intro = """
# {title}
"""

[cells]
'''


def scaffold(repo_root: Path, assignment_id: str, title: str | None = None) -> list[Path]:
    """Write a new assignment's skeleton below ``repo_root``; refuse to overwrite anything."""
    if not ID_PATTERN.fullmatch(assignment_id):
        raise GraderError(f"'{assignment_id}' is not a usable id: use lowercase letters, digits and _, "
                          "starting with a letter (e.g. stage3_functions)")
    folder = repo_root / "assignments" / assignment_id
    reference = repo_root / "reference" / f"{assignment_id}.py"
    for path in (folder, reference):
        if path.exists():
            raise GraderError(f"{path} already exists; choose another id or remove it first")
    title = (title or assignment_id.replace("_", " ").capitalize()).replace('"', "'")
    values = {"id": assignment_id, "title": title}
    files = {folder / CONFIG_NAME: CONFIG.format(**values), folder / "probes.py": PROBES.format(**values),
             folder / "notebook.toml": NOTEBOOK.format(**values), reference: REFERENCE.format(**values),
             folder / "tests" / "public" / ".keep": "", folder / "tests" / "hidden" / ".keep": ""}
    files.update({folder / "messages" / f"{lang}.toml": text.format(**values) for lang, text in MESSAGES.items()})
    files[folder / "hints.toml"] = HINTS.format(**values)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)


def late_imports(probes) -> list[str]:
    """Imports inside a probe file's functions: what they import is looked up when the probe runs,
    after student code could replace it; the loader binds only what the file imports at module level."""
    tree = ast.parse(probes.read_text(encoding="utf-8"))
    scopes = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    lines = sorted({inner.lineno for scope in scopes for inner in ast.walk(scope)
                    if isinstance(inner, (ast.Import, ast.ImportFrom))})
    return [f"{probes}:{line}: import inside a function; import at module level, where the loader binds "
            "what a probe measures with before student code runs (docs/authoring.md)" for line in lines]


def missing_parts(assignment: Assignment) -> list[str]:
    """What the author still has to write, in the order to write it; empty when the parts exist.

    ``grader selftest`` then checks that they agree (reference full marks, template 0, points).
    """
    where = assignment.root
    if assignment.reference is None:
        return []  # a handout: nothing to author here
    source = assignment.reference.read_text(encoding="utf-8")
    if "# BEGIN SOLUTION" not in source:
        return [f"{assignment.reference}: mark what students write with # BEGIN SOLUTION / # END SOLUTION"]
    problems = []
    try:
        probes = load_probes(assignment.probes, f"grader_probes_{assignment.id}").functions
    except Exception as exc:  # noqa: BLE001 - the author's file: any failure is reported as a fix to make
        return [f"{assignment.probes}: cannot be loaded ({type(exc).__name__}: {exc}); it must define PROBES"]
    if not probes:
        problems.append(f"{assignment.probes}: PROBES is empty; add a probe that returns plain data")
    problems += late_imports(assignment.probes)
    names = {}
    for kind, folder in (("public", assignment.public_tests), ("hidden", assignment.hidden_tests)):
        names[kind] = [n for p in sorted(folder.glob("test_*.py")) for n in _TEST_NAME.findall(p.read_text("utf-8"))]
        if not names[kind]:
            problems.append(f"{folder}: no test yet; add a test_*.py whose tests compare "
                            "student.probe(...) with reference.probe(...)")
    every = names["public"] + names["hidden"]
    unpointed = [n for n in every if assignment.points_for(n) is None]
    if unpointed:
        problems.append(f"{where / CONFIG_NAME}: [points] has no entry for {', '.join(unpointed)}")
    for lang in ("en", "ko"):
        path = where / "messages" / f"{lang}.toml"
        raw = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if not isinstance(raw.get("title"), str) or not raw["title"].strip():
            problems.append(f"{path}: no title; add title = \"...\" (the assignment's title in this language) "
                            "at the top")
        titles = raw.get("tests", {})
        untitled = [n for n in every if n not in titles]
        if untitled:
            problems.append(f"{path}: [tests] has no title for {', '.join(untitled)}")
    return problems
