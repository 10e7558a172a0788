"""Grades on code nobody here wrote: the findings of issue 10, each as a submission.

Every submission below is written for this test from the stage-1 spec. A correct one must get
full marks whatever valid shape it takes; a wrong one must lose exactly the points its bug costs.
"""
import dataclasses
import time

import pytest

from grader.grading import grade_files

pytestmark = pytest.mark.e2e

# A correct stage-1 solution in a student's own style (not the reference's).
CORRECT = '''\
import numpy as np


def as_array(value):
    return np.array(value) if np.isscalar(value) else value


class Variable:
    def __init__(self, data):
        if data is not None:
            if not isinstance(data, np.ndarray):
                raise TypeError("{} is not supported".format(type(data)))
        self.data = data
        self.grad = None
        self.creator = None

    def set_creator(self, func):
        self.creator = func

    def backward(self):
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        funcs = [self.creator]
        while funcs:
            f = funcs.pop()
            x, y = f.input, f.output
            x.grad = f.backward(y.grad)
            if x.creator is not None:
                funcs.append(x.creator)


class Function:
    def __call__(self, input):
        x = input.data
        y = self.forward(x)
        output = Variable(as_array(y))
        output.set_creator(self)
        self.input = input
        self.output = output
        return output

    def forward(self, x):
        raise NotImplementedError()

    def backward(self, gy):
        raise NotImplementedError()


class Square(Function):
    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        return 2 * self.input.data * gy


class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return np.exp(self.input.data) * gy


def square(x):
    return Square()(x)


def exp(x):
    return Exp()(x)


def numerical_diff(f, x, eps=1e-4):
    x0 = Variable(x.data - eps)
    x1 = Variable(x.data + eps)
    return (f(x1).data - f(x0).data) / (2 * eps)
'''

# The book's step-9 demo lines, run at module level after every definition; the last raises on purpose.
DEMO_TAIL = '''
x = Variable(np.array(0.5))
y = square(exp(square(x)))
y.backward()
print(x.grad)

x = Variable(np.array(1.0))  # OK
x = Variable(None)  # OK
x = Variable(1.0)  # NG
'''

RECURSIVE_BACKWARD = '''
    def backward(self):
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        f = self.creator
        if f is not None:
            x = f.input
            x.grad = f.backward(self.grad)
            x.backward()
'''


def _replace(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, old
    return source.replace(old, new)


def _backward_method(source: str, new: str) -> str:
    start = source.index("    def backward(self):\n        if self.grad is None:")
    end = source.index("class Function:")
    return source[:start] + new.lstrip("\n") + "\n\n" + source[end:]


def _failed(result: dict) -> set[str]:
    return {t["tags"][-1].split("[", 1)[0] for t in result["tests"] if t["status"] != "passed"}


@pytest.fixture
def grade_source(grade, tmp_path):
    return lambda source, name="submission.py": grade(source, name=name, tmp=tmp_path)


def test_correct_solution_gets_full_marks(grade_source):
    result = grade_source(CORRECT)
    assert result["score"] == result["max_score"], _failed(result)


def test_demo_lines_that_raise_at_module_level_keep_the_definitions(grade_source):
    """Finding 1: the book's `x = Variable(1.0)  # NG` ends the file; everything before it is graded."""
    source = CORRECT + DEMO_TAIL
    result = grade_source(source)
    assert result["score"] == result["max_score"], _failed(result)
    assert result["extra_data"]["status"] == "graded"
    raising_line = source.splitlines().index("x = Variable(1.0)  # NG") + 1
    first = result["output"].splitlines()[1]
    assert f"line {raising_line}" in first and "x = Variable(1.0)" in first and "TypeError" in first, first


def test_demo_lines_in_korean(assignment, session, tmp_path):
    path = tmp_path / "demo.py"
    path.write_text(CORRECT + DEMO_TAIL, encoding="utf-8")
    session_lang, session.lang = session.lang, "ko"
    try:
        [result] = grade_files(assignment, [path], session=session)
    finally:
        session.lang = session_lang
    assert "정의" in result["output"].splitlines()[1]


def test_file_that_defines_nothing_before_failing_still_scores_zero(grade_source):
    result = grade_source("import numpy as np\nraise RuntimeError('stop')\n" + CORRECT)
    assert result["score"] == 0 and result["extra_data"]["status"] == "error"
    assert "RuntimeError" in result["extra_data"]["error"]


def test_on_error_zero_keeps_the_strict_import(assignment, tmp_path):
    strict = dataclasses.replace(assignment, load_on_error="zero")
    path = tmp_path / "demo.py"
    path.write_text(CORRECT + DEMO_TAIL, encoding="utf-8")
    [result] = grade_files(strict, [path])
    assert result["score"] == 0 and "TypeError" in result["extra_data"]["error"]


def test_output_based_exp_backward_is_correct(grade_source):
    """Finding 2: `gy * self.output.data` is DeZero's own later form of Exp.backward."""
    source = _replace(CORRECT, "return np.exp(self.input.data) * gy", "return gy * self.output.data")
    result = grade_source(source)
    assert result["score"] == result["max_score"], _failed(result)


def test_recursive_backward_fails_the_loop_test_whatever_the_recursion_limit(grade_source):
    """Finding 3: the title promises "a loop, not recursion"; raising the limit must not pass it."""
    source = "import sys\nsys.setrecursionlimit(10**6)\n" + _backward_method(CORRECT, RECURSIVE_BACKWARD)
    result = grade_source(source)
    assert _failed(result) == {"test_deep_chain_is_iterative", "test_public_long_chain"}


def test_variable_accepting_floats_loses_the_type_check(grade_source):
    """Finding 5a: step 9 requires TypeError for anything but an ndarray or None."""
    source = _replace(CORRECT, "raise TypeError(\"{} is not supported\".format(type(data)))", "data = np.array(data)")
    result = grade_source(source)
    assert _failed(result) == {"test_variable_rejects_non_arrays"}


def test_one_sided_numerical_diff_fails_the_central_difference_test(grade_source):
    """Finding 5b: step 4 defines numerical_diff as the central difference."""
    source = _replace(CORRECT, "x0 = Variable(x.data - eps)", "x0 = Variable(x.data)")
    source = _replace(source, "/ (2 * eps)", "/ eps")
    result = grade_source(source)
    assert _failed(result) == {"test_numerical_diff_is_central"}


def test_slow_but_correct_code_passes(grade_source):
    """Deadlines scale with the reference: 20x slower than the reference is still correct."""
    slow = _replace(CORRECT, "        x = input.data\n", "        _spin(20)\n        x = input.data\n")
    slow = _replace(slow, "            f = funcs.pop()\n", "            f = funcs.pop()\n            _spin(20)\n")
    slow = _replace(slow, "class Variable:", '''def _spin(times):
    """About `times` times the work of one reference step."""
    for _ in range(times * 60):
        pass


class Variable:''')
    result = grade_source(slow)
    assert result["score"] == result["max_score"], _failed(result)


@pytest.mark.hostile
def test_backward_that_never_returns_is_graded_quickly(assignment, tmp_path):
    """Finding 4: a hanging backward costs each test only a deadline scaled to the reference."""
    hang = "    def backward(self):\n        while True:\n            pass\n"
    path = tmp_path / "hang.py"
    path.write_text(_backward_method(CORRECT, hang), encoding="utf-8")
    started = time.monotonic()
    [result] = grade_files(assignment, [path])
    elapsed = time.monotonic() - started
    assert elapsed <= 15, f"took {elapsed:.1f} s"
    passed = {t["tags"][-1].split("[", 1)[0] for t in result["tests"] if t["status"] == "passed"}
    assert {"test_square_forward_values", "test_exp_forward_values", "test_graph_links",
            "test_square_backward_alone", "test_exp_backward_alone"} <= passed
    assert "test_deep_chain_is_iterative" not in passed and 0 < result["score"] < result["max_score"]


@pytest.mark.parametrize("old, new, public_test", [
    ("return 2 * self.input.data * gy", "return 2 * self.input.data", "test_public_square_backward"),
    ("return np.exp(self.input.data) * gy", "return np.exp(self.input.data)", "test_public_exp_backward"),
    ("self.grad = np.ones_like(self.data)", "self.grad = np.array(1.0)", "test_public_seed_is_ones_like"),
    (None, RECURSIVE_BACKWARD, "test_public_long_chain"),
], ids=["square-forgets-gy", "exp-forgets-gy", "seed-not-ones-like", "recursive"])
def test_public_tests_show_each_classic_mistake(grade_source, old, new, public_test):
    """Issue 14 (3): every mistake the TODO comments warn about fails a public test a student can run."""
    source = _backward_method(CORRECT, new) if old is None else _replace(CORRECT, old, new)
    result = grade_source(source)
    failed_public = {t["tags"][-1] for t in result["tests"] if t["status"] != "passed" and "public" in t["tags"]}
    assert public_test in failed_public, failed_public


def test_an_error_in_a_notebook_names_the_cell_as_jupyter_shows_it(grade_source):
    """Issue 14 (5): 'line 12' alone is ambiguous in a notebook; the cell is counted as Jupyter does."""
    import nbformat

    broken = _replace(CORRECT, "return np.exp(self.input.data) * gy", "raise ValueError('boom')")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Homework"),
                                               nbformat.v4.new_code_cell(broken)])
    result = grade_source(nbformat.writes(notebook), name="homework.ipynb")
    [public] = [t for t in result["tests"] if t["tags"][-1] == "test_public_exp_backward"]
    line = broken.splitlines().index("        raise ValueError('boom')") + 1
    assert f"(cell 2, line {line}) raised ValueError: boom" in public["output"], public["output"]
