"""Hidden tests: run at grading only. Messages name the property, never inputs or expected values.

Each test declares the parts of the student's code it measures (``needs``, what its title names)
and the others it relies on (``uses``); `grader selftest` proves both (docs/selftest.md).
"""
import numpy as np
import pytest

from grader.checks import check_array, check_equal, check_true, check_variable

SHAPES = {"0d": (), "1d": (7,), "2d": (3, 4)}
CALL = "Function.__call__"


def _data(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape).astype(dtype)


@pytest.mark.needs("Square.forward")
@pytest.mark.uses(CALL)
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_square_forward_values(student, reference, shape):
    """Square forward values"""
    x = _data(SHAPES[shape], 11)
    check_array(student.probe("forward", func="square", x=x)["data"],
                reference.probe("forward", func="square", x=x)["data"], "square(x).data")


@pytest.mark.needs("Exp.forward")
@pytest.mark.uses(CALL)
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_exp_forward_values(student, reference, shape):
    """Exp forward values"""
    x = _data(SHAPES[shape], 12)
    check_array(student.probe("forward", func="exp", x=x)["data"],
                reference.probe("forward", func="exp", x=x)["data"], "exp(x).data")


@pytest.mark.uses(CALL)
@pytest.mark.parametrize("func", [pytest.param("Square", marks=pytest.mark.needs("Square.forward")),
                                  pytest.param("Exp", marks=pytest.mark.needs("Exp.forward"))])
def test_forward_keeps_dtype_and_shape(student, reference, func):
    """Forward keeps the input's dtype and shape"""
    x = _data((2, 5), 13, np.float32)
    got = student.probe("forward", func=func, x=x)["data"]
    want = reference.probe("forward", func=func, x=x)["data"]
    check_equal(got["shape"], want["shape"], f"{func}()(x).data.shape")
    check_equal(got["dtype"], want["dtype"], f"{func}()(x).data.dtype")


@pytest.mark.needs("Square.backward")
@pytest.mark.parametrize("shape", ["0d", "2d"])
def test_square_backward_alone(student, reference, shape):
    """Square.backward with a given upstream gradient"""
    args = {"cls": "Square", "x": _data(SHAPES[shape], 21), "gy": _data(SHAPES[shape], 22)}
    check_array(student.probe("backward_alone", **args), reference.probe("backward_alone", **args),
                "Square.backward(gy)", dtype=False)


@pytest.mark.needs("Exp.backward")
@pytest.mark.parametrize("shape", ["0d", "2d"])
def test_exp_backward_alone(student, reference, shape):
    """Exp.backward with a given upstream gradient"""
    args = {"cls": "Exp", "x": _data(SHAPES[shape], 23), "gy": _data(SHAPES[shape], 24)}
    check_array(student.probe("backward_alone", **args), reference.probe("backward_alone", **args),
                "Exp.backward(gy)", dtype=False)


@pytest.mark.needs("Square", "Exp", "Variable.backward")
@pytest.mark.uses(CALL)
def test_composite_grad_at_half(student, reference):
    """Gradient of square(exp(square(x))) through Variable.backward"""
    x = np.array(0.5)
    got, want = student.probe("composite_grad", x=x), reference.probe("composite_grad", x=x)
    check_array(got["y"], want["y"], "y.data")
    check_array(got["grad"], want["grad"], "x.grad", dtype=False, rtol=1e-9)


@pytest.mark.needs("Variable.backward")
@pytest.mark.uses(CALL)
@pytest.mark.parametrize("chain", [
    pytest.param(["square"], id="square", marks=pytest.mark.needs("Square")),
    pytest.param(["exp"], id="exp", marks=pytest.mark.needs("Exp")),
    pytest.param(["square", "exp", "square"], id="composite", marks=pytest.mark.needs("Square", "Exp"))])
@pytest.mark.parametrize("shape", ["1d", "2d"])
def test_gradient_matches_numerical_diff(student, reference, chain, shape):
    """Analytic gradient agrees with numerical_diff"""
    x = _data(SHAPES[shape], 31 + len(chain)) * 0.5
    got = student.probe("grad", funcs=chain, x=x)
    numeric = reference.probe("numerical_grad", funcs=chain, x=x)
    check_array(got, numeric, "x.grad",
                dtype=False, rtol=1e-4, atol=1e-6)


@pytest.mark.needs(CALL)
def test_graph_links(student, reference):
    """Function.__call__ records creator, input and output"""
    x = _data((3,), 41)
    got, want = student.probe("graph_links", x=x), reference.probe("graph_links", x=x)
    check_array(got.pop("out_creator_input_data"), want.pop("out_creator_input_data"),
                "y.creator.input.data")
    for key, expected in want.items():
        check_equal(got.get(key), expected, key)


@pytest.mark.needs("Variable.backward")
@pytest.mark.uses(CALL)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backward_seeds_ones_like(student, reference, dtype):
    """backward() with no grad set seeds np.ones_like(data)"""
    x = _data((2, 3), 51, np.dtype(dtype))
    got, want = student.probe("seed_grad", x=x), reference.probe("seed_grad", x=x)
    check_array(got, want, "y.grad", ndarray=True)


# A loop calls every function's backward from the same stack depth; recursion goes one deeper per
# function. The slack allows helpers inside the loop, far below the chain's length.
STACK_SLACK = 50


@pytest.mark.needs("Variable.backward")
@pytest.mark.uses(CALL)
def test_deep_chain_is_iterative(student, reference):
    """backward over a chain of 2,000 functions (needs a loop, not recursion)"""
    # Twice the default recursion limit, so a plain recursive backward fails as the book says; what tells
    # a loop from recursion under any limit is the stack growth, which 2,000 functions show as 5,000 did
    # (at 2.5x the CPU: 5,000 were most of what the probes cost a submission).
    args = {"x": _data((4,), 61), "length": 2000}
    got, want = student.probe("deep_chain", **args), reference.probe("deep_chain", **args)
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)
    check_equal(got["calls"], want["calls"], "the number of backward calls along the chain")
    check_true(isinstance(got["stack_growth"], int) and got["stack_growth"] <= STACK_SLACK,
               "check.stack_grows", "backward()")


@pytest.mark.needs("Variable.__init__")
def test_variable_rejects_non_arrays(student, reference):
    """Variable(data) raises TypeError unless data is an ndarray or None"""
    kinds = ["float", "int", "list", "none", "ndarray"]
    got, want = student.probe("variable_rejects", kinds=kinds), reference.probe("variable_rejects", kinds=kinds)
    for kind in kinds:
        check_equal(got.get(kind), want[kind], f"Variable(<{kind}>)")


@pytest.mark.needs("numerical_diff")
def test_numerical_diff_is_central(student, reference):
    """numerical_diff uses the central difference (f(x+eps) - f(x-eps)) / (2 eps)"""
    # A one-sided difference is off by about eps * f''(x) / 2 (1e-4 here): far outside this tolerance,
    # which any way of writing the central difference meets.
    # f is a plain function of the probe's own, so only numerical_diff is measured, not Square or Exp.
    x = _data((5,), 81) * 0.5
    for func in ("square", "exp"):
        check_array(student.probe("central_difference", func=func, x=x),
                    reference.probe("central_difference", func=func, x=x), f"numerical_diff({func}, x)",
                    dtype=False, rtol=1e-7, atol=1e-9)


@pytest.mark.needs(CALL)
def test_call_wraps_scalar_results(student, reference):
    """__call__ returns a Variable whose data is an ndarray, even for 0-d input"""
    # The probe's own functions: x ** 2 and e ** x of a 0-d array are numpy scalars, not arrays.
    x = np.array(_data((), 71))
    for func in ("square", "exp"):
        got = student.probe("wraps_scalar", func=func, x=x)
        check_variable(got, f"{func}(x)")
        check_array(got["data"], reference.probe("wraps_scalar", func=func, x=x)["data"],
                    f"{func}(x).data", ndarray=True)
