"""The installed ``grader`` works from any folder, and ``grade`` without -o never writes into the kit
(issue 14, item 6)."""
import json
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

import grader.assignment
from conftest import EXAMPLES, ROOT
from grader.assignment import find_repo_root, load_assignment
from grader.cli import default_result_path
from grader.errors import GraderError


def test_from_a_folder_outside_the_kit_the_kit_is_still_found(tmp_path, monkeypatch):
    """Run from a checkout (or an editable install): the package's own parent folder is the kit.
    (Under tox the kit is installed from an sdist and does not know its folder: GRADER_HOME then.)"""
    monkeypatch.delenv("GRADER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(grader.assignment, "__file__", str(ROOT / "grader" / "assignment.py"))
    assert find_repo_root() == ROOT
    assert load_assignment("stage1_autodiff").id == "stage1_autodiff"


def test_a_kit_installed_with_pip_finds_the_folder_it_was_installed_from(tmp_path, monkeypatch):
    """Installed (not editable) the package lives in site-packages; pip's direct_url.json says where from."""
    from importlib import metadata

    monkeypatch.delenv("GRADER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(grader.assignment, "__file__", str(tmp_path / "site-packages" / "grader" / "assignment.py"))
    record = json.dumps({"url": ROOT.as_uri(), "dir_info": {}})
    monkeypatch.setattr(metadata, "distribution", lambda name: SimpleNamespace(read_text=lambda f: record))
    assert find_repo_root() == ROOT
    monkeypatch.setattr(metadata, "distribution", lambda name: SimpleNamespace(read_text=lambda f: None))
    with pytest.raises(GraderError, match="set GRADER_HOME"):
        find_repo_root()


def test_grader_home_wins_and_a_wrong_one_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_HOME", str(ROOT))
    monkeypatch.chdir(tmp_path)
    assert find_repo_root() == ROOT
    monkeypatch.setenv("GRADER_HOME", str(tmp_path))
    with pytest.raises(GraderError, match="no assignments/ folder there"):
        find_repo_root()


def test_grade_without_o_never_writes_into_the_kit(assignment, tmp_path):
    inside = default_result_path(assignment, EXAMPLES / "correct.py", here=ROOT)
    deeper = default_result_path(assignment, EXAMPLES / "correct.py", here=EXAMPLES)
    for path in (inside, deeper):
        assert ROOT not in path.parents and path.name == "correct.py.results.json"
    assert default_result_path(assignment, EXAMPLES / "correct.py", here=tmp_path) == tmp_path / "results.json"


def test_help_documents_grader_home():
    ran = subprocess.run([sys.executable, "-m", "grader.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert "GRADER_HOME" in ran.stdout


@pytest.mark.e2e
def test_a_real_non_editable_install_grades_from_an_empty_folder(tmp_path):
    target = tmp_path / "site"
    # From a copy without the checkout's build/ folder: setuptools reuses it, and a stale one (say, a
    # module since turned into a package) would be installed instead of the code under test.
    source = tmp_path / "kit"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".tox", "build", "dist", "*.egg-info",
                                                                "__pycache__", "examples/out", "out"))
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                                str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "GRADER_HOME"}
    env["PYTHONPATH"] = str(target)
    # Every module of the kit comes from the install, none through the checkout's editable finder.
    ran = subprocess.run([sys.executable, "-c", "import grader, sys; assert grader.__file__.startswith(sys.argv[1]), "
                          "grader.__file__; from grader.cli import main; code = main(sys.argv[2:]); "
                          "elsewhere = [m.__file__ for n, m in list(sys.modules.items()) if n.split('.')[0] == 'grader' "
                          "and getattr(m, '__file__', None) and not m.__file__.startswith(sys.argv[1])]; "
                          "assert not elsewhere, elsewhere; sys.exit(code)", str(target),
                          "grade", str(EXAMPLES / "correct.py")], cwd=work, env=env, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert json.loads((work / "results.json").read_text())["score"] > 0
    assert not (ROOT / "results.json").exists()
