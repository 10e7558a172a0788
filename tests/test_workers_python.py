"""An assignment chooses the Python its workers run (issue 22 item 2).

A file with syntax newer than the grader's own Python failed to load with "SyntaxError at line N" and
nothing else. Now an assignment may name any installed Python 3.9+ (``[workers] python``), under which
the zygote, the workers and the probes start and run; a file that still cannot be parsed is told which
Python the grader runs and which one the syntax needs; an interpreter that lacks what the workers
import is one line at session start saying what to install.

The other interpreters are pyenv's on this machine: ``.ci/run`` installs numpy into the oldest and the
newest, and these tests skip, saying so, where they have none.
"""
import dataclasses
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT
from grader.assignment import load_assignment
from grader.errors import GraderError
from grader.grading import grade_files
from grader.sandbox.client import _hidden_paths
from grader.sandbox.interpreter import _describe, find_python, installed_pythons, prepare

REFERENCE2 = ROOT / "reference" / "dezero_stage2.py"


def _with_numpy() -> dict[int, str]:
    found = {}
    for minor, executable in installed_pythons().items():
        if executable != sys.executable:
            try:
                if not _describe(executable, ())["missing"]:
                    found[minor] = executable
            except GraderError:
                continue
    return found


OTHERS = _with_numpy()
PICKED = sorted({min(OTHERS), max(OTHERS)}) if OTHERS else []
requires_others = pytest.mark.skipif(not OTHERS, reason="no other Python 3.9+ with numpy on this machine "
                                                        "(.ci/run installs numpy into pyenv's oldest and newest)")


def _under(assignment, minor: int):
    """The assignment with its workers on Python 3.minor (its allowed packages left out: they may lack them)."""
    return dataclasses.replace(assignment, worker_python=f"3.{minor}", allowed_packages=())


@pytest.fixture(scope="module")
def stage1():
    return load_assignment("stage1_autodiff", repo_root=ROOT)


@pytest.fixture(scope="module")
def stage2():
    return load_assignment("stage2_natural_code", repo_root=ROOT)


@pytest.mark.e2e
@requires_others
@pytest.mark.parametrize("minor", PICKED, ids=[f"3.{m}" for m in PICKED])
def test_workers_under_another_python_grade_as_under_the_graders_own(tmp_path, stage1, stage2, minor):
    files = [EXAMPLES / "correct.py", EXAMPLES / "exp_backward_bug.py"]
    own = grade_files(dataclasses.replace(stage1, allowed_packages=()), files)
    other = grade_files(_under(stage1, minor), files)
    assert [r["score"] for r in other] == [r["score"] for r in own] and other[0]["score"] == other[0]["max_score"]
    assert set(other[0]["extra_data"]["sandbox_layers"]) == set(own[0]["extra_data"]["sandbox_layers"])
    # The watch runs under that Python too: its standard library and packages are no student code.
    assert [r["extra_data"]["review"] for r in other] == [[], []]
    package = tmp_path / "dezero"
    package.mkdir()
    shutil.copy(REFERENCE2, package / "core_simple.py")
    (package / "__init__.py").write_text("from dezero.core_simple import Variable\n", encoding="utf-8")
    for result in grade_files(_under(stage2, minor), [REFERENCE2, tmp_path]):  # a file, and the package shape
        assert result["score"] == result["max_score"] and result["extra_data"]["review"] == [], result["output"]


@pytest.mark.e2e
@requires_others
def test_syntax_the_workers_python_cannot_parse_names_the_python_it_needs(tmp_path, stage1):
    oldest = min(OTHERS)
    newer = [minor for minor in installed_pythons() if minor > oldest]
    if oldest > 9 or not newer:
        pytest.skip("needs Python 3.9 with numpy and a newer Python on this machine")
    path = tmp_path / "match.py"
    path.write_text((EXAMPLES / "correct.py").read_text(encoding="utf-8") + "\nmatch 1:\n    case 1:\n        pass\n")
    [result] = grade_files(_under(stage1, oldest), [path])
    assert result["score"] == 0
    assert ("SyntaxError at line 93: invalid syntax (the grader runs Python 3.9, and this syntax needs Python 3.10 or "
            "newer)") in result["output"], result["output"]


@pytest.mark.e2e
def test_syntax_newer_than_the_graders_python_names_both_versions(tmp_path, stage1):
    path = tmp_path / "generic.py"
    path.write_text("class Box[T]:\n    pass\n" + (EXAMPLES / "correct.py").read_text(encoding="utf-8"))
    [result] = grade_files(stage1, [path])
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    needs = next((f"3.{m}" for m in installed_pythons() if m >= 12), None)
    if sys.version_info >= (3, 12):
        pytest.skip("the grader's own Python parses PEP 695 generics")
    expected = f"the grader runs Python {running}" + (f", and this syntax needs Python {needs} or newer" if needs else ")")
    assert result["score"] == 0 and expected in result["output"], result["output"]


def _kit_with(tmp_path: Path, workers: str) -> Path:
    """A copy of stage 1 whose config chooses the workers' Python."""
    folder = tmp_path / "kit" / "assignments" / "stage1_autodiff"
    shutil.copytree(ROOT / "assignments" / "stage1_autodiff", folder)
    shutil.copytree(ROOT / "reference", tmp_path / "kit" / "reference")
    config = folder / "assignment.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("\n[packages]", f"\n[workers]\n{workers}\n\n[packages]", 1))
    return folder


def test_a_python_lacking_what_the_workers_import_is_one_line_at_session_start(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    folder = _kit_with(tmp_path, f'python = "{bare}/bin/python"')
    done = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(EXAMPLES / "correct.py"), "-a", str(folder),
                           "-o", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "lacks numpy, matplotlib, mpl_toolkits, PIL, pytest" in done.stderr
    assert f"install with {bare}/bin/python -m pip install numpy matplotlib Pillow pytest" in done.stderr


@pytest.mark.parametrize("setting, words", [
    ('python = "2.7"', "workers.python = '2.7' must be a Python version of at least 3.9"),
    ('python = "3.99"', "workers.python = '3.99': no Python 3.99 on this machine"),
    ('python = "/no/such/python"', "workers.python = '/no/such/python': no such interpreter"),
])
def test_an_interpreter_that_cannot_be_used_is_one_line(tmp_path, setting, words):
    folder = _kit_with(tmp_path, setting)
    done = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(EXAMPLES / "correct.py"), "-a", str(folder),
                           "-o", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, done.stderr


def test_an_older_python_than_the_worker_supports_is_refused_by_version():
    old = next((path for path in sorted(Path("~/.pyenv/versions").expanduser().glob("3.8.*/bin/python3.8"))), None)
    if old is None:
        pytest.skip("no Python 3.8 on this machine")
    with pytest.raises(GraderError, match=r"is 3\.8; the worker needs Python 3\.9 or newer"):
        prepare(str(old))


def test_the_graders_own_version_is_its_own_interpreter():
    assert find_python(None) == find_python(f"{sys.version_info[0]}.{sys.version_info[1]}") == sys.executable


def test_a_folder_workers_cannot_pass_through_to_their_python_is_covered_and_the_path_bound_back():
    """tox makes its .tox folder 0700: the workers (another uid) could not reach the allowed packages in
    the venv below it. Such a folder is covered by a searchable tmpfs with the venv bound back under it,
    unless a folder above it is covered already."""
    base = Path(tempfile.mkdtemp(dir="/var/tmp")).resolve()  # not /tmp: workers get their own /tmp, never covered
    base.chmod(0o755)  # the highest closed folder is the one covered: here .tox, not mkdtemp's own 0700
    try:
        closed = base / ".tox"
        site = closed / "py" / "lib" / "site-packages"
        site.mkdir(parents=True)
        closed.chmod(0o700)
        assert str(closed) in _hidden_paths([], [str(site)])
        assert str(closed) not in _hidden_paths([str(base)], [str(site)]) and str(base) in _hidden_paths([str(base)], [])
        closed.chmod(0o755)
        assert str(closed) not in _hidden_paths([], [str(site)])
    finally:
        shutil.rmtree(base)
