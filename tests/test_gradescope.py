"""The Gradescope autograder zip, run against a simulated /autograder tree."""
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import EXAMPLES, ROOT
from grader.results import validate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    base = tmp_path_factory.mktemp("gs")
    archive = base / "autograder.zip"
    done = subprocess.run([sys.executable, "-m", "grader.cli", "gradescope", "build", "-a", "stage1_autodiff", "-o", str(archive)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return archive


def run_submission(autograder, tmp_path, source):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    zipfile.ZipFile(autograder).extractall(root / "source")
    shutil.copy(source, root / "submission" / "my_homework.py")
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 77, "created_at": "2026-11-28T10:00:00+09:00", "users": [{"id": 5, "email": "s@x.edu", "name": "S"}]}))
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), GRADER_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads((root / "results" / "results.json").read_text())
    validate(result)
    return result


def test_zip_layout(autograder):
    names = zipfile.ZipFile(autograder).namelist()
    assert "setup.sh" in names and "run_autograder" in names
    assert "kit/reference/dezero_stage1.py" in names and "kit/pyproject.toml" in names
    assert any(n.startswith("kit/assignments/stage1_autodiff/tests/hidden/") for n in names)
    info = zipfile.ZipFile(autograder).getinfo("run_autograder")
    assert info.external_attr >> 16 & 0o111


@pytest.mark.parametrize("source, expected", [
    (EXAMPLES / "correct.py", 65), (EXAMPLES / "exp_backward_bug.py", 51),
    (ROOT / "examples" / "hostile" / "snoop_files.py", 65), (ROOT / "examples" / "hostile" / "fake_results_files.py", 0),
])
def test_results_json_for_correct_buggy_and_hostile(autograder, tmp_path, source, expected):
    result = run_submission(autograder, tmp_path, source)
    assert result["score"] == expected
    hidden = [t for t in result["tests"] if "hidden" in t["tags"]]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
    assert result["extra_data"]["gradescope"]["submission_id"] == 77
    text = json.dumps(result)
    assert "default_rng(seed)" not in text and "pending = [self.creator]" not in text
