"""End to end: bundled examples through the sandbox, scored as the issue's acceptance says."""
import json
import subprocess
import sys

import pytest

from conftest import EXAMPLES, ROOT
from grader.results import validate

pytestmark = pytest.mark.e2e


def failed(result):
    return {t["tags"][1].split("[")[0] for t in result["tests"] if t["status"] == "failed"}


def test_correct_submission_gets_full_marks(grade):
    result = grade(EXAMPLES / "correct.py")
    validate(result)
    assert result["score"] == result["max_score"] > 0
    assert {"process", "rlimits", "secrets", "network"} <= set(result["extra_data"]["sandbox_layers"])


def test_exp_backward_bug_loses_only_exp_backward_points(grade):
    result = grade(EXAMPLES / "exp_backward_bug.py")
    assert failed(result) == {"test_exp_backward_alone", "test_composite_grad_at_half",
                              "test_gradient_matches_numerical_diff", "test_public_composite_grad",
                              "test_public_exp_backward"}
    numeric = [t for t in result["tests"] if "test_gradient_matches_numerical_diff" in t["tags"][1]]
    assert all(t["status"] == "passed" for t in numeric if "-exp]" in t["tags"][1] or "square]" in t["tags"][1])


def test_recursive_backward_loses_only_the_deep_chain(grade):
    result = grade(EXAMPLES / "recursive_backward.py")
    assert failed(result) == {"test_deep_chain_is_iterative", "test_public_long_chain"}
    [deep] = [t for t in result["tests"] if t["status"] == "failed" and "hidden" in t["tags"]]
    assert "RecursionError" in deep["output"]


@pytest.mark.parametrize("name, reason", [
    ("syntax_error.py", "SyntaxError at line"),
    ("empty.py", "no code"),
    ("missing_package.py", "torch is not available for grading: a submission may import numpy, the standard library"),
    ("not_utf8.py", "not UTF-8"),
    ("broken_notebook.ipynb", "not a valid notebook"),
])
def test_broken_submissions_score_zero_with_a_one_line_reason(grade, name, reason):
    result = grade(EXAMPLES / name)
    validate(result)
    assert result["score"] == 0 and result["max_score"] > 0
    lines = [line for line in result["output"].splitlines() if reason in line]
    assert len(lines) == 1, result["output"]


def test_notebook_scores_like_the_same_code_as_py(grade):
    py, notebook = grade(EXAMPLES / "correct.py"), grade(EXAMPLES / "correct_notebook.ipynb")
    assert notebook["score"] == py["score"] == py["max_score"]
    assert "cell 5" in notebook["output"]  # the demo cell that raised, counted as Jupyter shows it (markdown too)


def test_untouched_template_scores_zero_and_names_the_todo(grade, assignment):
    result = grade(ROOT / "student_template" / "dezero_stage1.py")
    assert result["score"] == 0
    public = [t for t in result["tests"] if "public" in t["tags"]]
    assert all("NotImplementedError" in t["output"] for t in public)


def test_hidden_feedback_shows_no_inputs_or_expected_values(grade):
    result = grade(EXAMPLES / "exp_backward_bug.py")
    for test in result["tests"]:
        if "hidden" in test["tags"] and test["status"] == "failed":
            assert "expected" not in test["output"] and "got" not in test["output"]
            assert not any(ch.isdigit() for ch in test["output"].replace("0d", "").replace("2d", "").replace("1d", ""))


def test_cli_grade_writes_schema_valid_json_and_exits_zero(tmp_path):
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(EXAMPLES / "syntax_error.py"),
                           "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    validate(json.loads(out.read_text()))


def test_cli_unknown_assignment_is_one_line_and_nonzero(tmp_path):
    done = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(EXAMPLES / "correct.py"), "-a", "nope"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "unknown assignment" in done.stderr


def test_selftest_passes():
    """Without -a, selftest checks every assignment of the kit."""
    done = subprocess.run([sys.executable, "-m", "grader.cli", "selftest"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "variants: " in done.stdout and "mutants: killed " in done.stdout  # the tests proved, not only run
    assert "stage1_autodiff ok" in done.stdout and "stage2_natural_code ok" in done.stdout
