import pytest

from grader.assignment import load_assignment
from grader.errors import GraderError

GOOD = '''id = "a1"
title = "T"
reference = "ref.py"
[points]
test_x = 1
'''


def make(tmp_path, text):
    folder = tmp_path / "assignments" / "a1"
    folder.mkdir(parents=True)
    (folder / "ref.py").write_text("")
    (folder / "probes.py").write_text("PROBES = {}")
    (folder / "assignment.toml").write_text(text)
    return tmp_path


def test_single_assignment_is_found_without_a_name(tmp_path):
    assignment = load_assignment(repo_root=make(tmp_path, GOOD))
    assert assignment.id == "a1" and assignment.points_for("test_x[case]") == 1
    assert assignment.limits.memory_bytes == 1024 << 20


@pytest.mark.parametrize("text, fragment", [
    ("id = ", "not readable TOML"),
    (GOOD.replace('id = "a1"\n', ""), "missing setting 'id'"),
    (GOOD + "[limits]\nmemory_mb = 64\n", "at least 256"),
    (GOOD.replace("test_x = 1", "test_x = 0"), "positive"),
    (GOOD + "[visibility]\nhidden = 'secret'\n", "visibility.hidden"),
    (GOOD.replace("ref.py", "nope.py"), "does not exist"),
])
def test_bad_config_is_one_line_naming_the_file(tmp_path, text, fragment):
    root = make(tmp_path, text)
    with pytest.raises(GraderError) as error:
        load_assignment(repo_root=root)
    assert fragment in str(error.value) and "assignment.toml" in str(error.value)


def test_unknown_assignment_lists_known_ones(tmp_path):
    with pytest.raises(GraderError, match="known ones are a1"):
        load_assignment("zzz", repo_root=make(tmp_path, GOOD))


@pytest.mark.e2e
def test_a_hidden_test_file_that_cannot_be_imported_is_named(tmp_path):
    import shutil
    from pathlib import Path

    from grader.grading import grade_files

    root = Path(__file__).resolve().parent.parent
    copy = tmp_path / "assignments" / "stage1_autodiff"
    shutil.copytree(root / "assignments" / "stage1_autodiff", copy)
    shutil.copytree(root / "reference", tmp_path / "reference")
    (copy / "tests" / "hidden" / "test_broken.py").write_text("import numpy as np\ndef test_x(student:\n")
    assignment = load_assignment("stage1_autodiff", repo_root=tmp_path)
    with pytest.raises(GraderError, match=r"test_broken\.py.*could not be collected"):
        grade_files(assignment, [root / "examples" / "submissions" / "correct.py"])
