"""Public tests: students run these with `grader check`; failures show got vs expected."""
import numpy as np

from grader.checks import check_array


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
    """Square.backward at x = 3 with upstream gradient 1"""
    args = {"cls": "Square", "x": np.array(3.0), "gy": np.array(1.0)}
    check_array(student.probe("backward_alone", **args), reference.probe("backward_alone", **args),
                "Square.backward(gy)", dtype=False)


def test_public_composite_grad(student, reference):
    """x.grad after square(exp(square(x))).backward() at x = 1"""
    x = np.array(1.0)
    got, want = student.probe("composite_grad", x=x), reference.probe("composite_grad", x=x)
    check_array(got["y"], want["y"], "y.data")
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)
