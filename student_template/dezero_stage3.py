"""DeZero stage 3 (steps 25-36): higher-order derivatives and computational graphs you can draw.

Steps 1-24 are given (the framework of stages 1 and 2). Fill in every body that raises
``NotImplementedError``: the TODO comments say what to write. The three parts of this file are the
book's three modules, ``dezero/__init__.py`` (Variable, Function, ...), ``dezero/functions.py``
(sin, cos, tanh) and ``dezero/utils.py`` (get_dot_graph, plot_dot_graph); a ``dezero/`` package
holding them is graded too. Check yourself with ``grader check`` before you submit.
"""
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
        # TODO(ko): 2단계의 backward에 두 가지를 더하세요. (1) grad가 None이면 ndarray가 아니라
        #           Variable(np.ones_like(self.data))로 시작합니다. (2) 함수의 backward를 부르고 입력의
        #           grad에 더하는 부분을 with using_config("enable_backprop", create_graph): 안에서 하세요.
        #           그러면 create_graph=True일 때만 기울기 계산도 그래프로 기록됩니다. 나머지(함수마다 한
        #           번, generation이 큰 것부터, 누적, retain_grad가 False면 출력의 grad를 None으로)는 같습니다.
        # TODO(en): stage 2's backward plus two changes. (1) When grad is None, seed it with
        #           Variable(np.ones_like(self.data)), a Variable, not an ndarray. (2) Call each function's
        #           backward and add the results to the inputs' grads inside
        #           with using_config("enable_backprop", create_graph):, so the gradient computation is
        #           itself recorded as a graph only when create_graph=True. The rest is as before: each
        #           function once, highest generation first, accumulate, and unless retain_grad set the
        #           visited function's outputs' grads back to None.
        raise NotImplementedError("TODO: stage 2's backward plus two changes. (1) When grad is None, seed it with Variable(np.ones_like(self.data)), a Variable, not an ndarray. (2) Call each function's backward and add the results to the inputs' grads inside with using_config('enable_backprop', create_graph):, so the gradient computation is itself recorded as a graph only when create_graph=True. The rest is as before: each function once, highest generation first, accumulate, and unless retain_grad set the visited function's outputs' grads back to None.")


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
        # TODO(ko): gy는 이제 Variable입니다. self.inputs의 Variable 그대로(.data 없이) x0, x1로 꺼내
        #           (gy * x1, gy * x0)을 반환하세요. Variable끼리 계산해야 이 계산도 그래프에 남습니다.
        # TODO(en): gy is a Variable now. Take x0 and x1 as the Variables in self.inputs (no .data) and
        #           return (gy * x1, gy * x0): computing with Variables records this step in the graph too.
        raise NotImplementedError("TODO: gy is a Variable now. Take x0 and x1 as the Variables in self.inputs (no .data) and return (gy * x1, gy * x0): computing with Variables records this step in the graph too.")


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
        # TODO(ko): x0, x1을 self.inputs의 Variable로 꺼내 (gy / x1, gy * (-x0 / x1 ** 2))를 반환하세요.
        # TODO(en): take x0 and x1 as the Variables in self.inputs and return (gy / x1, gy * (-x0 / x1 ** 2)).
        raise NotImplementedError("TODO: take x0 and x1 as the Variables in self.inputs and return (gy / x1, gy * (-x0 / x1 ** 2)).")


class Pow(Function):
    """y = x ** c for a constant c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        # TODO(ko): x를 self.inputs[0] (Variable)로 꺼내 c * x ** (c - 1) * gy를 반환하세요.
        # TODO(en): take x as self.inputs[0] (a Variable) and return c * x ** (c - 1) * gy.
        raise NotImplementedError("TODO: take x as self.inputs[0] (a Variable) and return c * x ** (c - 1) * gy.")


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
        # TODO(ko): np.sin(x)를 반환하세요.
        # TODO(en): return np.sin(x).
        raise NotImplementedError("TODO: return np.sin(x).")

    def backward(self, gy):
        # TODO(ko): x를 self.inputs[0] (Variable)로 꺼내 gy * cos(x)를 반환하세요. np.cos(x.data)가 아니라
        #           아래의 cos 함수를 써야 이 미분을 다시 미분할 수 있습니다.
        # TODO(en): take x as self.inputs[0] (a Variable) and return gy * cos(x), with the cos function
        #           below rather than np.cos(x.data), so this derivative can be differentiated again.
        raise NotImplementedError("TODO: take x as self.inputs[0] (a Variable) and return gy * cos(x), with the cos function below rather than np.cos(x.data), so this derivative can be differentiated again.")


def sin(x):
    return Sin()(x)


class Cos(Function):
    """y = cos(x)"""

    def forward(self, x):
        # TODO(ko): np.cos(x)를 반환하세요.
        # TODO(en): return np.cos(x).
        raise NotImplementedError("TODO: return np.cos(x).")

    def backward(self, gy):
        # TODO(ko): x를 self.inputs[0]로 꺼내 gy * -sin(x)를 반환하세요 (cos의 도함수는 -sin입니다).
        # TODO(en): take x as self.inputs[0] and return gy * -sin(x) (the derivative of cos is -sin).
        raise NotImplementedError("TODO: take x as self.inputs[0] and return gy * -sin(x) (the derivative of cos is -sin).")


def cos(x):
    return Cos()(x)


class Tanh(Function):
    """y = tanh(x)"""

    def forward(self, x):
        # TODO(ko): np.tanh(x)를 반환하세요.
        # TODO(en): return np.tanh(x).
        raise NotImplementedError("TODO: return np.tanh(x).")

    def backward(self, gy):
        # TODO(ko): 출력 y를 self.outputs[0]() (weakref이므로 호출)로 꺼내 gy * (1 - y * y)를 반환하세요.
        # TODO(en): take the output y as self.outputs[0]() (a weakref: call it) and return
        #           gy * (1 - y * y).
        raise NotImplementedError("TODO: take the output y as self.outputs[0]() (a weakref: call it) and return gy * (1 - y * y).")


def tanh(x):
    return Tanh()(x)


# ==== dezero/utils.py: the graph in Graphviz's DOT language (step 26) ==========================

def _dot_var(v, verbose=False):
    """One DOT node line for the Variable ``v``."""
    # TODO(ko): '<id(v)> [label="<이름>", color=orange, style=filled]' 한 줄과 줄바꿈을 반환하세요.
    #           이름은 v.name (None이면 빈 문자열)입니다. verbose이고 v.data가 None이 아니면 이름 뒤에
    #           (이름이 있으면 ": "를 붙인 뒤) str(v.shape) + " " + str(v.dtype)을 덧붙이세요.
    # TODO(en): return the line '<id(v)> [label="<name>", color=orange, style=filled]' and a newline.
    #           The name is v.name ("" when None); when verbose and v.data is not None, append
    #           str(v.shape) + " " + str(v.dtype) to it, after ": " if there is a name.
    raise NotImplementedError("TODO: return the line '<id(v)> [label='<name>', color=orange, style=filled]' and a newline. The name is v.name ('' when None); when verbose and v.data is not None, append str(v.shape) + ' ' + str(v.dtype) to it, after ': ' if there is a name.")


def _dot_func(f):
    """DOT lines for the Function ``f``: its node, and an edge from each input and to each output."""
    # TODO(ko): '<id(f)> [label="<클래스 이름>", color=lightblue, style=filled, shape=box]' 한 줄, 그리고
    #           입력 x마다 '<id(x)> -> <id(f)>', 출력마다 '<id(f)> -> <id(y)>' (출력은 weakref이므로
    #           y = f.outputs[i]()) 한 줄씩을 반환하세요. 각 줄은 줄바꿈으로 끝납니다.
    # TODO(en): return the line '<id(f)> [label="<class name>", color=lightblue, style=filled, shape=box]',
    #           then '<id(x)> -> <id(f)>' for each input x and '<id(f)> -> <id(y)>' for each output (a
    #           weakref: y = f.outputs[i]()); every line ends with a newline.
    raise NotImplementedError("TODO: return the line '<id(f)> [label='<class name>', color=lightblue, style=filled, shape=box]', then '<id(x)> -> <id(f)>' for each input x and '<id(f)> -> <id(y)>' for each output (a weakref: y = f.outputs[i]()); every line ends with a newline.")


def get_dot_graph(output, verbose=True):
    """The DOT text of every function and variable ``output`` was computed from."""
    # TODO(ko): output의 _dot_var로 시작해, backward처럼 output.creator부터 함수를 한 번씩 방문하며
    #           _dot_func(f)와 f의 입력마다 _dot_var(x, verbose)를 이어 붙이세요 (순서는 상관없습니다).
    #           전체를 "digraph g {\n"과 "}"로 감싸 반환하세요.
    # TODO(en): start with output's _dot_var, then, like backward, visit each function once from
    #           output.creator and append _dot_func(f) and _dot_var(x, verbose) for each input x (in any
    #           order). Return it all wrapped in "digraph g {\n" and "}".
    raise NotImplementedError("TODO: start with output's _dot_var, then, like backward, visit each function once from output.creator and append _dot_func(f) and _dot_var(x, verbose) for each input x (in any order). Return it all wrapped in 'digraph g {\n' and '}'.")


def _draw(dot_path, to_file):
    """Draw the DOT file into ``to_file`` with Graphviz's ``dot`` when it is installed (given)."""
    if shutil.which("dot") is None:
        return None
    extension = os.path.splitext(to_file)[1][1:]
    subprocess.run(["dot", dot_path, "-T", extension, "-o", to_file], check=True)
    return to_file


def plot_dot_graph(output, verbose=True, to_file="graph.png"):
    """Write the DOT text to ~/.dezero/tmp_graph.dot and draw it into ``to_file`` with Graphviz."""
    # TODO(ko): get_dot_graph(output, verbose)의 텍스트를 ~/.dezero/tmp_graph.dot에 쓰세요
    #           (os.path.expanduser("~"); 폴더가 없을 때만 만드세요. 두 번째 호출도 동작해야 합니다).
    #           그다음 _draw(그 파일, to_file)로 그림을 그리세요 (Graphviz의 dot이 없으면 아무것도 하지
    #           않습니다). 채점은 .dot 파일의 텍스트로 합니다.
    # TODO(en): write get_dot_graph(output, verbose)'s text to ~/.dezero/tmp_graph.dot
    #           (os.path.expanduser("~"); create the folder only when it is missing: a second call must
    #           work too). Then draw it with _draw(that file, to_file), which does nothing without
    #           Graphviz's dot. The .dot file's text is graded.
    raise NotImplementedError("TODO: write get_dot_graph(output, verbose)'s text to ~/.dezero/tmp_graph.dot (os.path.expanduser('~'); create the folder only when it is missing: a second call must work too). Then draw it with _draw(that file, to_file), which does nothing without Graphviz's dot. The .dot file's text is graded.")
