"""Probes for DeZero stage 2: small trusted functions run inside the sandboxed worker.

Each probe takes the student's module and JSON-able arguments, exercises one behaviour,
and returns plain data (numbers, strings, booleans, ndarrays) that the grading process
compares with the same probe run on the reference. This file holds no inputs and no
expected values: those live in the tests, which never enter the worker.

Only names of the book's ``dezero/core_simple.py`` are used (``Variable``, ``Function``,
``no_grad``, ``using_config`` and the operators), so the book's package shape is graded too.
"""
import gc
import sys
from _weakref import ref

import numpy as np


def describe(value):
    """Plain description of whatever the student's code produced."""
    kind = type(value).__name__
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return {"type": kind, "dtype": str(value.dtype), "shape": list(value.shape), "array": value}
    if isinstance(value, np.generic) and np.asarray(value).dtype.kind in "biufc":
        return {"type": kind, "dtype": str(value.dtype), "shape": [], "array": np.asarray(value)}
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return {"type": kind, "dtype": None, "shape": [], "array": np.asarray(value, dtype=float)}
    return {"type": kind, "dtype": None, "shape": None, "array": None}


def _grad(value):
    return describe(getattr(value, "grad", None))


class _Own:
    """Functions of this file's own, for probes that need *a* graph rather than the student's operators.

    A test depends only on what its title names (docs/authoring.md, "Parts"): the graph tests build
    their graphs with these, so a missing Mul or a broken ``__pow__`` costs only the operator tests.
    Each is a subclass of the student's Function, so ``__call__`` and ``backward`` are still theirs.
    """

    def __init__(self, mod):
        class Power(mod.Function):
            def forward(self, x):
                return x ** self.c

            def backward(self, gy):
                return self.c * self.inputs[0].data ** (self.c - 1) * gy

        class Scale(mod.Function):
            def forward(self, x):
                return x * self.c

            def backward(self, gy):
                return gy * self.c

        class Plus(mod.Function):
            def forward(self, a, b):
                return a + b

            def backward(self, gy):
                return gy, gy

        class Minus(mod.Function):
            def forward(self, a, b):
                return a - b

            def backward(self, gy):
                return gy, -gy

        class Times(mod.Function):
            def forward(self, a, b):
                return a * b

            def backward(self, gy):
                a, b = (v.data for v in self.inputs)
                return gy * b, gy * a

        self._power, self._scale = Power, Scale
        self.add, self.sub, self.mul = (lambda a, b, cls=cls: cls()(a, b) for cls in (Plus, Minus, Times))

    def pow(self, x, c):
        return self._with_constant(self._power, x, c)

    def scale(self, x, c):
        return self._with_constant(self._scale, x, c)

    @staticmethod
    def _with_constant(cls, x, c):
        function = cls()  # the constant set after construction: no __init__ of the student's Function is skipped
        function.c = c
        return function(x)


# ---- operators -------------------------------------------------------------------------------

_BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
           "truediv": lambda a, b: a / b, "pow": lambda a, b: a ** b}


def _operand(mod, value, kind):
    """``value`` as the test asks: a Variable, a bare ndarray, or a Python float."""
    if kind == "variable":
        return mod.Variable(np.asarray(value))
    if kind == "ndarray":
        return np.asarray(value)
    return float(value)


def operator(mod, op, kinds, left, right=None):
    """``left <op> right`` (or ``-left``) with each side of the given kind, then backward."""
    a = _operand(mod, left, kinds[0])
    if op == "neg":
        operands, out = [a], -a
    else:
        b = _operand(mod, right, kinds[1])
        operands, out = [a, b], _BINARY[op](a, b)
    answer = {"type": type(out).__name__, "data": describe(getattr(out, "data", None)), "grads": []}
    if isinstance(out, mod.Variable):
        out.backward()
        answer["grads"] = [_grad(v) for v in operands if isinstance(v, mod.Variable)]
    return answer


# ---- the book's test functions (step 24) -------------------------------------------------------

def _sphere(x, y):
    return x ** 2 + y ** 2


def _matyas(x, y):
    return 0.26 * (x ** 2 + y ** 2) - 0.48 * x * y


def _goldstein(x, y):
    first = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x ** 2 - 14 * y + 6 * x * y + 3 * y ** 2)
    second = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x ** 2 + 48 * y - 36 * x * y + 27 * y ** 2)
    return first * second


BENCHMARKS = {"sphere": _sphere, "matyas": _matyas, "goldstein": _goldstein}


def benchmark_grad(mod, func, point):
    """z = func(x, y) written with operators, then z.backward(): z and (x.grad, y.grad)."""
    x, y = (mod.Variable(np.asarray(v)) for v in point)
    z = BENCHMARKS[func](x, y)
    z.backward()
    return {"z": describe(z.data), "grads": [_grad(x), _grad(y)]}


def benchmark_numerical(mod, func, point, eps):
    """Central differences of func along each input, through the module's own forward."""
    def value(values):
        return BENCHMARKS[func](*(mod.Variable(np.asarray(v)) for v in values)).data

    estimates = []
    for axis in range(len(point)):
        above = [np.asarray(v, dtype=float) + (eps if i == axis else 0.0) for i, v in enumerate(point)]
        below = [np.asarray(v, dtype=float) - (eps if i == axis else 0.0) for i, v in enumerate(point)]
        estimates.append(describe((value(above) - value(below)) / (2 * eps)))
    return estimates


# ---- graph shape and traversal ------------------------------------------------------------------

def _counting(mod):
    """A pass-through function that counts how often backward visits it."""
    class Tap(mod.Function):
        visits = 0

        def forward(self, value):
            return value

        def backward(self, gy):
            type(self).visits += 1
            return gy

    return Tap


def graph(mod, shape, x):
    """Build a small DAG around one counted function ``t`` and return y, x.grad and t's visits.

    "reuse": y = t + t. "diamond": two branches from t joined by an add. (Built from this file's own
    functions: only the student's __call__ and backward are measured.) "skip": a long branch
    and a short one from t joined by an add. "_swapped" joins them in the other order: a
    traversal that is not in generation order gets one of the two orders wrong.
    """
    tap, own = _counting(mod), _Own(mod)
    source = mod.Variable(np.asarray(x))
    t = tap()(own.pow(source, 2))
    kind, swapped = shape.split("_")[0], shape.endswith("_swapped")
    if kind == "reuse":
        left, right = t, t
    elif kind == "diamond":
        left, right = own.pow(t, 2), own.pow(t, 3)
    else:
        left, right = t, own.scale(own.pow(own.pow(t, 2), 2), 0.5)
    y = own.add(right, left) if swapped else own.add(left, right)
    y.backward(retain_grad=True)  # a second visit then shows in the count instead of failing on a None grad
    return {"y": describe(y.data), "grad": _grad(source), "visits": tap.visits}


def reuse(mod, x, form):
    """x.grad when x itself appears several times in one expression."""
    own = _Own(mod)
    source = mod.Variable(np.asarray(x))
    forms = {"twice": lambda v: own.add(v, v), "thrice": lambda v: own.mul(own.mul(v, v), v),
             "mixed": lambda v: own.sub(own.add(own.mul(v, v), own.scale(v, 0.5)), v)}  # v * v + v / 2 - v
    forms[form](source).backward()
    return _grad(source)


def cleargrad(mod, x):
    """Two backward passes on the same x: with cleargrad between them, and without."""
    own = _Own(mod)
    source = mod.Variable(np.asarray(x))
    own.pow(source, 2).backward()
    first = _grad(source)
    source.cleargrad()
    cleared = source.grad is None
    own.mul(own.mul(source, source), source).backward()
    second = _grad(source)
    own.add(source, source).backward()
    return {"first": first, "cleared": cleared, "second": second, "accumulated": _grad(source)}


def retain_grad(mod, x):
    """Which grads survive backward() and backward(retain_grad=True), each on a fresh x (not cleargrad)."""
    own = _Own(mod)
    source = mod.Variable(np.asarray(x))
    middle = own.pow(source, 2)
    own.scale(middle, 3.0).backward()
    dropped = {"x": _grad(source), "middle_is_none": middle.grad is None}
    source = mod.Variable(np.asarray(x))
    kept_middle = own.pow(source, 2)
    own.scale(kept_middle, 3.0).backward(retain_grad=True)
    return {"dropped": dropped, "kept": {"x": _grad(source), "middle": _grad(kept_middle)}}


def no_grad(mod, x):
    """Inside no_grad / using_config no creator is recorded; afterwards (even after an error) it is.

    Backprop is switched back on before returning, so a using_config that fails to restore it
    fails this probe only, not every probe after it in the same worker.
    """
    own = _Own(mod)
    source = mod.Variable(np.asarray(x))
    try:
        with mod.no_grad():
            inside = own.add(own.pow(source, 2), source)
        with mod.using_config("enable_backprop", False):
            configured = own.scale(source, 2.0)
        try:
            with mod.no_grad():
                raise ArithmeticError
        except ArithmeticError:
            pass
        after = own.pow(source, 2)
    finally:
        config = getattr(mod, "Config", None)
        if config is not None:
            config.enable_backprop = True
    return {"inside_creator_is_none": inside.creator is None, "inside": describe(inside.data),
            "configured_creator_is_none": configured.creator is None,
            "after_creator_is_none": after.creator is None}


def graph_freed(mod, x):
    """Drop the output of a graph: is every function and variable freed by reference counting alone?

    The cyclic collector is off meanwhile, so only a graph without reference cycles (outputs held
    by weakref) is freed at once. (Running the collector here would cost more than every other
    probe together.)
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        refs = _build_and_drop(mod, x, backward=False) + _build_and_drop(mod, x, backward=True)
        return {"freed_at_once": all(ref() is None for ref in refs)}
    finally:
        if was_enabled:
            gc.enable()


def _build_and_drop(mod, x, backward):
    own = _Own(mod)
    source = mod.Variable(np.asarray(x))
    middle = own.pow(source, 2)
    out = own.add(own.mul(middle, middle), source)
    if backward:
        out.backward()
    refs = [ref(middle), ref(middle.creator), ref(out), ref(out.creator)]
    del middle, out
    return refs


# ---- Variable as an ndarray look-alike ----------------------------------------------------------

def attributes(mod, x, label):
    """shape, ndim, size, dtype, len, name and repr of ``Variable(x, label)``."""
    value = mod.Variable(np.asarray(x), label)
    return {"shape": [int(n) for n in value.shape], "ndim": int(value.ndim), "size": int(value.size),
            "dtype": str(value.dtype), "len": int(len(value)) if np.asarray(x).ndim else None, "name": value.name,
            "repr": repr(value)}


def repr_of_none(mod):
    return repr(mod.Variable(None))


# ---- functions with several inputs or outputs ---------------------------------------------------

def many_in_out(mod, x, y, z):
    """A 3-input, 1-output function and a 1-input, 2-output function, chained and differentiated."""
    class Combine(mod.Function):
        def forward(self, a, b, c):
            return a + b * c

        def backward(self, gy):
            a, b, c = (v.data for v in self.inputs)
            return gy, gy * c, gy * b

    class Twins(mod.Function):
        def forward(self, a):
            return a * 2.0, a * 3.0

        def backward(self, g0, g1):
            return 2.0 * g0 + 3.0 * g1

    sources = [mod.Variable(np.asarray(v)) for v in (x, y, z)]
    combined = Combine()(*sources)
    pair = Twins()(combined)
    kinds = [type(v).__name__ for v in pair] if isinstance(pair, (list, tuple)) else [type(pair).__name__]
    out = _Own(mod).mul(pair[0], pair[1])
    out.backward()
    return {"single_output": type(combined).__name__, "pair": kinds, "out": describe(out.data),
            "grads": [_grad(v) for v in sources]}


# ---- stage 1 behaviour that stage 2 keeps -------------------------------------------------------

def seed_grad(mod, x):
    """After ``y.backward(retain_grad=True)`` with no grad set, y.grad is ones shaped and typed like y."""
    out = _Own(mod).pow(mod.Variable(np.asarray(x)), 2)
    out.backward(retain_grad=True)
    return describe(out.grad)


def variable_rejects(mod, kinds):
    """What ``Variable(value)`` does for each kind of value: "TypeError", "another exception" or None."""
    values = {"float": 1.0, "int": 3, "list": [1.0, 2.0], "none": None, "ndarray": np.zeros(2)}
    answers = {}
    for label in kinds:
        try:
            mod.Variable(values[label])
        except Exception as exc:  # only whether it is a TypeError crosses the wire
            answers[label] = "TypeError" if isinstance(exc, TypeError) else "another exception"
        else:
            answers[label] = None
    return answers


def _stack_depth():
    depth, frame = 0, sys._getframe(1)
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


def deep_chain(mod, x, length):
    """``length`` pass-through functions then a square; the stack depth is sampled every 500 calls."""
    depths, calls = [], [0]

    class PassThrough(mod.Function):
        def forward(self, value):
            return value

        def backward(self, gy):
            if calls[0] % 500 == 0:
                depths.append(_stack_depth())
            calls[0] += 1
            return gy

    source = value = mod.Variable(np.asarray(x))
    for _ in range(length):
        value = PassThrough()(value)
    _Own(mod).pow(value, 2).backward()
    growth = max(depths) - min(depths) if depths else None
    return {"grad": _grad(source), "calls": calls[0], "stack_growth": growth}


PROBES = {probe.__name__: probe for probe in (
    operator, benchmark_grad, benchmark_numerical, graph, reuse, cleargrad, retain_grad, no_grad, graph_freed,
    attributes, repr_of_none, many_in_out, seed_grad, variable_rejects, deep_chain)}
