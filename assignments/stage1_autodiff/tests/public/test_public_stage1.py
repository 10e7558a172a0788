"""Public tests: students run these with `grader check`; failures show got vs expected.

``needs`` names the parts of your code a test measures, ``uses`` the others it relies on.
"""
import numpy as np
import pytest

from grader.checks import check_array, check_true

CALL = "Function.__call__"


@pytest.mark.needs("Square.forward")
@pytest.mark.uses(CALL)
def test_public_square_forward(student, reference):
    """square(x).data for x = [1, 2, 3]"""
    x = np.array([1.0, 2.0, 3.0])
    check_array(student.probe("forward", func="square", x=x)["data"],
                reference.probe("forward", func="square", x=x)["data"], "square(x).data")


@pytest.mark.needs("Exp.forward")
@pytest.mark.uses(CALL)
def test_public_exp_forward(student, reference):
    """exp(x).data for x = [0, 1]"""
    x = np.array([0.0, 1.0])
    check_array(student.probe("forward", func="exp", x=x)["data"],
                reference.probe("forward", func="exp", x=x)["data"], "exp(x).data")


@pytest.mark.needs("Square.backward")
def test_public_square_backward(student, reference):
    """Square.backward at x = 3 with upstream gradient 2"""
    # gy is not 1, so a backward that forgets to multiply by gy shows here.
    args = {"cls": "Square", "x": np.array(3.0), "gy": np.array(2.0)}
    check_array(student.probe("backward_alone", **args), reference.probe("backward_alone", **args),
                "Square.backward(gy)", dtype=False)


@pytest.mark.needs("Exp.backward")
def test_public_exp_backward(student, reference):
    """Exp.backward at x = [0, 1] with upstream gradient [2, 3]"""
    args = {"cls": "Exp", "x": np.array([0.0, 1.0]), "gy": np.array([2.0, 3.0])}
    check_array(student.probe("backward_alone", **args), reference.probe("backward_alone", **args),
                "Exp.backward(gy)", dtype=False)


@pytest.mark.needs("Variable.backward")
@pytest.mark.uses(CALL)
def test_public_seed_is_ones_like(student, reference):
    """y.grad after y.backward() for y = f(x), x = [1, 2, 3] as float32 (f: the probe's own square)"""
    # np.array(1.0) as the seed has the wrong shape and dtype here; np.ones_like(y.data) does not.
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    check_array(student.probe("seed_grad", x=x), reference.probe("seed_grad", x=x), "y.grad", ndarray=True)


@pytest.mark.needs("Variable.backward")
@pytest.mark.uses(CALL)
def test_public_long_chain(student, reference):
    """backward through 1,200 functions: a loop, not recursion"""
    args = {"x": np.array([1.0, -1.0]), "length": 1200}
    got, want = student.probe("deep_chain", **args), reference.probe("deep_chain", **args)
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)
    check_true(isinstance(got["stack_growth"], int) and got["stack_growth"] <= 50, "check.stack_grows", "backward()")


@pytest.mark.needs("Square", "Exp", "Variable.backward")
@pytest.mark.uses(CALL)
def test_public_composite_grad(student, reference):
    """x.grad after square(exp(square(x))).backward() at x = 1"""
    x = np.array(1.0)
    got, want = student.probe("composite_grad", x=x), reference.probe("composite_grad", x=x)
    check_array(got["y"], want["y"], "y.data")
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)
