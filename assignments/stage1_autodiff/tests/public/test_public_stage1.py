"""Public tests: students run these with `grader check`; failures show got vs expected."""
import numpy as np

from grader.checks import check_array, check_true


def test_public_square_forward(student, reference):
    """square(x).data for x = [1, 2, 3]"""
    x = np.array([1.0, 2.0, 3.0])
    check_array(student.probe("forward", func="square", x=x)["data"],
                reference.probe("forward", func="square", x=x)["data"], "square(x).data")


def test_public_exp_forward(student, reference):
    """exp(x).data for x = [0, 1]"""
    x = np.array([0.0, 1.0])
    check_array(student.probe("forward", func="exp", x=x)["data"],
                reference.probe("forward", func="exp", x=x)["data"], "exp(x).data")


def test_public_square_backward(student, reference):
    """Square.backward at x = 3 with upstream gradient 2"""
    # gy is not 1, so a backward that forgets to multiply by gy shows here.
    args = {"cls": "Square", "x": np.array(3.0), "gy": np.array(2.0)}
    check_array(student.probe("backward_alone", **args), reference.probe("backward_alone", **args),
                "Square.backward(gy)", dtype=False)


def test_public_exp_backward(student, reference):
    """Exp.backward at x = [0, 1] with upstream gradient [2, 3]"""
    args = {"cls": "Exp", "x": np.array([0.0, 1.0]), "gy": np.array([2.0, 3.0])}
    check_array(student.probe("backward_alone", **args), reference.probe("backward_alone", **args),
                "Exp.backward(gy)", dtype=False)


def test_public_seed_is_ones_like(student, reference):
    """y.grad after y.backward() for y = square(x), x = [1, 2, 3] as float32"""
    # np.array(1.0) as the seed has the wrong shape and dtype here; np.ones_like(y.data) does not.
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    check_array(student.probe("seed_grad", func="square", x=x), reference.probe("seed_grad", func="square", x=x),
                "y.grad", ndarray=True)


def test_public_long_chain(student, reference):
    """backward through 1,200 functions: a loop, not recursion"""
    args = {"x": np.array([1.0, -1.0]), "length": 1200}
    got, want = student.probe("deep_chain", **args), reference.probe("deep_chain", **args)
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)
    check_true(isinstance(got["stack_growth"], int) and got["stack_growth"] <= 50, "check.stack_grows", "backward()")


def test_public_composite_grad(student, reference):
    """x.grad after square(exp(square(x))).backward() at x = 1"""
    x = np.array(1.0)
    got, want = student.probe("composite_grad", x=x), reference.probe("composite_grad", x=x)
    check_array(got["y"], want["y"], "y.data")
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)
