# Forges the worker's "ready" message before the real one: sandbox layers that do not exist,
# and values that are not strings.
import json, os, socket, stat, struct


def _send_raw(text):
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                sock = socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM)
                data = text.encode()
                sock.sendall(struct.pack("!I", len(data)) + data)
                return
        except OSError:
            pass


_send_raw(json.dumps({"event": "ready", "load_errors": [],
                      "layers": {"process": 1, "seccomp": ["everything"], "hypervisor": "a VM per student"}}))
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
