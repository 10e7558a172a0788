"""DeZero stage 2 (steps 11-24): natural code with variable-length functions and operators.

Fill in every body that raises ``NotImplementedError``; the TODO comments say what to write.
Check yourself with ``grader check`` before you submit.
"""
import contextlib
import heapq
import itertools
import weakref

import numpy as np


class Config:
    """Switches shared by every function: with enable_backprop off no graph is recorded."""

    enable_backprop = True


@contextlib.contextmanager
def using_config(name, value):
    """Set ``Config.<name>`` to ``value`` inside a ``with`` block, and restore it afterwards."""
    # TODO(ko): Config의 name 속성을 value로 바꾸고 yield 하세요. with 블록 안에서 예외가 나도
    #           원래 값으로 되돌리도록 try/finally를 쓰세요.
    # TODO(en): set Config's attribute name to value and yield; restore the old value afterwards,
    #           with try/finally so an exception inside the with block restores it too.
    raise NotImplementedError("TODO: set Config's attribute name to value and yield; restore the old value afterwards, with try/finally so an exception inside the with block restores it too.")


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
    """An ndarray with a name, a gradient and the function that made it."""

    def __init__(self, data, name=None):
        # TODO(ko): data가 None도 ndarray도 아니면 TypeError를 내세요. data와 name을 저장하고 grad와
        #           creator는 None, generation은 0으로 두세요.
        # TODO(en): raise TypeError unless data is None or an np.ndarray; keep data and name, set grad
        #           and creator to None and generation to 0.
        raise NotImplementedError("TODO: raise TypeError unless data is None or an np.ndarray; keep data and name, set grad and creator to None and generation to 0.")

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
        # TODO(ko): "variable(...)" 형태로 data를 보여 주세요. data가 None이면 "variable(None)",
        #           여러 줄이면 둘째 줄부터 9칸 들여 써서 "variable(" 뒤에 줄을 맞추세요.
        # TODO(en): show data as "variable(...)": "variable(None)" when data is None, and indent
        #           every line after the first by 9 spaces so they line up after "variable(".
        raise NotImplementedError("TODO: show data as 'variable(...)': 'variable(None)' when data is None, and indent every line after the first by 9 spaces so they line up after 'variable('.")

    def set_creator(self, func):
        # TODO(ko): creator를 func로 정하고 generation을 func.generation + 1로 두세요.
        # TODO(en): make func the creator and set generation to func.generation + 1.
        raise NotImplementedError("TODO: make func the creator and set generation to func.generation + 1.")

    def cleargrad(self):
        # TODO(ko): grad를 None으로 되돌리세요.
        # TODO(en): reset grad to None.
        raise NotImplementedError("TODO: reset grad to None.")

    def backward(self, retain_grad=False):
        """Fill in ``grad`` for every variable upstream of this one."""
        # TODO(ko): grad가 None이면 np.ones_like(self.data)로 시작하세요. 함수마다 한 번만, generation이
        #           큰 것부터 꺼내어 backward(*출력들의 grad)를 부르고, 입력의 grad에 더하세요(덮어쓰지 말고
        #           누적). retain_grad가 False이면 처리한 함수 출력들의 grad를 None으로 지우세요.
        # TODO(en): seed grad with np.ones_like(self.data) when it is None. Visit each function once,
        #           highest generation first, call backward(*the outputs' grads) and add each result to
        #           its input's grad (accumulate, do not overwrite). Unless retain_grad, set the grads of
        #           the visited function's outputs back to None.
        raise NotImplementedError("TODO: seed grad with np.ones_like(self.data) when it is None. Visit each function once, highest generation first, call backward(*the outputs' grads) and add each result to its input's grad (accumulate, do not overwrite). Unless retain_grad, set the grads of the visited function's outputs back to None.")


class Function:
    """Base class of every operation: any number of inputs and outputs, linked into the graph."""

    def __call__(self, *inputs):
        # TODO(ko): 입력을 as_variable로 감싸고 각 data로 forward(*xs)를 계산하세요. 결과가 튜플이 아니면
        #           튜플로 만들고, 각각 as_array로 감싼 Variable을 만드세요. Config.enable_backprop이면
        #           generation(입력 중 최대), 출력의 creator, self.inputs, 출력의 weakref 목록 self.outputs를
        #           기록하세요. 출력이 하나면 그 Variable을, 여럿이면 리스트를 반환하세요.
        # TODO(en): wrap each input with as_variable and call forward(*their data). Make a tuple of the
        #           result if it is not one, and wrap each item (with as_array) in a Variable. When
        #           Config.enable_backprop is on, record the generation (the inputs' maximum), each
        #           output's creator, self.inputs, and self.outputs as weakrefs to the outputs. Return
        #           the single output, or the list when there are several.
        raise NotImplementedError("TODO: wrap each input with as_variable and call forward(*their data). Make a tuple of the result if it is not one, and wrap each item (with as_array) in a Variable. When Config.enable_backprop is on, record the generation (the inputs' maximum), each output's creator, self.inputs, and self.outputs as weakrefs to the outputs. Return the single output, or the list when there are several.")

    def forward(self, *xs):
        raise NotImplementedError()

    def backward(self, *gys):
        raise NotImplementedError()


class Add(Function):
    """y = x0 + x1 (given: the model for the functions below)."""

    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        return gy, gy


class Mul(Function):
    """y = x0 * x1"""

    def forward(self, x0, x1):
        # TODO(ko): x0 * x1을 반환하세요.
        # TODO(en): return x0 * x1.
        raise NotImplementedError("TODO: return x0 * x1.")

    def backward(self, gy):
        # TODO(ko): (gy * x1, gy * x0)을 반환하세요. x0, x1은 self.inputs의 data입니다.
        # TODO(en): return (gy * x1, gy * x0); x0 and x1 are the data of self.inputs.
        raise NotImplementedError("TODO: return (gy * x1, gy * x0); x0 and x1 are the data of self.inputs.")


class Neg(Function):
    """y = -x"""

    def forward(self, x):
        # TODO(ko): -x를 반환하세요.
        # TODO(en): return -x.
        raise NotImplementedError("TODO: return -x.")

    def backward(self, gy):
        # TODO(ko): -gy를 반환하세요.
        # TODO(en): return -gy.
        raise NotImplementedError("TODO: return -gy.")


class Sub(Function):
    """y = x0 - x1"""

    def forward(self, x0, x1):
        # TODO(ko): x0 - x1을 반환하세요.
        # TODO(en): return x0 - x1.
        raise NotImplementedError("TODO: return x0 - x1.")

    def backward(self, gy):
        # TODO(ko): (gy, -gy)를 반환하세요.
        # TODO(en): return (gy, -gy).
        raise NotImplementedError("TODO: return (gy, -gy).")


class Div(Function):
    """y = x0 / x1"""

    def forward(self, x0, x1):
        # TODO(ko): x0 / x1을 반환하세요.
        # TODO(en): return x0 / x1.
        raise NotImplementedError("TODO: return x0 / x1.")

    def backward(self, gy):
        # TODO(ko): (gy / x1, gy * (-x0 / x1 ** 2))를 반환하세요.
        # TODO(en): return (gy / x1, gy * (-x0 / x1 ** 2)).
        raise NotImplementedError("TODO: return (gy / x1, gy * (-x0 / x1 ** 2)).")


class Pow(Function):
    """y = x ** c for a constant c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        # TODO(ko): x ** self.c를 반환하세요.
        # TODO(en): return x ** self.c.
        raise NotImplementedError("TODO: return x ** self.c.")

    def backward(self, gy):
        # TODO(ko): c * x ** (c - 1) * gy를 반환하세요. x는 self.inputs[0].data입니다.
        # TODO(en): return c * x ** (c - 1) * gy; x is self.inputs[0].data.
        raise NotImplementedError("TODO: return c * x ** (c - 1) * gy; x is self.inputs[0].data.")


def add(x0, x1):
    return Add()(x0, as_array(x1))


def mul(x0, x1):
    return Mul()(x0, as_array(x1))


def neg(x):
    return Neg()(x)


def sub(x0, x1):
    return Sub()(x0, as_array(x1))


def rsub(x0, x1):
    """``x1 - x0`` where x1 is the constant on the left of ``-``."""
    # TODO(ko): x1을 as_array로 바꾼 뒤 Sub()(x1, x0)를 반환하세요 (순서가 바뀝니다).
    # TODO(en): turn x1 into an array with as_array and return Sub()(x1, x0) (the order flips).
    raise NotImplementedError("TODO: turn x1 into an array with as_array and return Sub()(x1, x0) (the order flips).")


def div(x0, x1):
    return Div()(x0, as_array(x1))


def rdiv(x0, x1):
    """``x1 / x0`` where x1 is the constant on the left of ``/``."""
    # TODO(ko): x1을 as_array로 바꾼 뒤 Div()(x1, x0)를 반환하세요.
    # TODO(en): turn x1 into an array with as_array and return Div()(x1, x0).
    raise NotImplementedError("TODO: turn x1 into an array with as_array and return Div()(x1, x0).")


def pow(x, c):  # noqa: A001 - the book's name
    return Pow(c)(x)


def setup_variable():
    """Give Variable its operators, so formulas read like numpy code."""
    # TODO(ko): Variable의 __add__, __radd__, __mul__, __rmul__, __neg__, __sub__, __rsub__,
    #           __truediv__, __rtruediv__, __pow__를 위 함수들로 정하세요. np.array(2.0) * x에서 Variable의
    #           연산자가 먼저 불리도록 Variable.__array_priority__ = 200도 정하세요.
    # TODO(en): set Variable's __add__, __radd__, __mul__, __rmul__, __neg__, __sub__, __rsub__,
    #           __truediv__, __rtruediv__ and __pow__ to the functions above, and set
    #           Variable.__array_priority__ = 200 so np.array(2.0) * x calls Variable's operator first.
    raise NotImplementedError("TODO: set Variable's __add__, __radd__, __mul__, __rmul__, __neg__, __sub__, __rsub__, __truediv__, __rtruediv__ and __pow__ to the functions above, and set Variable.__array_priority__ = 200 so np.array(2.0) * x calls Variable's operator first.")


setup_variable()
