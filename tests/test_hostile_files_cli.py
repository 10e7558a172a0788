"""Hostile files through the CLI and the sandbox: what a student would see, end to end.

A link to the reference must score 0 with a message saying it was not followed, in ``grader
batch``, ``grader grade`` and ``gradescope run``; terminal escapes must reach the terminal only
as visible text; one broken file must leave every other student's grade unchanged.
"""
import csv
import json
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import EXAMPLES, ROOT
from test_hostile_files import deep_notebook

pytestmark = [pytest.mark.e2e, pytest.mark.hostile]
REFERENCE = ROOT / "reference" / "dezero_stage1.py"
HOSTILE = ROOT / "examples" / "hostile"


def cli(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def test_batch_with_a_link_a_deep_notebook_and_a_corrupt_zip_grades_everyone_else(tmp_path):
    cls = tmp_path / "class"
    (cls / "mallory").mkdir(parents=True)
    (cls / "mallory" / "dezero_stage1.py").symlink_to(REFERENCE)
    (cls / "eve.py").symlink_to(REFERENCE)
    (cls / "alice.ipynb").write_text(deep_notebook())
    (cls / "bob.zip").write_bytes((HOSTILE / "corrupt_deflate.zip").read_bytes())
    (cls / "carol.py").write_bytes((EXAMPLES / "correct.py").read_bytes())
    done = cli("batch", "-a", "stage1_autodiff", cls, "-o", tmp_path / "out", "-j", "1")
    assert done.returncode == 0, done.stderr
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out" / "scores.csv").open())}
    assert rows["carol"]["score"] == "65" and rows["carol"]["status"] == "graded"
    for student in ("mallory", "eve", "alice", "bob"):
        assert rows[student]["score"] == "0" and rows[student]["status"] == "error", rows[student]
    assert "link" in rows["mallory"]["reason"] and "link" in rows["eve"]["reason"]


def test_grade_of_a_folder_with_a_link_scores_zero_and_says_why(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "dezero_stage1.py").symlink_to(REFERENCE)
    done = cli("grade", "-a", "stage1_autodiff", tmp_path / "sub", "-o", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["score"] == 0 and "link" in result["extra_data"]["error"]


def test_grade_terminal_shows_escapes_and_markup_as_text(tmp_path):
    done = cli("grade", "-a", "stage1_autodiff", HOSTILE / "terminal_escapes.py", "-o", tmp_path / "r.json",
               env=dict(os.environ, TERM="xterm-256color", COLUMNS="200"))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert 0 < result["score"] < 56
    assert "\x1b[2J" not in done.stdout and "\x1b[32mScore" not in done.stdout
    assert "Score 56/56: 56 of 56" in done.stdout  # shown, as inert text


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    archive = tmp_path_factory.mktemp("gs") / "autograder.zip"
    done = cli("gradescope", "build", "-a", "stage1_autodiff", "-o", archive)
    assert done.returncode == 0, done.stderr
    return archive


def _gradescope_run(autograder, tmp_path, fill):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    zipfile.ZipFile(autograder).extractall(root / "source")
    fill(root / "submission")
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), GRADER_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_gradescope_run_never_follows_a_link_to_its_own_reference(autograder, tmp_path):
    kit_reference = "../source/kit/reference/dezero_stage1.py"  # the copy inside the autograder image
    result = _gradescope_run(autograder, tmp_path, lambda sub: (sub / "hw.py").symlink_to(kit_reference))
    assert result["score"] == 0 and "link" in result["output"]


def test_gradescope_run_on_a_deep_notebook_writes_a_valid_result(autograder, tmp_path):
    result = _gradescope_run(autograder, tmp_path, lambda sub: (sub / "hw.ipynb").write_text(deep_notebook()))
    from grader.results import validate

    validate(result)
    assert result["score"] == 0 and result["extra_data"]["status"] == "error"
