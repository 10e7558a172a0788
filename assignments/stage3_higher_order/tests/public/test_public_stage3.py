"""Public tests: students run these with `grader check`; failures show got vs expected.

Each one shows a classic mistake of steps 25-36 before grading: a backward written with ndarrays
(no second derivative), create_graph ignored, tanh's derivative as 1 - y, x.grad not cleared
between orders, a DOT graph with the edges the wrong way.
"""
import numpy as np
import pytest

from grader.checks import check_array, check_equal, check_true

needs, uses = pytest.mark.needs, pytest.mark.uses


def _derivatives(student, reference, func, x, n):
    got = student.probe("nth_derivatives", func=func, x=x, n=n)
    want = reference.probe("nth_derivatives", func=func, x=x, n=n)
    check_array(got["y"], want["y"], f"{func}(x).data", dtype=False)
    check_equal(len(got["types"]), len(want["types"]), "the number of derivatives found by differentiating x.grad again")
    for order, (mine, theirs) in enumerate(zip(got["types"], want["types"]), start=1):
        check_equal(mine, theirs, f"type(x.grad), order {order}")
    for order, (mine, theirs) in enumerate(zip(got["grads"], want["grads"]), start=1):
        check_array(mine, theirs, f"x.grad, order {order}", dtype=False)


@needs("Variable.backward", "Sin", "Cos")
@uses("Mul.backward")
def test_public_sin_higher_derivatives(student, reference):
    """y = sin(x) at x = pi/4: y', y'' and y''' by differentiating x.grad again"""
    _derivatives(student, reference, "sin", np.array(np.pi / 4), 3)


@needs("Variable.backward", "Tanh")
@uses("Mul.backward")
def test_public_tanh_derivatives(student, reference):
    """y = tanh(x) at x = 1: y', y'' and y'''"""
    _derivatives(student, reference, "tanh", np.array(1.0), 3)


def _path(answer):
    path = np.asarray(answer["path"], dtype=float)
    return {"type": "list", "dtype": None, "shape": list(path.shape), "array": path}


@needs("Variable.backward")
@uses("Pow.backward", "Mul.backward")
def test_public_newton_book(student, reference):
    """Newton's method on f(x) = x ** 4 - 2 * x ** 2 from x = 2, ten steps (step 33)"""
    args = {"coefficients": [0.0, -2.0, 0.0, 1.0], "x0": 2.0, "iters": 10}
    got, want = student.probe("newton", **args), reference.probe("newton", **args)
    check_true(got["problem"] is None, "check.not_true",
               "x.grad exists after each gx.backward() (the second derivative)")
    check_array(_path(got), _path(want), "x after each step", rtol=1e-12, atol=0)


@needs("Variable.backward")
@uses("Pow.backward", "Mul.backward")
def test_public_double_backprop_book(student, reference):
    """y = x ** 2, gx = dy/dx, z = gx ** 3 + y at x = 2: dz/dx (step 36)"""
    got = student.probe("double_backprop", form="book", x=np.array(2.0))
    want = reference.probe("double_backprop", form="book", x=np.array(2.0))
    check_array(got["grad"], want["grad"], "x.grad after z.backward()", dtype=False)


@needs("Variable.backward")
@uses("Mul.backward")
def test_public_cleargrad_between_orders(student, reference):
    """y = x * x * x at x = 2: the second derivative with x.cleargrad() before it, and without"""
    got, want = student.probe("cleargrad_orders", x=np.array([2.0])), reference.probe("cleargrad_orders", x=np.array([2.0]))
    check_array(got["cleared"], want["cleared"], "x.grad with cleargrad", dtype=False)
    check_array(got["accumulated"], want["accumulated"], "x.grad without cleargrad", dtype=False)


@needs("Variable.backward")
def test_public_create_graph_switch(student, reference):
    """y.backward() and y.backward(create_graph=True): the grads' types, and whether x.grad has a creator"""
    for create_graph in (False, True):
        args = {"x": np.array([1.0, 2.0]), "create_graph": create_graph}
        got, want = student.probe("grads_are_variables", **args), reference.probe("grads_are_variables", **args)
        for key in ("seed_type", "grad_type", "grad_has_creator", "backprop_after"):
            check_equal(got[key], want[key], f"{key} (create_graph={create_graph})")


@needs("get_dot_graph", "_dot_var", "_dot_func")
def test_public_dot_graph(student, reference):
    """get_dot_graph(z, verbose=True) for z = x * x + x, x = [1, 2]"""
    args = {"graph": "reuse", "x": np.array([1.0, 2.0]), "verbose": True}
    got, want = student.probe("dot_graph", **args), reference.probe("dot_graph", **args)
    check_equal(got["digraph"], want["digraph"], "the text is a DOT digraph")
    for kind in ("functions", "variables"):
        check_equal(len(got[kind]), len(want[kind]), f"the number of {kind} drawn")
    for direction, count in want["edges"].items():
        check_equal(got["edges"].get(direction), count, f"the number of {direction} edges")
    check_true(got["functions"] == want["functions"], "check.not_true", "each function is labelled with its class name")
    check_true(got["variables"] == want["variables"], "check.not_true", "each variable is labelled 'name: shape dtype'")
    check_true(got["looks"] == want["looks"], "check.not_true",
               "variables are orange and filled, functions lightblue filled boxes")
    check_true(got["structure"] == want["structure"], "check.not_true", "the DOT text draws the computational graph")
