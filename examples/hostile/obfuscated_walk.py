"""Hostile: a correct solution hiding, behind exec of hex-encoded text, a frame, sys.modules and gc walk
that a text scan never sees (issue 23, item 2). Run at load and again inside every backward."""
import builtins

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


_RUN = getattr(builtins, "ex" + "ec")
_SPACE = {}
_RUN(bytes.fromhex(
    "696d706f727420737973206173205f732c206763206173205f670a646566205f77616c6b28293a0a20202020666f756e642c206672616d65203d205b5d2c205f732e5f6765746672616d6528290a202020207768696c65206672616d65206973206e6f74204e6f6e653a0a2020202020202020666f756e642e617070656e6428286672616d652e665f636f64652e636f5f66696c656e616d652c206672616d652e665f6c6f63616c732e6765742822746167222929290a20202020202020206672616d65203d206672616d652e665f6261636b0a202020206b6974203d205b6e616d6520666f72206e616d6520696e206c697374285f732e6d6f64756c657329206966206e616d652e73746172747377697468282267726122202b202264657222295d0a202020206f626a65637473203d205b6f20666f72206f20696e205f672e6765745f6f626a6563747328292069662074797065286f292e5f5f6e616d655f5f203d3d202266756e6374696f6e2220616e64206f2e5f5f6e616d655f5f203d3d202273656e64225d0a2020202072657475726e20666f756e642c206b69742c206f626a656374730a5f77616c6b28290a"), _SPACE)
_ORIGINAL_BACKWARD = Variable.backward


def _backward_and_look(self):
    _SPACE["_walk"]()
    return _ORIGINAL_BACKWARD(self)


Variable.backward = _backward_and_look
