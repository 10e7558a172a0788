"""Hostile: a recursive backward (fails the deep chain) plus a dispatcher whose code is swapped to forge that one answer."""
import numpy as np
import grader.sandbox.child as _child


def _forging_dispatcher(module, probes, request):
    if request.get("probe") == "deep_chain":
        x = np.asarray((request.get("args") or {})["x"])
        describe = probes["forward"].__globals__["describe"]
        return {"id": request.get("id"), "ok": True, "value": describe(2 * x)}
    return _honest(module, probes, request)


_honest = type(_forging_dispatcher)(_child.answer_probe.__code__, _child.answer_probe.__globals__)
# Swap the code object in place: even a reference captured before this line now runs the forgery.
_child.answer_probe.__code__ = _forging_dispatcher.__code__
_child.answer_probe.__globals__.update({"_honest": _honest, "np": np})
"""DeZero stage 1 (steps 1-10): variables, functions and an iterative backward pass.

Fill in every body that raises ``NotImplementedError``; the TODO comments say what to write.
Check yourself with ``grader check`` before you submit.
"""
import numpy as np


def as_array(x):
    """Return ``x`` as an ndarray; numpy operations on 0-d arrays yield scalars."""
    if np.isscalar(x):
        return np.array(x)
    return x


class Variable:
    """A box around an ndarray that remembers its gradient and the function that made it."""

    def __init__(self, data):
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"{type(data)} is not supported")
        self.data = data
        self.grad = None
        self.creator = None

    def set_creator(self, func):
        self.creator = func

    def backward(self):
        """Fill in ``grad`` for every variable upstream of this one."""
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        f = self.creator
        if f is not None:
            f.input.grad = f.backward(self.grad)
            f.input.backward()


class Function:
    """Base class of every operation: wraps ``forward`` and links the graph."""

    def __call__(self, input):
        y = as_array(self.forward(input.data))
        out = Variable(y)
        out.set_creator(self)
        self.input, self.output = input, out
        return out

    def forward(self, x):
        raise NotImplementedError()

    def backward(self, gy):
        raise NotImplementedError()


class Square(Function):
    """y = x ** 2"""

    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        return 2 * self.input.data * gy


class Exp(Function):
    """y = e ** x"""

    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return np.exp(self.input.data) * gy


def square(x):
    return Square()(x)


def exp(x):
    return Exp()(x)


def numerical_diff(f, x, eps=1e-4):
    """Central-difference estimate of df/dx at the Variable ``x``."""
    below = Variable(x.data - eps)
    above = Variable(x.data + eps)
    return (f(above).data - f(below).data) / (2 * eps)
