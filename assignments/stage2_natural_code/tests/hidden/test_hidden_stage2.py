"""Hidden tests: run at grading only. Messages name the property, never inputs or expected values.

Each test declares the parts of the student's code it measures (``needs``, what its title names)
and the others it relies on (``uses``); `grader selftest` proves both (docs/selftest.md). Graphs
that are not about operators are built from the probes' own functions.
"""
import numpy as np
import pytest

from grader.checks import check_array, check_equal, check_true

GRAPH = ("Function.__call__", "Variable.set_creator")  # every function call that records the graph
BACKWARD = "Variable.backward"

OPERATORS = ["add", "sub", "mul", "truediv"]
# Every side a constant can sit on; an ndarray on the left has its own test (__array_priority__).
SIDES = [("variable", "variable"), ("variable", "float"), ("float", "variable"), ("variable", "ndarray")]


def _points(seed, shape=(), low=-1.5, high=1.5):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def _close(got, want):
    """Same shape and values (a property check that names the bug rather than got vs expected)."""
    return got["array"] is not None and np.shape(got["array"]) == np.shape(want["array"]) \
        and bool(np.allclose(got["array"], want["array"]))


def _same_answer(got, want, what, rtol=1e-6):
    check_equal(got["type"], want["type"], f"type({what})")
    check_array(got["data"], want["data"], f"({what}).data", dtype=False, rtol=rtol)
    check_equal(len(got["grads"]), len(want["grads"]), f"the gradients of {what}")
    for number, (mine, theirs) in enumerate(zip(got["grads"], want["grads"])):
        check_array(mine, theirs, f"operand {number + 1}.grad of {what}", dtype=False, rtol=rtol)


@pytest.mark.needs("setup_variable", "Mul", "Sub", "Div", "rsub", "rdiv")
@pytest.mark.uses(*GRAPH, BACKWARD)
def test_operators_with_constants_on_either_side(student, reference):
    """Every operator with Variables, floats and ndarrays on either side"""
    for number, op in enumerate(OPERATORS):
        for sides in SIDES:
            shape = () if "float" in sides else (3,)
            left, right = _points(100 + number, shape), _points(200 + number, shape, 0.5, 2.0)
            args = {"op": op, "kinds": list(sides), "left": left, "right": right}
            _same_answer(student.probe("operator", **args), reference.probe("operator", **args),
                         f"{sides[0]} {op} {sides[1]}")


@pytest.mark.needs("setup_variable", "Neg", "Pow")
@pytest.mark.uses(*GRAPH, BACKWARD)
def test_neg_and_pow(student, reference):
    """-x and x ** c, values and gradients"""
    x = _points(301, (2, 3), 0.3, 2.0)
    _same_answer(student.probe("operator", op="neg", kinds=["variable"], left=x),
                 reference.probe("operator", op="neg", kinds=["variable"], left=x), "-x")
    for exponent in (2.0, 3.0, 0.5, -1.0):
        args = {"op": "pow", "kinds": ["variable", "float"], "left": x, "right": np.array(exponent)}
        _same_answer(student.probe("operator", **args), reference.probe("operator", **args), "x ** c")


@pytest.mark.needs("setup_variable")
@pytest.mark.uses("Mul", "Sub", "Div", "rsub", "rdiv", *GRAPH, BACKWARD)
def test_ndarray_on_the_left_gives_a_variable(student, reference):
    """ndarray <op> Variable returns a Variable (__array_priority__)"""
    for number, op in enumerate(OPERATORS):
        args = {"op": op, "kinds": ["ndarray", "variable"], "left": _points(400 + number, (4,)),
                "right": _points(410 + number, (4,), 0.5, 2.0)}
        got = student.probe("operator", **args)
        check_true(got["type"] == "Variable", "check.array_priority", f"np.array(...) {op} Variable")
        _same_answer(got, reference.probe("operator", **args), f"ndarray {op} Variable")


@pytest.mark.needs("setup_variable", "Mul", "Sub", "rsub", "Pow", BACKWARD)
@pytest.mark.uses(*GRAPH)
def test_benchmark_functions_match_reference(student, reference):
    """sphere, matyas and Goldstein-Price: values and gradients at random points"""
    for func in ("sphere", "matyas", "goldstein"):
        for seed in range(3):
            point = [float(v) for v in _points(500 + seed, (2,), -2.0, 2.0)]
            got, want = student.probe("benchmark_grad", func=func, point=point), \
                reference.probe("benchmark_grad", func=func, point=point)
            check_array(got["z"], want["z"], f"{func}(x, y).data", dtype=False, rtol=1e-9)
            for axis, name in enumerate("xy"):
                check_array(got["grads"][axis], want["grads"][axis], f"{name}.grad of {func}", dtype=False,
                            rtol=1e-9)


@pytest.mark.needs("setup_variable", "Mul", "Sub", "rsub", "Pow", BACKWARD)
@pytest.mark.uses(*GRAPH)
def test_benchmark_gradients_match_numerical_diff(student, reference):
    """sphere, matyas and Goldstein-Price: gradients agree with central differences"""
    for func in ("sphere", "matyas", "goldstein"):
        point = [float(v) for v in _points(600 + len(func), (2,), -1.5, 1.5)]
        got = student.probe("benchmark_grad", func=func, point=point)
        estimates = reference.probe("benchmark_numerical", func=func, point=point, eps=1e-5)
        for axis, name in enumerate("xy"):
            check_array(got["grads"][axis], estimates[axis], f"{name}.grad of {func} vs numerical_diff",
                        dtype=False, rtol=1e-4, atol=1e-5)


@pytest.mark.needs(BACKWARD, "Variable.set_creator")
@pytest.mark.uses("Function.__call__")
def test_generation_order_on_dags(student, reference):
    """backward visits each function once, in generation order, on branching graphs"""
    for shape in ("reuse", "diamond", "diamond_swapped", "skip", "skip_swapped"):
        x = _points(700 + len(shape), (3,), 0.4, 1.2)
        got, want = student.probe("graph", shape=shape, x=x), reference.probe("graph", shape=shape, x=x)
        check_true(got["visits"] <= want["visits"], "check.visited_twice", "backward()")
        check_array(got["y"], want["y"], "y.data", dtype=False)
        check_true(_close(got["grad"], want["grad"]), "check.generation_order", "x.grad")


@pytest.mark.needs(BACKWARD)
@pytest.mark.uses(*GRAPH)
def test_reused_variable_accumulates(student, reference):
    """A variable used several times gets the sum of every path's gradient"""
    for form in ("twice", "thrice", "mixed"):
        x = _points(800 + len(form), (2, 2), 0.5, 1.5)
        got, want = student.probe("reuse", x=x, form=form), reference.probe("reuse", x=x, form=form)
        check_true(_close(got, want), "check.not_accumulated", "x.grad")


@pytest.mark.needs("Variable.cleargrad", BACKWARD)
@pytest.mark.uses(*GRAPH)
def test_cleargrad_between_passes(student, reference):
    """cleargrad() resets x.grad between two backward passes; without it they add up"""
    x = _points(901, (3,), 0.5, 1.5)
    got, want = student.probe("cleargrad", x=x), reference.probe("cleargrad", x=x)
    check_array(got["first"], want["first"], "x.grad after the first pass", dtype=False)
    check_equal(got["cleared"], want["cleared"], "x.grad is None after x.cleargrad()")
    check_array(got["second"], want["second"], "x.grad after cleargrad and a second pass", dtype=False)
    check_array(got["accumulated"], want["accumulated"], "x.grad after a third pass without cleargrad",
                dtype=False)


@pytest.mark.needs(BACKWARD)
@pytest.mark.uses(*GRAPH)
def test_retain_grad_false_frees_intermediate_grads(student, reference):
    """backward() keeps only the inputs' grads unless retain_grad=True"""
    x = _points(1001, (2,), 0.5, 1.5)
    got, want = student.probe("retain_grad", x=x), reference.probe("retain_grad", x=x)
    check_array(got["dropped"]["x"], want["dropped"]["x"], "x.grad", dtype=False)
    check_equal(got["dropped"]["middle_is_none"], want["dropped"]["middle_is_none"],
                "the intermediate grad is None after backward()")
    check_array(got["kept"]["x"], want["kept"]["x"], "x.grad with retain_grad=True", dtype=False)
    check_array(got["kept"]["middle"], want["kept"]["middle"], "the intermediate grad with retain_grad=True",
                dtype=False)


@pytest.mark.needs("using_config", "Function.__call__")
@pytest.mark.uses("Variable.set_creator")
def test_no_grad_builds_no_graph(student, reference):
    """no_grad() and using_config record no creator, and restore the setting afterwards"""
    x = _points(1101, (3,))
    got, want = student.probe("no_grad", x=x), reference.probe("no_grad", x=x)
    check_array(got.pop("inside"), want.pop("inside"), "the value computed under no_grad()", dtype=False)
    for key, expected in want.items():
        check_equal(got.get(key), expected, key)


@pytest.mark.needs("Function.__call__")
@pytest.mark.uses("Variable.set_creator", BACKWARD)
def test_graph_freed_when_output_dropped(student, reference):
    """Dropping the output frees the whole graph at once (outputs held by weakref)"""
    x = _points(1201, (2,))
    got, want = student.probe("graph_freed", x=x), reference.probe("graph_freed", x=x)
    check_true(got["freed_at_once"] == want["freed_at_once"], "check.graph_kept_alive", "del y")


@pytest.mark.needs("Variable.__init__", "Variable.__repr__")
def test_variable_attributes_and_repr(student, reference):
    """shape, ndim, size, dtype, len, name and repr of a Variable"""
    cases = [(np.arange(6.0).reshape(2, 3), "weights"), (np.array([1, 2, 3]), None),
             (_points(1301, ()), "loss"), (np.arange(8, dtype=np.float32).reshape(2, 2, 2), None)]
    for data, name in cases:
        got, want = student.probe("attributes", x=data, label=name), reference.probe("attributes", x=data, label=name)
        for key, expected in want.items():
            check_equal(got.get(key), expected, f"Variable(...).{key}" if key != "repr" else "repr(Variable(...))")
    check_equal(student.probe("repr_of_none"), reference.probe("repr_of_none"), "repr(Variable(None))")


@pytest.mark.needs("Function.__call__", BACKWARD)
@pytest.mark.uses("Variable.set_creator")
def test_functions_with_several_inputs_and_outputs(student, reference):
    """Function.__call__ takes any number of inputs and returns a list for several outputs"""
    x, y, z = (_points(1400 + i, (3,)) for i in range(3))
    got, want = student.probe("many_in_out", x=x, y=y, z=z), reference.probe("many_in_out", x=x, y=y, z=z)
    check_equal(got["single_output"], want["single_output"], "type(f(x, y, z)) for one output")
    check_equal(got["pair"], want["pair"], "the outputs of a two-output function")
    check_array(got["out"], want["out"], "y0 * y1", dtype=False)
    for name, mine, theirs in zip("xyz", got["grads"], want["grads"]):
        check_array(mine, theirs, f"{name}.grad", dtype=False)


@pytest.mark.needs(BACKWARD)
@pytest.mark.uses(*GRAPH)
def test_backward_seeds_ones_like(student, reference):
    """backward() with no grad set seeds np.ones_like(data)"""
    for dtype in (np.float64, np.float32):
        x = _points(1501, (2, 3)).astype(dtype)
        check_array(student.probe("seed_grad", x=x), reference.probe("seed_grad", x=x), "y.grad", ndarray=True)


@pytest.mark.needs("Variable.__init__")
def test_variable_rejects_non_arrays(student, reference):
    """Variable(data) raises TypeError unless data is an ndarray or None"""
    kinds = ["float", "int", "list", "none", "ndarray"]
    got, want = student.probe("variable_rejects", kinds=kinds), reference.probe("variable_rejects", kinds=kinds)
    for kind in kinds:
        check_equal(got.get(kind), want[kind], f"Variable(<{kind}>)")


STACK_SLACK = 50  # a loop calls every backward from the same depth; recursion goes one deeper each time


@pytest.mark.needs(BACKWARD)
@pytest.mark.uses(*GRAPH)
def test_deep_chain_is_iterative(student, reference):
    """backward over a chain of 1,200 functions (a loop, not recursion)"""
    # The stack depth is sampled every 500 calls, so 1,200 functions show recursion as growth of ~500.
    args = {"x": _points(1601, (4,)), "length": 1200}
    got, want = student.probe("deep_chain", **args), reference.probe("deep_chain", **args)
    check_array(got["grad"], want["grad"], "x.grad", dtype=False)
    check_equal(got["calls"], want["calls"], "the number of backward calls along the chain")
    check_true(isinstance(got["stack_growth"], int) and got["stack_growth"] <= STACK_SLACK,
               "check.stack_grows", "backward()")
