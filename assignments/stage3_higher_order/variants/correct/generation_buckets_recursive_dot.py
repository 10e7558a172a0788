"""Correct variant: backward keeps the pending functions in buckets by generation and takes the highest
bucket next; get_dot_graph walks the graph depth first with a recursive helper and str.format."""
import contextlib
import heapq
import itertools
import os
import shutil
import subprocess
import weakref

import numpy as np


# ==== dezero/__init__.py: the core (steps 1-24 given; backward with create_graph, step 32) ======

class Config:
    """Switches shared by every function: with enable_backprop off no graph is recorded."""

    enable_backprop = True


@contextlib.contextmanager
def using_config(name, value):
    """Set ``Config.<name>`` to ``value`` inside a ``with`` block, and restore it afterwards."""
    saved = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, saved)


def no_grad():
    """``with no_grad():`` computes values without recording the graph."""
    return using_config("enable_backprop", False)


def as_array(x):
    """Return ``x`` as an ndarray; numpy operations on 0-d arrays yield scalars."""
    if np.isscalar(x):
        return np.array(x)
    return x


def as_variable(obj):
    """Wrap anything that is not yet a Variable (an ndarray) in one."""
    if isinstance(obj, Variable):
        return obj
    return Variable(obj)


class Variable:
    """An ndarray with a name, a gradient (itself a Variable) and the function that made it."""

    def __init__(self, data, name=None):
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"Variable needs an np.ndarray, not {type(data).__name__}")
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        if self.data is None:
            return "variable(None)"
        body = str(self.data).replace("\n", "\n" + " " * len("variable("))
        return f"variable({body})"

    def set_creator(self, func):
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self):
        self.grad = None

    def backward(self, retain_grad=False, create_graph=False):
        """Fill in ``grad`` for every variable upstream of this one; with ``create_graph`` the
        gradients are computed with Variables, so they can be differentiated again."""
        if self.grad is None:
            self.grad = Variable(np.ones_like(self.data))
        buckets, queued = {}, set()

        def enqueue(func):
            if func is not None and func not in queued:
                queued.add(func)
                buckets.setdefault(func.generation, []).append(func)

        enqueue(self.creator)
        while buckets:
            generation = max(buckets)
            func = buckets[generation].pop()
            if not buckets[generation]:
                del buckets[generation]
            grads_out = [ref().grad for ref in func.outputs]
            with using_config("enable_backprop", create_graph):
                grads_in = func.backward(*grads_out)
                if not isinstance(grads_in, tuple):
                    grads_in = (grads_in,)
                for source, grad in zip(func.inputs, grads_in):
                    if source.grad is not None:
                        grad = source.grad + grad
                    source.grad = grad
                    enqueue(source.creator)
            if not retain_grad:
                for ref in func.outputs:
                    ref().grad = None


class Function:
    """Base class of every operation: any number of inputs and outputs, linked into the graph."""

    def __call__(self, *inputs):
        inputs = [as_variable(item) for item in inputs]
        results = self.forward(*[item.data for item in inputs])
        if not isinstance(results, tuple):
            results = (results,)
        outputs = [Variable(as_array(result)) for result in results]
        if Config.enable_backprop:
            self.generation = max(item.generation for item in inputs)
            for output in outputs:
                output.set_creator(self)
            self.inputs = inputs
            self.outputs = [weakref.ref(output) for output in outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    def forward(self, *xs):
        raise NotImplementedError()

    def backward(self, *gys):
        raise NotImplementedError()


class Add(Function):
    """y = x0 + x1. Its backward already works on Variables: it only passes gy on."""

    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        return gy, gy


class Mul(Function):
    """y = x0 * x1"""

    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        left, right = self.inputs
        return gy * right, gy * left


class Neg(Function):
    """y = -x"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Sub(Function):
    """y = x0 - x1"""

    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        return gy, -gy


class Div(Function):
    """y = x0 / x1"""

    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        numerator, denominator = self.inputs
        return gy / denominator, gy * (-numerator / denominator ** 2)


class Pow(Function):
    """y = x ** c for a constant c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        (base,) = self.inputs
        return self.c * base ** (self.c - 1) * gy


def add(x0, x1):
    return Add()(x0, as_array(x1))


def mul(x0, x1):
    return Mul()(x0, as_array(x1))


def neg(x):
    return Neg()(x)


def sub(x0, x1):
    return Sub()(x0, as_array(x1))


def rsub(x0, x1):
    return Sub()(as_array(x1), x0)


def div(x0, x1):
    return Div()(x0, as_array(x1))


def rdiv(x0, x1):
    return Div()(as_array(x1), x0)


def pow(x, c):  # noqa: A001 - the book's name
    return Pow(c)(x)


def setup_variable():
    """Give Variable its operators, so formulas read like numpy code."""
    operators = {"__add__": add, "__radd__": add, "__mul__": mul, "__rmul__": mul, "__neg__": neg,
                 "__sub__": sub, "__rsub__": rsub, "__truediv__": div, "__rtruediv__": rdiv, "__pow__": pow}
    for name, function in operators.items():
        setattr(Variable, name, function)
    Variable.__array_priority__ = 200


setup_variable()


# ==== dezero/functions.py: sin, cos and tanh (steps 27, 34 and 35) =============================

class Sin(Function):
    """y = sin(x)"""

    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * cos(x)


def sin(x):
    return Sin()(x)


class Cos(Function):
    """y = cos(x)"""

    def forward(self, x):
        return np.cos(x)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * -sin(x)


def cos(x):
    return Cos()(x)


class Tanh(Function):
    """y = tanh(x)"""

    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        y = self.outputs[0]()
        return gy * (1 - y * y)


def tanh(x):
    return Tanh()(x)


# ==== dezero/utils.py: the graph in Graphviz's DOT language (step 26) ==========================

def _dot_var(v, verbose=False):
    text = v.name if v.name is not None else ""
    if verbose and v.data is not None:
        text = "{}{}{} {}".format(text, ": " if v.name is not None else "", v.shape, v.dtype)
    return '{} [label="{}", color=orange, style=filled]\n'.format(id(v), text)


def _dot_func(f):
    node = '{} [label="{}", color=lightblue, style=filled, shape=box]\n'.format(id(f), type(f).__name__)
    into = "".join("{} -> {}\n".format(id(x), id(f)) for x in f.inputs)
    out = "".join("{} -> {}\n".format(id(f), id(y())) for y in f.outputs)
    return node + into + out


def get_dot_graph(output, verbose=True):
    """Depth-first and recursive: a computational graph is shallow enough for Python's stack."""
    visited = set()

    def walk(func):
        if func is None or func in visited:
            return ""
        visited.add(func)
        text = _dot_func(func)
        for x in func.inputs:
            text += _dot_var(x, verbose) + walk(x.creator)
        return text

    return "digraph g {\n" + _dot_var(output, verbose) + walk(output.creator) + "}"


def plot_dot_graph(output, verbose=True, to_file="graph.png"):
    """Write the DOT text to ~/.dezero/tmp_graph.dot and draw it into ``to_file`` with Graphviz."""
    folder = os.path.join(os.path.expanduser("~"), ".dezero")
    os.makedirs(folder, exist_ok=True)
    source = os.path.join(folder, "tmp_graph.dot")
    with open(source, "w", encoding="utf-8") as handle:
        handle.write(get_dot_graph(output, verbose))
    if shutil.which("dot") is not None:
        extension = os.path.splitext(to_file)[1][1:]
        subprocess.run(["dot", source, "-T", extension, "-o", to_file], check=True)
