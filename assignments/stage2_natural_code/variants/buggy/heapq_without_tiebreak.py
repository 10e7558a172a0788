"""Buggy variant: the heap holds (-generation, function) pairs with no tie-breaker, so two pending
functions of the same generation make heapq compare Function objects and raise TypeError."""
# expect-fail: test_public_sphere_grad, test_benchmark_functions_match_reference
# expect-fail: test_benchmark_gradients_match_numerical_diff, test_generation_order_on_dags
# expect-fail: test_reused_variable_accumulates
# hint(en): backward seems to push (generation, function) pairs on a heap with no tie-break: two functions of one generation get compared; add a counter or sort a list
# hint(ko): backward가 (generation, 함수) 쌍을 순서 보조값 없이 heap에 넣는 것 같습니다: 같은 세대의 함수끼리 비교됩니다. 카운터를 넣거나 리스트를 정렬하세요
import heapq
import weakref
from contextlib import contextmanager

import numpy as np


class Config:
    enable_backprop = True


@contextmanager
def using_config(name, value):
    previous = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, previous)


def no_grad():
    return using_config("enable_backprop", False)


def as_array(x):
    return np.array(x) if np.isscalar(x) else x


def as_variable(obj):
    return obj if isinstance(obj, Variable) else Variable(obj)


class Variable:
    __array_priority__ = 200

    def __init__(self, data, name=None):
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"data must be an ndarray, got {type(data)}")
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        if self.data is None:
            return "variable(None)"
        lines = str(self.data).split("\n")
        return "variable(" + ("\n" + " " * 9).join(lines) + ")"

    # operators, written straight into the class
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(self, other)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(self, other)

    def __neg__(self):
        return neg(self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return rsub(self, other)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return rdiv(self, other)

    def __pow__(self, c):
        return pow(self, c)

    def set_creator(self, func):
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self):
        self.grad = None

    def backward(self, retain_grad=False):
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        heap = []
        pushed = set()

        def push(f):
            if f is None or f in pushed:
                return
            pushed.add(f)
            heapq.heappush(heap, (-f.generation, f))

        push(self.creator)
        while heap:
            _, f = heapq.heappop(heap)
            gys = [out().grad for out in f.outputs]
            gxs = f.backward(*gys)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            for x, gx in zip(f.inputs, gxs):
                x.grad = gx if x.grad is None else x.grad + gx
                push(x.creator)
            if not retain_grad:
                for out in f.outputs:
                    out().grad = None


class Function:
    def __call__(self, *inputs):
        inputs = [as_variable(x) for x in inputs]
        ys = self.forward(*[x.data for x in inputs])
        if not isinstance(ys, tuple):
            ys = (ys,)
        outputs = [Variable(as_array(y)) for y in ys]
        if Config.enable_backprop:
            self.generation = max(x.generation for x in inputs)
            for out in outputs:
                out.set_creator(self)
            self.inputs = inputs
            self.outputs = [weakref.ref(out) for out in outputs]
        if len(outputs) == 1:
            return outputs[0]
        return outputs

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return gy * b.data, gy * a.data


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs[0].data, self.inputs[1].data
        return gy / b, -gy * a / (b * b)


class Pow(Function):
    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * self.c * x ** (self.c - 1)


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


def pow(x, c):
    return Pow(c)(x)


def setup_variable():
    pass  # nothing to do: the operators are already methods of Variable
