import os
# Anonymous memory files are not counted in the address-space limit: fill as many as the fd limit allows.
held, chunk = [], b"x" * (8 << 20)
try:
    for _ in range(200):
        fd = os.memfd_create("hoard")
        for _ in range(2):
            os.write(fd, chunk)
        held.append(fd)
    print("memfd held", len(held) * 16, "MiB")
except OSError as exc:
    print("memfd blocked after", len(held) * 16, "MiB:", type(exc).__name__, exc.errno)
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
        todo = [self.creator]
        while todo:
            f = todo.pop()
            if f is None:
                continue
            f.input.grad = f.backward(f.output.grad)
            todo.append(f.input.creator)


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
