"""Hidden tests: run at grading only. Messages name the property, never inputs or expected values.

Each test declares the parts of the student's code its title names (``needs``) and the other
student-written parts it relies on (``uses``); everything else it touches is given code.
"""
import math

import numpy as np
import pytest
from numpy.polynomial import polynomial as P

from grader.checks import check_array, check_equal, check_true

needs, uses = pytest.mark.needs, pytest.mark.uses
UNARY = ("sin", "cos", "tanh")
# The book's derivatives, in closed form (the grading process computes them, never the worker).
FIRST = {"sin": np.cos, "cos": lambda x: -np.sin(x), "tanh": lambda x: 1 - np.tanh(x) ** 2}


def _points(seed, shape=(), low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def _close(got, want, rtol=1e-7, atol=1e-9):
    """Same shape and values, for a property check that names the bug rather than got vs expected."""
    array = got.get("array") if isinstance(got, dict) else None
    return array is not None and np.shape(array) == np.shape(want) and bool(np.allclose(array, want, rtol=rtol,
                                                                                        atol=atol))


def sin_derivative(x, order):
    return np.sin(x + order * math.pi / 2)


def cos_derivative(x, order):
    return np.cos(x + order * math.pi / 2)


def tanh_derivative(x, order):
    """d^k/dx^k tanh(x) as a polynomial in t = tanh(x): P_{k+1}(t) = P_k'(t) * (1 - t^2)."""
    poly = np.array([0.0, 1.0])
    for _ in range(order):
        poly = P.polymul(P.polyder(poly), [1.0, 0.0, -1.0])
    return P.polyval(np.tanh(x), poly)


CLOSED = {"sin": sin_derivative, "cos": cos_derivative, "tanh": tanh_derivative}
CLASS = {"sin": "Sin", "cos": "Cos", "tanh": "Tanh", "mul": "Mul", "div": "Div", "pow": "Pow"}


# ---- sin, cos and tanh, one function at a time -------------------------------------------------

@needs("Sin.forward", "Cos.forward", "Tanh.forward")
def test_sin_cos_tanh_forward(student, reference):
    """sin, cos and tanh return Variables with the right values, shapes and dtypes"""
    for number, shape in enumerate([(), (3,), (2, 3)]):
        for func in UNARY:
            x = _points(100 + number, shape, -3.0, 3.0)
            for data in (x, x.astype(np.float32)):
                got, want = student.probe("forward", func=func, x=data), reference.probe("forward", func=func, x=data)
                check_equal(got["type"], want["type"], f"type({func}(x))")
                check_array(got["data"], want["data"], f"{func}(x).data", rtol=1e-5)


def _alone(student, reference, op, values, gy, c=None):
    args = {"op": op, "values": values, "gy": gy} | ({"c": c} if c is not None else {})
    return student.probe("backward_alone", **args), reference.probe("backward_alone", **args)


@needs("Sin.backward", "Cos.backward", "Tanh.backward")
@uses("Sin.forward", "Cos.forward", "Tanh.forward")
def test_sin_cos_tanh_backward_values(student, reference):
    """Sin, Cos and Tanh's backward(gy): gy times the derivative"""
    for number, shape in enumerate([(), (4,), (2, 2)]):
        x, gy = _points(200 + number, shape, -2.5, 2.5), _points(210 + number, shape, 0.5, 1.5)
        for func in UNARY:
            got, want = _alone(student, reference, func, [x], gy)
            check_equal(len(got), len(want), f"the number of gradients {CLASS[func]}.backward returns")
            check_array(got[0]["value"], want[0]["value"], f"{CLASS[func]}.backward(gy)", dtype=False)
            check_true(_close(got[0]["value"], gy * FIRST[func](x)), "check.wrong_derivative", f"{CLASS[func]}.backward(gy)")


@needs("Sin.backward", "Cos.backward", "Tanh.backward")
@uses("Sin.forward", "Cos.forward", "Tanh.forward")
def test_sin_cos_tanh_backward_build_graphs(student, reference):
    """Sin, Cos and Tanh's backward computes with Variables, so it can be differentiated again"""
    x, gy = _points(301, (3,)), _points(302, (3,), 0.5, 1.5)
    for func in UNARY:
        got, want = _alone(student, reference, func, [x], gy)
        check_true(got[0]["type"] == "Variable", "check.grad_not_variable", f"{CLASS[func]}.backward(gy)")
        check_true(got[0]["has_creator"] and got[0]["reaches"] == want[0]["reaches"], "check.gradient_detached",
                   f"{CLASS[func]}.backward(gy)")


OPERATIONS = [("mul", 2, None), ("div", 2, None), ("pow", 1, 3.0), ("pow", 1, 0.5), ("pow", 1, -2.0)]


def _operands(seed, count, shape):
    return [_points(seed + k, shape, 0.5, 2.0) * (1 if k else np.sign(_points(seed + 9, shape))) for k in range(count)]


@needs("Mul.backward", "Div.backward", "Pow.backward")
def test_mul_div_pow_backward_values(student, reference):
    """Mul, Div and Pow's backward(gy): one gradient per input, right values"""
    for number, shape in enumerate([(), (3,), (2, 3)]):
        gy = _points(400 + number, shape, 0.5, 1.5)
        for op, count, c in OPERATIONS:
            values = _operands(410 + 10 * number, count, shape)
            if c == 0.5:
                values = [np.abs(v) for v in values]
            got, want = _alone(student, reference, op, values, gy, c)
            check_equal(len(got), len(want), f"the number of gradients {CLASS[op]}.backward returns")
            for k, (mine, theirs) in enumerate(zip(got, want)):
                check_array(mine["value"], theirs["value"], f"gradient {k + 1} of {CLASS[op]}.backward(gy)", dtype=False)


@needs("Mul.backward", "Div.backward", "Pow.backward")
def test_mul_div_pow_backward_build_graphs(student, reference):
    """Mul, Div and Pow's backward computes with the input Variables, so it can be differentiated again"""
    gy = _points(501, (2,), 0.5, 1.5)
    for op, count, c in OPERATIONS:
        values = [np.abs(v) for v in _operands(510, count, (2,))]
        got, want = _alone(student, reference, op, values, gy, c)
        for k, (mine, theirs) in enumerate(zip(got, want)):
            what = f"gradient {k + 1} of {CLASS[op]}.backward(gy)"
            check_true(mine["type"] == "Variable", "check.grad_not_variable", what)
            check_true(mine["has_creator"] and mine["reaches"] == theirs["reaches"], "check.gradient_detached", what)


# ---- higher-order derivatives, the book's loops -----------------------------------------------

def _nth(student, reference, func, x, n):
    got, want = student.probe("nth_derivatives", func=func, x=x, n=n), \
        reference.probe("nth_derivatives", func=func, x=x, n=n)
    check_true(got["types"] == want["types"], "check.no_higher_derivative", f"x.grad of {func}(x), order by order")
    for order, (mine, theirs) in enumerate(zip(got["grads"], want["grads"]), start=1):
        what = f"the derivative of order {order} of {func}(x)"
        check_array(mine, theirs, what, dtype=False)
        check_true(_close(mine, CLOSED[func](x, order)), "check.wrong_derivative", what)


@needs("Variable.backward", "Sin", "Cos")
@uses("Mul.backward")
def test_nth_derivatives_of_sin_and_cos(student, reference):
    """The first to fifth derivatives of sin and cos (differentiating x.grad again, x.cleargrad() between)"""
    for number, shape in enumerate([(), (5,)]):
        x = _points(600 + number, shape, -4.0, 4.0)
        for func in ("sin", "cos"):
            _nth(student, reference, func, x, 5)


@needs("Variable.backward", "Tanh")
@uses("Mul.backward")
def test_nth_derivatives_of_tanh(student, reference):
    """The first to fourth derivatives of tanh agree with their closed forms"""
    for number, shape in enumerate([(), (4,)]):
        _nth(student, reference, "tanh", _points(700 + number, shape, -1.5, 1.5), 4)


BOOK_QUARTIC = [0.0, -2.0, 0.0, 1.0]  # step 33: f(x) = x ** 4 - 2 * x ** 2, from x = 2
BOOK_STEPS = 7                        # the book's run prints 1.0 from the seventh step on


def _convex_quartic(seed):
    rng = np.random.default_rng(seed)
    a4, a2 = rng.uniform(0.5, 1.5), rng.uniform(1.0, 3.0)
    a3 = rng.uniform(-1.0, 1.0) * math.sqrt(a4 * a2)  # 36 a3^2 < 96 a4 a2: f'' > 0 everywhere
    return [float(rng.uniform(-2.0, 2.0)), float(a2), float(a3), float(a4)]


def _slope(coefficients, x):
    return sum(k * c * x ** (k - 1) for k, c in enumerate(coefficients, start=1))


@needs("Variable.backward")
@uses("Pow.backward", "Mul.backward")
def test_newton_method_converges(student, reference):
    """Newton's method with second derivatives from double backprop: the book's x⁴ − 2x² from x = 2 converges in 7 steps"""
    args = {"coefficients": BOOK_QUARTIC, "x0": 2.0, "iters": 10}
    got, want = student.probe("newton", **args), reference.probe("newton", **args)
    check_true(got["problem"] is None and len(got["path"]) == len(want["path"]), "check.no_second_derivative",
               "Newton's method")
    path = np.asarray(got["path"], dtype=float)
    check_true(path[BOOK_STEPS - 1] == 1.0 and path[BOOK_STEPS - 2] != 1.0, "check.newton_steps", "Newton's method")
    check_true(bool(np.allclose(path, want["path"], rtol=1e-12, atol=0)), "check.newton_steps", "Newton's method")
    for seed in range(3):
        args = {"coefficients": _convex_quartic(800 + seed), "x0": float(_points(810 + seed, (), -3.0, 3.0)),
                "iters": 8}
        got, want = student.probe("newton", **args), reference.probe("newton", **args)
        check_true(got["problem"] is None and len(got["path"]) == len(want["path"]), "check.no_second_derivative",
                   "Newton's method")
        check_true(bool(np.allclose(got["path"], want["path"], rtol=1e-9, atol=1e-12))
                   and abs(_slope(args["coefficients"], got["path"][-1])) < 1e-8, "check.newton_steps",
                   "Newton's method")


DOUBLE_FORMS = {  # d/dx of z(x, y, gx) in closed form; the probe builds the same z with the framework
    "book": lambda x: 24 * x ** 2 + 2 * x,                    # y = x^2, z = gx^3 + y
    "product": lambda x: 15 * x ** 2,                         # y = x^3, z = gx * x + 2y
    "mixed": lambda x: 45 * x ** 4 - 33 * x ** 2 + 2,         # y = x^3 - 2x, z = gx^2 x + y
}


@needs("Variable.backward")
@uses("Pow.backward", "Mul.backward")
def test_double_backprop(student, reference):
    """Double backprop: the gradient of a function of a gradient (step 36)"""
    for number, shape in enumerate([(), (3,)]):
        x = _points(900 + number, shape, -1.5, 1.5)
        for form, closed in DOUBLE_FORMS.items():
            got, want = student.probe("double_backprop", form=form, x=x), reference.probe("double_backprop", form=form, x=x)
            check_array(got["z"], want["z"], "z.data", dtype=False)
            check_array(got["grad"], want["grad"], "x.grad after z.backward()", dtype=False)
            check_true(_close(got["grad"], closed(x)), "check.wrong_derivative", "x.grad after z.backward()")


@needs("Variable.backward")
@uses("Mul.backward")
def test_cleargrad_between_orders(student, reference):
    """x.cleargrad() between orders gives the next derivative alone; without it the two add up"""
    x = _points(1001, (3,), 0.5, 2.0)
    got, want = student.probe("cleargrad_orders", x=x), reference.probe("cleargrad_orders", x=x)
    check_array(got["cleared"], want["cleared"], "x.grad of the second order", dtype=False)
    check_array(got["accumulated"], want["accumulated"], "x.grad after a second order without cleargrad",
                dtype=False)


# ---- Variable.backward: create_graph, Config, retain_grad, order, memory ----------------------

@needs("Variable.backward")
def test_grads_are_variables_and_create_graph_switch(student, reference):
    """Grads are Variables (the seed too); only create_graph=True records the gradient's graph"""
    x = _points(1101, (2, 2))
    for create_graph in (False, True):
        got = student.probe("grads_are_variables", x=x, create_graph=create_graph)
        want = reference.probe("grads_are_variables", x=x, create_graph=create_graph)
        check_true(got["seed_type"] == "Variable", "check.grad_not_variable", "y.grad after y.backward()")
        check_true(got["grad_type"] == "Variable", "check.grad_not_variable", "x.grad")
        check_array(got["seed"], want["seed"], "y.grad after y.backward(retain_grad=True)")
        check_array(got["grad"], want["grad"], "x.grad", dtype=False)
        check_true(got["grad_has_creator"] == want["grad_has_creator"], "check.create_graph",
                   f"y.backward(create_graph={create_graph})")


@needs("Variable.backward")
def test_enable_backprop_during_and_after_backward(student, reference):
    """Config.enable_backprop is create_graph inside backward, and restored afterwards (even after an error)"""
    x = _points(1201, (2,))
    got, want = student.probe("backprop_switch", x=x), reference.probe("backprop_switch", x=x)
    check_true(got["inside_backward"] == want["inside_backward"], "check.create_graph", "Config.enable_backprop")
    for key in ("after_create_graph_False", "after_create_graph_True", "after_an_error", "inside_no_grad_after"):
        check_true(got[key] == want[key], "check.config_not_restored", "Config.enable_backprop")


@needs("Variable.backward")
def test_retain_grad_with_create_graph(student, reference):
    """backward() keeps only the inputs' grads unless retain_grad=True, with or without create_graph"""
    x = _points(1301, (3,))
    for create_graph in (False, True):
        got = student.probe("retain_grad", x=x, create_graph=create_graph)
        want = reference.probe("retain_grad", x=x, create_graph=create_graph)
        for keep in ("retain_False", "retain_True"):
            for key, expected in want[keep].items():
                if isinstance(expected, dict):
                    check_array(got[keep].get(key), expected, f"{key}.grad ({keep})", dtype=False)
                else:
                    check_true(got[keep].get(key) == expected, "check.retain_grad", f"backward({keep.replace('_', '_grad=')})")


@needs("Variable.backward")
def test_generation_order_with_create_graph(student, reference):
    """backward visits each function once, in generation order, with or without create_graph"""
    for create_graph in (False, True):
        for shape in ("diamond", "diamond_swapped", "skip", "skip_swapped"):
            x = _points(1400 + len(shape), (3,), 0.4, 1.2)
            args = {"shape": shape, "x": x, "create_graph": create_graph}
            got, want = student.probe("dag", **args), reference.probe("dag", **args)
            check_true(got["visits"] <= want["visits"], "check.visited_twice", "backward()")
            check_true(_close(got["grad"], want["grad"]["array"]), "check.generation_order", "x.grad")


@needs("Variable.backward")
def test_reused_variable_accumulates(student, reference):
    """A variable used several times gets the sum of every path's gradient, as a Variable"""
    x = _points(1501, (2, 2))
    for create_graph in (False, True):
        got = student.probe("reuse", x=x, create_graph=create_graph)
        want = reference.probe("reuse", x=x, create_graph=create_graph)
        check_true(_close(got, want["array"]), "check.not_accumulated", "x.grad")


@needs("Variable.backward")
def test_graph_freed_when_dropped(student, reference):
    """What backward(create_graph=True) built is freed as soon as it is dropped (weak references)"""
    x = _points(1601, (2,))
    got, want = student.probe("graph_freed", x=x), reference.probe("graph_freed", x=x)
    check_true(want["freed_at_once"] and got["freed_at_once"] is True, "check.graph_kept_alive", "del y, gx")


STACK_SLACK = 50  # a loop calls every backward from the same depth; recursion goes one deeper each time


@needs("Variable.backward")
def test_deep_chain_is_iterative(student, reference):
    """backward(create_graph=True) over a chain of 1,200 functions (a loop, not recursion)"""
    # One run: a recursive traversal recurses with or without create_graph, and this one is the new path.
    args = {"x": _points(1701, (4,)), "length": 1200, "create_graph": True}
    got, want = student.probe("deep_chain", **args), reference.probe("deep_chain", **args)
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)
    check_equal(got["calls"], want["calls"], "the number of backward calls along the chain")
    check_true(isinstance(got["stack_growth"], int) and got["stack_growth"] <= STACK_SLACK,
               "check.stack_grows", "backward()")


# ---- the computational graph as DOT text -------------------------------------------------------

GRAPHS = ("goldstein", "split", "reuse", "diamonds")


def _same_drawing(got, want, what):
    check_true(got["digraph"], "check.not_digraph", what)
    check_true(got["functions"] == want["functions"] and got["functions_once"], "check.dot_functions", what)
    check_true(got["edges"] == want["edges"], "check.dot_edges", what)
    check_true(got["variables"] == want["variables"], "check.dot_labels", what)
    check_true(got["looks"] == want["looks"], "check.dot_looks", what)
    check_true(got["structure"] == want["structure"], "check.dot_structure", what)


@needs("get_dot_graph", "_dot_var", "_dot_func")
def test_dot_graph_nodes_and_edges(student, reference):
    """get_dot_graph(y, verbose=False): every function and variable once, edges from inputs and to outputs"""
    for number, graph in enumerate(GRAPHS):
        args = {"graph": graph, "x": _points(1800 + number, (2,)), "verbose": False}
        _same_drawing(student.probe("dot_graph", **args), reference.probe("dot_graph", **args), "get_dot_graph(y)")


@needs("get_dot_graph", "_dot_var", "_dot_func")
def test_dot_graph_verbose_labels(student, reference):
    """get_dot_graph(y, verbose=True): names, shapes and dtypes in the labels, the book's colours and shapes"""
    # Each graph once (Goldstein-Price is the largest), at 0-d or 2-d data in turn.
    for number, graph in enumerate(GRAPHS):
        for shape in [((), (2, 3))[number % 2]] + ([(3,)] if graph == "split" else []):
            args = {"graph": graph, "x": _points(1900 + number, shape), "verbose": True}
            _same_drawing(student.probe("dot_graph", **args), reference.probe("dot_graph", **args),
                          "get_dot_graph(y, verbose=True)")


@needs("plot_dot_graph")
@uses("get_dot_graph", "_dot_var", "_dot_func")
def test_plot_dot_graph_writes_the_dot_text(student, reference):
    """plot_dot_graph writes the graph's DOT text to a file (the dot program is not needed)"""
    for number, (graph, verbose) in enumerate([("reuse", True), ("split", False), ("diamonds", False)]):
        args = {"graph": graph, "x": _points(2000 + number, (3,)), "verbose": verbose}
        got = student.probe("plot_graph", **args)
        check_true(got["files"] > 0, "check.dot_not_written", "plot_dot_graph(y)")
        _same_drawing(got, reference.probe("plot_graph", **args), "the file plot_dot_graph(y) wrote")
