"""Public tests: students run these with `grader check`; failures show got vs expected.

``needs`` names the parts of your code a test measures, ``uses`` the others it relies on.
"""
import numpy as np
import pytest

from grader.checks import check_array, check_equal

GRAPH = ("Function.__call__", "Variable.set_creator")  # every function call that records the graph


@pytest.mark.needs("setup_variable", "Mul", "Sub", "rsub")
@pytest.mark.uses(*GRAPH, "Variable.backward")
def test_public_add_mul_constants(student, reference):
    """x * 2.0 + 1.0 and 3.0 - x at x = [1, 2]: values and x.grad"""
    x = np.array([1.0, 2.0])
    for op, kinds, right in (("mul", ["variable", "float"], np.array(2.0)),
                             ("sub", ["float", "variable"], x), ("add", ["variable", "variable"], x)):
        left = np.array(3.0) if kinds[0] == "float" else x
        got = student.probe("operator", op=op, kinds=kinds, left=left, right=right)
        want = reference.probe("operator", op=op, kinds=kinds, left=left, right=right)
        check_equal(got["type"], want["type"], f"type of {op}")
        check_array(got["data"], want["data"], f"{op}: data", dtype=False)
        for mine, theirs in zip(got["grads"], want["grads"]):
            check_array(mine, theirs, f"{op}: grad", dtype=False)


@pytest.mark.needs("setup_variable", "Pow", "Variable.backward")
@pytest.mark.uses(*GRAPH)
def test_public_sphere_grad(student, reference):
    """z = x ** 2 + y ** 2 at (1, 1): z and the gradients"""
    got = student.probe("benchmark_grad", func="sphere", point=[1.0, 1.0])
    want = reference.probe("benchmark_grad", func="sphere", point=[1.0, 1.0])
    check_array(got["z"], want["z"], "z.data", dtype=False)
    check_array(got["grads"][0], want["grads"][0], "x.grad", dtype=False)
    check_array(got["grads"][1], want["grads"][1], "y.grad", dtype=False)


@pytest.mark.needs("Variable.backward")
@pytest.mark.uses(*GRAPH)
def test_public_reuse_grad(student, reference):
    """a = x ** 2, y = a + a at x = 3: x.grad is 12"""
    got = student.probe("graph", shape="reuse", x=np.array(3.0))
    want = reference.probe("graph", shape="reuse", x=np.array(3.0))
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)


@pytest.mark.needs("Variable.__repr__")
def test_public_repr(student, reference):
    """repr(Variable(np.array([[1, 2], [3, 4]])))"""
    x = np.array([[1, 2], [3, 4]])
    check_equal(student.probe("attributes", x=x, label=None)["repr"],
                reference.probe("attributes", x=x, label=None)["repr"], "repr(Variable(x))")
