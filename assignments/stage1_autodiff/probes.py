"""Probes for DeZero stage 1: small trusted functions run inside the sandboxed worker.

Each probe takes the student's module and JSON-able arguments, exercises one behaviour,
and returns plain data (numbers, strings, booleans, ndarrays) that the grading process
compares with the same probe run on the reference. This file holds no inputs and no
expected values: those live in the tests, which never enter the worker.
"""
import sys

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


def _apply(mod, func, x):
    """Run ``func`` ("square", "exp", "Square" or "Exp") on a fresh Variable holding ``x``."""
    source = mod.Variable(x)
    if func[0].isupper():
        return source, getattr(mod, func)()(source)
    return source, getattr(mod, func)(source)


# This file's own functions, for tests that need *a* function rather than the student's Square or
# Exp: a test depends only on what its title names (docs/authoring.md, "Parts").
_OWN = {"square": (np.square, lambda x: 2 * x), "exp": (np.exp, np.exp)}


def _own_function(mod, name):
    """A Function subclass of this file's own: y = x ** 2 ("square") or y = e ** x ("exp")."""
    value, derivative = _OWN[name]

    class Own(mod.Function):
        def forward(self, x):
            return value(x)

        def backward(self, gy):
            return derivative(self.input.data) * gy

    Own.__name__ = Own.__qualname__ = f"Own{name.title()}"
    return Own


def forward(mod, func, x):
    _, out = _apply(mod, func, x)
    return {"output_type": type(out).__name__, "is_variable": isinstance(out, mod.Variable),
            "data": describe(getattr(out, "data", None))}


def backward_alone(mod, cls, x, gy):
    """Call ``cls.backward(gy)`` on a function set up as the spec's ``__call__`` leaves it.

    ``input`` and ``output`` are set here, not by the student's ``__call__``, so this tests
    ``backward`` alone; ``output`` holds the student's own forward result, because DeZero's
    later ``Exp.backward`` reads ``self.output.data``.
    """
    fn = getattr(mod, cls)()
    fn.input = mod.Variable(x)
    try:
        fn.output = mod.Variable(np.asarray(fn.forward(x)))
    except Exception:  # a broken forward is graded by the forward tests, not here
        pass
    return describe(fn.backward(gy))


def composite_grad(mod, x):
    """square(exp(square(x))), then backward from the output."""
    source = mod.Variable(x)
    out = mod.square(mod.exp(mod.square(source)))
    out.backward()
    return {"y": describe(out.data), "grad": describe(source.grad)}


def grad(mod, funcs, x):
    """Apply ``funcs`` in order (e.g. ["square", "exp"]), call backward, return x.grad."""
    source = value = mod.Variable(x)
    for func in funcs:
        value = getattr(mod, func)(value)
    value.backward()
    return describe(source.grad)


def numerical_grad(mod, funcs, x):
    """The module's own central-difference estimate for the same chain."""
    def chain(variable):
        for func in funcs:
            variable = getattr(mod, func)(variable)
        return variable
    return describe(mod.numerical_diff(chain, mod.Variable(x)))


def central_difference(mod, func, x):
    """``numerical_diff`` of a plain function of this file's own (x ** 2 or e ** x, no Function involved)."""
    value = _OWN[func][0]

    def f(variable):
        if not isinstance(variable, mod.Variable):  # an ndarray has a .data too (a memoryview)
            raise TypeError("numerical_diff must call f with a Variable")
        return mod.Variable(value(variable.data))

    return describe(mod.numerical_diff(f, mod.Variable(x)))


def seed_grad(mod, x):
    """After ``y.backward()`` with no grad set, y.grad must be ones shaped and typed like y.data."""
    out = _own_function(mod, "square")()(mod.Variable(x))
    out.backward()
    return describe(out.grad)


def graph_links(mod, x):
    """Who created what: the links ``__call__`` must record for a two-step chain."""
    first, second = _own_function(mod, "square"), _own_function(mod, "exp")
    source = mod.Variable(x)
    middle = first()(source)
    out = second()(middle)
    return {
        "source_creator_is_none": source.creator is None,
        "middle_creator": type(middle.creator).__name__,
        "out_creator": type(out.creator).__name__,
        "middle_creator_input_is_source": getattr(middle.creator, "input", None) is source,
        "middle_creator_output_is_middle": getattr(middle.creator, "output", None) is middle,
        "out_creator_input_is_middle": getattr(out.creator, "input", None) is middle,
        "out_creator_output_is_out": getattr(out.creator, "output", None) is out,
        # Depends on the hidden input, so a forged reply cannot simply guess the booleans above.
        "out_creator_input_data": describe(getattr(getattr(out.creator, "input", None), "data", None)),
    }


def wraps_scalar(mod, func, x):
    """``__call__`` on a function whose forward returns a numpy scalar (what x ** 2 gives for a 0-d x)."""
    out = _own_function(mod, func)()(mod.Variable(x))
    return {"output_type": type(out).__name__, "is_variable": isinstance(out, mod.Variable),
            "data": describe(getattr(out, "data", None))}


def _stack_depth():
    depth, frame = 0, sys._getframe(1)
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


def deep_chain(mod, x, length):
    """``length`` pass-through functions then a square of this file's own, and how the stack grew along the chain.

    Every 500th pass-through ``backward`` records the interpreter's stack depth (sampled: walking
    the stack on each of thousands of calls would cost milliseconds per submission): a loop calls them
    all from the same depth, a recursive traversal one level deeper each time, whatever recursion
    limit the submission set.
    """
    depths, calls = [], [0]

    class PassThrough(mod.Function):
        def forward(self, value):
            return value

        def backward(self, gy):
            if calls[0] % 500 == 0:
                depths.append(_stack_depth())
            calls[0] += 1
            return gy

    source = value = mod.Variable(x)
    for _ in range(length):
        value = PassThrough()(value)
    out = _own_function(mod, "square")()(value)  # so x.grad is not just ones
    out.backward()
    growth = max(depths) - min(depths) if depths else None
    return {"grad": describe(source.grad), "calls": calls[0], "stack_growth": growth}


def variable_rejects(mod, kinds):
    """What ``Variable(value)`` does for each kind of value: "TypeError", "another exception" or None."""
    values = {"float": 1.0, "int": 3, "list": [1.0, 2.0], "none": None, "ndarray": np.zeros(2)}
    answers = {}
    for label in kinds:
        try:
            mod.Variable(values[label])
        except Exception as exc:  # only whether it is a TypeError (what step 9 asks for) crosses the wire
            answers[label] = "TypeError" if isinstance(exc, TypeError) else "another exception"
        else:
            answers[label] = None
    return answers


PROBES = {probe.__name__: probe for probe in (
    forward, backward_alone, composite_grad, grad, numerical_grad, central_difference, seed_grad, graph_links,
    wraps_scalar, deep_chain, variable_rejects)}
