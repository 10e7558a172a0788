"""Buggy variant: rsub and rdiv forget that the constant was on the left: 2.0 - x computes x - 2.0 and
2.0 / x computes x / 2.0."""
# expect-fail: test_public_add_mul_constants, test_operators_with_constants_on_either_side
# expect-fail: test_ndarray_on_the_left_gives_a_variable, test_benchmark_functions_match_reference
# expect-fail: test_benchmark_gradients_match_numerical_diff
# hint(en): __rsub__ / __rtruediv__ seem to keep the operands' order: 2.0 - x is sub(2.0, x), not sub(x, 2.0)
# hint(ko): __rsub__ / __rtruediv__가 피연산자 순서를 그대로 두는 것 같습니다: 2.0 - x는 sub(x, 2.0)이 아니라 sub(2.0, x)입니다
from __future__ import annotations

import contextlib
import heapq
import weakref
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np

Operand = Union["Variable", np.ndarray, float, int]


class Config:
    enable_backprop: bool = True


@contextlib.contextmanager
def using_config(name: str, value: Any) -> Iterator[None]:
    saved = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, saved)


def no_grad() -> contextlib.AbstractContextManager:
    return using_config("enable_backprop", False)


def as_array(x: Any) -> np.ndarray:
    if np.isscalar(x):
        return np.array(x)
    return x


def as_variable(obj: Any) -> "Variable":
    return obj if isinstance(obj, Variable) else Variable(obj)


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _accumulate(old: Optional[np.ndarray], new: np.ndarray) -> np.ndarray:
    # a fresh array: never add in place, the same ndarray may be another variable's grad
    return new if old is None else old + new


class _Schedule:
    """Functions still to run, highest generation first, each at most once."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Function]] = []
        self._seen: set[int] = set()

    def push(self, func: Optional["Function"]) -> None:
        if func is None or id(func) in self._seen:
            return
        self._seen.add(id(func))
        heapq.heappush(self._heap, (-func.generation, len(self._seen), func))

    def pop(self) -> "Function":
        return heapq.heappop(self._heap)[2]

    def __bool__(self) -> bool:
        return bool(self._heap)


class Variable:
    def __init__(self, data: Optional[np.ndarray], name: Optional[str] = None) -> None:
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"{type(data).__name__} is not supported; pass an np.ndarray")
        self.data: Optional[np.ndarray] = data
        self.name: Optional[str] = name
        self.grad: Optional[np.ndarray] = None
        self.creator: Optional[Function] = None
        self.generation: int = 0

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        if self.data is None:
            return "variable(None)"
        indent = " " * len("variable(")
        return "variable(" + str(self.data).replace("\n", "\n" + indent) + ")"

    def set_creator(self, func: "Function") -> None:
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self) -> None:
        self.grad = None

    def backward(self, retain_grad: bool = False) -> None:
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        schedule = _Schedule()
        schedule.push(self.creator)
        while schedule:
            func = schedule.pop()
            outputs = [ref() for ref in func.outputs]
            gxs = _as_tuple(func.backward(*[out.grad for out in outputs]))
            for x, gx in zip(func.inputs, gxs):
                x.grad = _accumulate(x.grad, gx)
                schedule.push(x.creator)
            if not retain_grad:
                for out in outputs:
                    out.grad = None


class Function:
    generation: int
    inputs: list[Variable]
    outputs: list[weakref.ref]

    def __call__(self, *inputs: Operand) -> Union[Variable, list[Variable]]:
        variables = [as_variable(x) for x in inputs]
        ys = _as_tuple(self.forward(*[v.data for v in variables]))
        outputs = [Variable(as_array(y)) for y in ys]
        if Config.enable_backprop:
            self.generation = max(v.generation for v in variables)
            for out in outputs:
                out.set_creator(self)
            self.inputs = variables
            self.outputs = [weakref.ref(out) for out in outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    def forward(self, *xs: np.ndarray) -> Any:
        raise NotImplementedError()

    def backward(self, *gys: np.ndarray) -> Any:
        raise NotImplementedError()


class Add(Function):
    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        return x0 + x1

    def backward(self, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return gy, gy


class Mul(Function):
    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        return x0 * x1

    def backward(self, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, x1 = self.inputs[0].data, self.inputs[1].data
        return gy * x1, gy * x0


class Neg(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, gy: np.ndarray) -> np.ndarray:
        return -gy


class Sub(Function):
    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        return x0 - x1

    def backward(self, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return gy, -gy


class Div(Function):
    def forward(self, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
        return x0 / x1

    def backward(self, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, x1 = self.inputs[0].data, self.inputs[1].data
        return gy / x1, gy * (-x0 / x1 ** 2)


class Pow(Function):
    def __init__(self, c: float) -> None:
        self.c = c

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x ** self.c

    def backward(self, gy: np.ndarray) -> np.ndarray:
        x = self.inputs[0].data
        return self.c * x ** (self.c - 1) * gy


class Square(Function):  # extra: not asked for
    def forward(self, x: np.ndarray) -> np.ndarray:
        return x ** 2

    def backward(self, gy: np.ndarray) -> np.ndarray:
        return 2 * self.inputs[0].data * gy


class Exp(Function):  # extra: not asked for
    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)

    def backward(self, gy: np.ndarray) -> np.ndarray:
        return np.exp(self.inputs[0].data) * gy


def add(x0: Operand, x1: Operand) -> Variable:
    return Add()(x0, as_array(x1))


def mul(x0: Operand, x1: Operand) -> Variable:
    return Mul()(x0, as_array(x1))


def neg(x: Operand) -> Variable:
    return Neg()(x)


def sub(x0: Operand, x1: Operand) -> Variable:
    return Sub()(x0, as_array(x1))


def rsub(x0: Operand, x1: Operand) -> Variable:
    return Sub()(x0, as_array(x1))


def div(x0: Operand, x1: Operand) -> Variable:
    return Div()(x0, as_array(x1))


def rdiv(x0: Operand, x1: Operand) -> Variable:
    return Div()(x0, as_array(x1))


def pow(x: Operand, c: float) -> Variable:  # noqa: A001
    return Pow(c)(x)


def square(x: Operand) -> Variable:
    return Square()(x)


def exp(x: Operand) -> Variable:
    return Exp()(x)


def numerical_diff(f: Callable[[Variable], Variable], x: Variable, eps: float = 1e-4) -> np.ndarray:
    y0 = f(Variable(x.data - eps))
    y1 = f(Variable(x.data + eps))
    return (y1.data - y0.data) / (2 * eps)


def setup_variable() -> None:
    table: dict[str, Callable] = {
        "__add__": add, "__radd__": add, "__mul__": mul, "__rmul__": mul, "__neg__": neg,
        "__sub__": sub, "__rsub__": rsub, "__truediv__": div, "__rtruediv__": rdiv, "__pow__": pow,
    }
    for name, fn in table.items():
        setattr(Variable, name, fn)
    Variable.__array_priority__ = 200


setup_variable()


if __name__ == "__main__":
    x = Variable(np.array(1.0))
    y = Variable(np.array(1.0))
    z = x ** 2 + y ** 2
    z.backward()
    print(x.grad, y.grad, numerical_diff(lambda v: v ** 2 + 1.0, x))
