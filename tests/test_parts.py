"""A test depends only on what its title names (issue 22, item 1).

Tests declare the parts of the student's code they measure (``needs``) and rely on (``uses``);
selftest grades the reference with each part removed and holds the result against the
declarations. The end-to-end cases grade small files written here: one feature's absence costs
only that feature's points.
"""
import shutil
from pathlib import Path

import pytest

from book import book_file, requires_book
from conftest import ROOT
from grader.assignment import load_assignment
from grader.errors import GraderError
from grader.grading import grade_files
from grader.parts import Declared, covers, derive_removals, find_parts, judge
from grader.selftest import parts_report
from grader.template import stub_source

STAGE1 = ROOT / "assignments" / "stage1_autodiff"
STAGE2 = ROOT / "assignments" / "stage2_natural_code"

# A reference of our own: a class with a given method (not wholly the student's), a class and two
# functions that are, and a function that names another (setup attaches helper).
SMALL = '''"""A tiny assignment."""
import numpy as np


class Box:
    """Holds data."""

    def __init__(self, data):
        # BEGIN SOLUTION
        # TODO(en): keep data.
        self.data = data
        # END SOLUTION

    def given(self):
        return self.data


class Twice:
    """y = 2x"""

    def forward(self, x):
        # BEGIN SOLUTION
        # TODO(en): return 2 * x.
        return 2 * x
        # END SOLUTION


def helper(x):
    """Twice of x."""
    # BEGIN SOLUTION
    # TODO(en): return Twice().forward(x).
    return Twice().forward(x)
    # END SOLUTION


def setup():
    # BEGIN SOLUTION
    # TODO(en): attach helper to Box.
    Box.helper = helper
    # END SOLUTION
'''


# ---- parts and the files derived from them ------------------------------------------------------

def test_parts_are_the_functions_and_methods_holding_a_solution_region():
    parts, stray = find_parts(SMALL)
    assert [p.name for p in parts] == ["Box.__init__", "Twice.forward", "helper", "setup"] and stray == []
    for name in ("stage1_autodiff", "stage2_natural_code"):
        reference = (ROOT / "reference" / f"dezero_{name.split('_')[0]}.py").read_text(encoding="utf-8")
        names = [p.name for p in find_parts(reference)[0]]
        assert "Variable.backward" in names and "Function.__call__" in names


def test_a_region_outside_any_function_is_named_as_a_problem():
    source = "x = 1\n# BEGIN SOLUTION\n# TODO(en): set y.\ny = 2\n# END SOLUTION\n"
    parts, stray = find_parts(source)
    assert parts == [] and len(stray) == 1 and "line 2" in stray[0] and "no function" in stray[0]


def test_a_class_name_covers_its_methods_and_nothing_else():
    assert covers("Exp", "Exp.forward") and covers("Exp.forward", "Exp.forward")
    assert not covers("Exp", "Exponent.forward") and not covers("Exp.forward", "Exp")


def test_each_part_is_removed_alone_and_each_wholly_student_definition_goes_missing():
    removals = {(r.name, r.missing): r for r in derive_removals(SMALL)}
    assert sorted(removals) == [("Box.__init__", False), ("Twice", True), ("Twice.forward", False),
                                ("helper", False), ("helper", True), ("setup", False), ("setup", True)]
    stubbed = removals[("Twice.forward", False)].source
    assert 'raise NotImplementedError("TODO: return 2 * x.")' in stubbed
    assert "return Twice().forward(x)" in stubbed and "self.data = data" in stubbed  # the others stay
    missing = removals[("Twice", True)]
    assert "class Twice" not in missing.source and "def helper" in missing.source
    assert missing.parts == ("Twice.forward", "helper")  # helper names Twice, so it breaks too
    assert missing.label == "without Twice (missing altogether; helper names it)"
    assert removals[("helper", True)].parts == ("helper", "setup")
    assert removals[("setup", True)].label == "without setup (missing altogether)"


@pytest.mark.parametrize("name", ["dezero_stage1.py", "dezero_stage2.py"])
def test_a_removed_part_reads_exactly_as_the_template_has_it(name):
    reference = (ROOT / "reference" / name).read_text(encoding="utf-8")
    template = set(stub_source(reference).splitlines())
    for removal in derive_removals(reference):
        compile(removal.source, removal.label, "exec")
        if not removal.missing:
            added = set(removal.source.splitlines()) - set(reference.splitlines())
            assert added and added <= template, removal.label


def test_stage1_has_the_wholly_student_definitions_a_student_may_leave_out():
    reference = (ROOT / "reference" / "dezero_stage1.py").read_text(encoding="utf-8")
    assert [r.name for r in derive_removals(reference) if r.missing] == ["Square", "Exp", "numerical_diff"]


# ---- judging the graded removals ----------------------------------------------------------------

def _result(lost, declared):
    """A graded result: every test of ``declared`` (id -> (needs, uses)), those in ``lost`` failed."""
    return {"tests": [{"tags": ["hidden", test], "status": "failed" if test in lost else "passed",
                       "output": f"{test} broke\nmore", "extra_data": {"needs": list(needs), "uses": list(uses)}}
                      for test, (needs, uses) in declared.items()]}


DECLARED = {"test_box": (["Box.__init__"], []), "test_twice": (["Twice"], []),
            "test_helper": (["helper"], ["Twice.forward"]), "test_setup": (["setup"], [])}


def _judge(lost_by_removal, declared=DECLARED, everywhere=()):
    removals = [r for r in derive_removals(SMALL) if (r.name, r.missing) in lost_by_removal]
    results = [_result(lost_by_removal[(r.name, r.missing)], declared) for r in removals]
    tests = [Declared(t, tuple(n), tuple(u)) for t, (n, u) in declared.items()]
    return judge(SMALL, removals, results, tuple(everywhere), tests)


ISOLATED = {("Box.__init__", False): {"test_box"}, ("Twice.forward", False): {"test_twice", "test_helper"},
            ("helper", False): {"test_helper"}, ("setup", False): {"test_setup"},
            ("Twice", True): {"test_twice", "test_helper"}, ("helper", True): {"test_helper", "test_setup"},
            ("setup", True): {"test_setup"}}


def test_removals_that_lose_only_declaring_tests_are_isolated():
    report = _judge(ISOLATED)
    assert report.problems == [] and report.isolated == 7
    assert report.lines() == ["parts: 7 of 7 isolated (4 parts stubbed one at a time, 3 missing altogether)"]


def test_a_lost_test_that_does_not_declare_the_part_is_named_with_the_part():
    lost = {**ISOLATED, ("Box.__init__", False): {"test_box", "test_setup"}}
    report = _judge(lost)
    assert report.problems == ["parts: with Box.__init__ as the template has it, test_setup fails, and it "
                               "declares no part of Box.__init__: test_setup broke"]
    assert report.isolated == 6
    assert _judge(lost, everywhere=["Box.__init__"]).problems == []  # [parts] everywhere declares it for all


def test_a_part_no_test_measures_is_named():
    report = _judge({**ISOLATED, ("setup", False): set()})
    assert report.problems == ["parts: with setup as the template has it, every test passes: no test measures setup"]
    declared = dict(DECLARED, test_setup=([], ["setup"]))
    report = _judge(ISOLATED, declared)
    assert "parts: with setup as the template has it, none of the tests that fail measures it (test_setup); mark " \
           "the one whose title names it with @pytest.mark.needs(\"setup\")" in report.problems


def test_a_declaration_no_removal_makes_true_and_an_unknown_name_are_named():
    declared = dict(DECLARED, test_box=(["Box.__init__", "setup"], []), test_setup=(["setup", "Setup"], []))
    problems = _judge(ISOLATED, declared, everywhere=["Box.init"]).problems
    assert problems == [
        "parts: [parts] everywhere lists \"Box.init\", which is no part of the reference (parts: Box.__init__, "
        "Twice.forward, helper, setup)",
        "parts: test_setup declares needs(\"Setup\"), which is no part of the reference (parts: Box.__init__, "
        "Twice.forward, helper, setup)",
        "parts: test_box declares needs(\"setup\"), but passes without it: drop the declaration"]


def test_bad_parts_settings_are_one_line_errors(tmp_path):
    folder = tmp_path / "assignments" / "stage1_autodiff"
    shutil.copytree(STAGE1, folder)
    (tmp_path / "reference").mkdir()
    shutil.copy(ROOT / "reference" / "dezero_stage1.py", tmp_path / "reference")
    config = folder / "assignment.toml"
    text = config.read_text(encoding="utf-8")
    for bad, fragment in (('everywhere = "Variable.__init__"', "must be a list"),
                          ('everywhere = ["Variable.__init__"]\nalways = ["x"]', "takes one setting")):
        config.write_text(text.replace('everywhere = ["Variable.__init__"]', bad), encoding="utf-8")
        with pytest.raises(GraderError) as error:
            load_assignment(str(folder))
        assert fragment in str(error.value) and "assignment.toml" in str(error.value) and "\n" not in str(error.value)
    assert load_assignment(str(STAGE1)).parts_everywhere == ("Variable.__init__",)


# ---- end to end: one feature's absence costs only that feature's points --------------------------

# A stage-1 file written the way the book's step 10 leaves it: Square but no Exp yet, and a unittest
# class of the student's own at the bottom. Written for this test.
STEP10_WITHOUT_EXP = '''import unittest

import numpy as np


class Variable:
    def __init__(self, data):
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"unsupported type {type(data)}")
        self.data = data
        self.grad = None
        self.creator = None

    def set_creator(self, func):
        self.creator = func

    def backward(self):
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        todo = [self.creator]
        while todo:
            fn = todo.pop()
            fn.input.grad = fn.backward(fn.output.grad)
            if fn.input.creator is not None:
                todo.append(fn.input.creator)


def as_array(x):
    return np.array(x) if np.isscalar(x) else x


class Function:
    def __call__(self, input):
        result = Variable(as_array(self.forward(input.data)))
        result.set_creator(self)
        self.input, self.output = input, result
        return result

    def forward(self, x):
        raise NotImplementedError()

    def backward(self, gy):
        raise NotImplementedError()


class Square(Function):
    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        return 2 * self.input.data * gy


def square(x):
    return Square()(x)


def numerical_diff(f, x, eps=1e-4):
    left, right = Variable(x.data - eps), Variable(x.data + eps)
    return (f(right).data - f(left).data) / (2 * eps)


class SquareCheck(unittest.TestCase):
    def test_gradient(self):
        x = Variable(np.array(3.0))
        square(x).backward()
        self.assertEqual(x.grad, 6.0)
'''


def _failed(result):
    return {t["tags"][-1] for t in result["tests"] if t["status"] != "passed"}


def _declaring(result, *parts):
    """The tests of ``result`` that declare one of ``parts`` (needs or uses), and the points they are worth."""
    tests = [t for t in result["tests"] if any(covers(name, part) for kind in ("needs", "uses")
                                                for name in t["extra_data"][kind] for part in parts)]
    return {t["tags"][-1] for t in tests}, sum(t["max_score"] for t in tests)


EXP_TESTS = {"test_public_exp_forward", "test_public_exp_backward", "test_public_composite_grad",
             "test_exp_forward_values[0d]", "test_exp_forward_values[1d]", "test_exp_forward_values[2d]",
             "test_forward_keeps_dtype_and_shape[Exp]", "test_exp_backward_alone[0d]", "test_exp_backward_alone[2d]",
             "test_composite_grad_at_half", "test_gradient_matches_numerical_diff[1d-exp]",
             "test_gradient_matches_numerical_diff[2d-exp]", "test_gradient_matches_numerical_diff[1d-composite]",
             "test_gradient_matches_numerical_diff[2d-composite]"}


@pytest.mark.e2e
def test_a_step10_file_with_square_but_no_exp_loses_exactly_exps_points(grade, tmp_path):
    result = grade(STEP10_WITHOUT_EXP, tmp=tmp_path)
    declaring, points = _declaring(result, "Exp.forward", "Exp.backward")
    assert _failed(result) == declaring == EXP_TESTS
    assert result["max_score"] - result["score"] == points == 26
    passed = {t["tags"][-1] for t in result["tests"] if t["status"] == "passed"}
    # The cascades of issue 22: creator links, the ones_like seeds and the central difference.
    assert {"test_graph_links", "test_backward_seeds_ones_like[float64]", "test_backward_seeds_ones_like[float32]",
            "test_numerical_diff_is_central", "test_call_wraps_scalar_results"} <= passed


@requires_book
@pytest.mark.e2e
def test_the_books_own_step10_loses_only_the_tests_that_declare_exp(grade, tmp_path):
    path = tmp_path / "step10.py"
    path.write_bytes(book_file("steps/step10.py"))
    result = grade(path)
    assert _failed(result) == _declaring(result, "Exp.forward", "Exp.backward")[0] == EXP_TESTS


EXP = '''

class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return np.exp(self.input.data) * gy


def exp(x):
    return Exp()(x)
'''


@pytest.mark.e2e
def test_a_stage1_file_without_numerical_diff_loses_only_its_test(grade, tmp_path):
    before, after = STEP10_WITHOUT_EXP.split("def numerical_diff")
    source = before + EXP + "\n\n" + after[after.index("class SquareCheck"):]
    assert _failed(grade(source + EXP, tmp=tmp_path)) == {"test_numerical_diff_is_central"}
    assert _failed(grade(STEP10_WITHOUT_EXP + EXP, tmp=tmp_path)) == set()  # the same file, complete


STAGE2_REFERENCE = (ROOT / "reference" / "dezero_stage2.py").read_text(encoding="utf-8")
WITHOUT_MUL = STAGE2_REFERENCE.replace(STAGE2_REFERENCE[STAGE2_REFERENCE.index("class Mul(Function):"):
                                                        STAGE2_REFERENCE.index("class Neg(Function):")], "")


@pytest.mark.e2e
def test_stage2_files_missing_one_feature_lose_only_its_tests(tmp_path):
    stage2 = load_assignment(str(STAGE2))
    misnamed = tmp_path / "misnamed_cleargrad.py"
    misnamed.write_text(STAGE2_REFERENCE.replace("def cleargrad(self):", "def clear_grad(self):"), encoding="utf-8")
    no_mul = tmp_path / "no_mul.py"
    no_mul.write_text(WITHOUT_MUL, encoding="utf-8")
    cleared, mulless = grade_files(stage2, [misnamed, no_mul])
    # retain_grad's probe used to call cleargrad, charging a misnamed cleargrad twice.
    assert _failed(cleared) == {"test_cleargrad_between_passes"}
    failed = _failed(mulless)
    assert failed == _declaring(mulless, "Mul.forward", "Mul.backward")[0]
    assert "test_generation_order_on_dags" not in failed and "test_no_grad_builds_no_graph" not in failed
    assert "test_operators_with_constants_on_either_side" in failed


@pytest.mark.e2e
def test_a_failed_test_that_uses_another_part_says_so_in_each_language(tmp_path):
    stage1 = load_assignment(str(STAGE1))
    path = tmp_path / "cube.py"
    path.write_text((ROOT / "reference" / "dezero_stage1.py").read_text(encoding="utf-8").replace(
        "return x ** 2\n", "return x ** 3\n"), encoding="utf-8")
    for lang, expected in (
            ("en", "square(x).data has the wrong values (this test also relies on Function.__call__, which other "
                   "tests measure: fix those first if they fail too)"),
            ("ko", "square(x).data의 값이 틀렸습니다 (이 테스트는 Function.__call__에도 의존합니다. 그 부분의 테스트도 "
                   "실패했다면 그것부터 고치세요)")):
        [result] = grade_files(stage1, [path], lang=lang)
        tests = {t["tags"][-1]: t for t in result["tests"]}
        # hidden: no input, no value; the known bug's hint (x ** 3 is a mutant of stage 1) may follow
        assert tests["test_square_forward_values[1d]"]["output"].startswith(expected)
        public = tests["test_public_square_forward"]["output"]
        assert public.startswith("square(x).data") and "Function.__call__" in public
        assert tests["test_square_backward_alone[0d]"]["status"] == "passed"
    # What each outcome carries: a parametrized case its own needs, the function's uses.
    case = tests["test_forward_keeps_dtype_and_shape[Exp]"]["extra_data"]
    assert case == {"needs": ["Exp.forward"], "uses": ["Function.__call__"]}
    # A file that does not load fails every test for that one reason: no other part is named.
    broken = tmp_path / "broken.py"
    broken.write_text("def square(x:\n", encoding="utf-8")
    [result] = grade_files(stage1, [broken])
    outputs = [t["output"] for t in result["tests"]]
    assert all("SyntaxError" in text and "relies on" not in text for text in outputs), outputs[:3]


# ---- selftest: the derived files, graded as the mutants are --------------------------------------

def _kit_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "assignments" / "stage1_autodiff"
    shutil.copytree(STAGE1, folder)
    (tmp_path / "reference").mkdir()
    shutil.copy(ROOT / "reference" / "dezero_stage1.py", tmp_path / "reference")
    return folder


@pytest.mark.e2e
def test_selftest_names_an_undeclared_loss_and_an_unmeasured_part(tmp_path):
    folder = _kit_copy(tmp_path)
    hidden = folder / "tests" / "hidden" / "test_hidden_stage1.py"
    hidden.write_text(hidden.read_text(encoding="utf-8").replace('@pytest.mark.needs("numerical_diff")\n', ""),
                      encoding="utf-8")
    reference = tmp_path / "reference" / "dezero_stage1.py"
    reference.write_text(reference.read_text(encoding="utf-8") + '''

def unused():
    """No test calls this."""
    # BEGIN SOLUTION
    # TODO(en): return 1.
    return 1
    # END SOLUTION
''', encoding="utf-8")
    report = parts_report(load_assignment(str(folder)), jobs=1)
    assert report.lines() == ["parts: 9 of 13 isolated (9 parts stubbed one at a time, 4 missing altogether)"]
    undeclared = ", test_numerical_diff_is_central fails, and it declares no part of numerical_diff: "
    unmeasured = (", none of the tests that fail measures it (test_numerical_diff_is_central); mark the one whose "
                  "title names it with @pytest.mark.needs(\"numerical_diff\")")
    expected = [("parts: with numerical_diff as the template has it" + undeclared, "NotImplementedError"),
                ("parts: with numerical_diff as the template has it" + unmeasured, ""),
                ("parts: with unused as the template has it, every test passes: no test measures unused", ""),
                ("parts: without numerical_diff (missing altogether)" + undeclared, "AttributeError"),
                ("parts: without numerical_diff (missing altogether)" + unmeasured, ""),
                ("parts: without unused (missing altogether), every test passes: no test measures unused", "")]
    assert len(report.problems) == len(expected)
    for problem, (start, feedback) in zip(report.problems, expected):
        assert problem.startswith(start) and feedback in problem[len(start):], problem


@pytest.mark.e2e
def test_a_copy_of_the_kit_runs_its_own_tests_after_the_kit_ran_in_the_same_process(grade, tmp_path):
    """pytest reuses an imported test module by name (tests.hidden.test_x): the copy's must replace it."""
    assert _failed(grade(ROOT / "reference" / "dezero_stage1.py")) == set()  # the kit's tests, imported here
    folder = _kit_copy(tmp_path)
    hidden = folder / "tests" / "hidden" / "test_hidden_stage1.py"
    hidden.write_text(hidden.read_text(encoding="utf-8").replace(
        '    """Variable(data) raises TypeError unless data is an ndarray or None"""\n',
        '    """Variable(data) raises TypeError unless data is an ndarray or None"""\n    check_true(False, "check.not_true", "Variable")\n'),
        encoding="utf-8")
    [result] = grade_files(load_assignment(str(folder)), [ROOT / "reference" / "dezero_stage1.py"])
    assert _failed(result) == {"test_variable_rejects_non_arrays"}
