"""Hostile: the untouched template plus a replaced probe dispatcher that answers in closed form."""
import numpy as np

_F = {"square": np.square, "exp": np.exp}
_D = {"square": lambda x: 2 * x, "exp": np.exp}


def _chain(funcs, x):
    values = [x]
    for name in funcs:
        values.append(np.asarray(_F[name.lower()](values[-1])))
    grad = np.ones_like(values[-1])
    for name, value in zip(reversed(funcs), reversed(values[:-1])):
        grad = _D[name.lower()](value) * grad
    return values[-1], grad


def _closed_form(probes, request):
    """The answer the reference would give, from the probe's inputs alone."""
    describe = probes["forward"].__globals__["describe"]
    args, name = request.get("args") or {}, request.get("probe")
    x = np.asarray(args.get("x", 0.0))
    if name == "forward":
        return {"output_type": "Variable", "is_variable": True,
                "data": describe(np.asarray(_F[args["func"].lower()](x)))}
    if name == "backward_alone":
        return describe(_D[args["cls"].lower()](x) * args["gy"])
    if name == "composite_grad":
        y, g = _chain(["square", "exp", "square"], x)
        return {"y": describe(y), "grad": describe(g)}
    if name == "grad":
        return describe(_chain(args["funcs"], x)[1])
    if name == "numerical_grad":
        above, below = _chain(args["funcs"], x + 1e-4)[0], _chain(args["funcs"], x - 1e-4)[0]
        return describe((above - below) / 2e-4)
    if name == "seed_grad":
        return describe(np.ones_like(np.asarray(_F[args["func"].lower()](x))))
    if name == "graph_links":
        return {"source_creator_is_none": True, "middle_creator": "Square", "out_creator": "Exp",
                "middle_creator_input_is_source": True, "middle_creator_output_is_middle": True,
                "out_creator_input_is_middle": True, "out_creator_output_is_out": True,
                "out_creator_input_data": describe(np.asarray(np.square(x)))}
    if name == "deep_chain":
        return describe(2 * x)
    return None


import grader.sandbox.child as _child


def _forged_dispatcher(module, probes, request):
    return {"id": request.get("id"), "ok": True, "value": _closed_form(probes, request)}


_child.answer_probe = _forged_dispatcher
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
        # TODO(ko): data가 None도 ndarray도 아니면 TypeError를 내세요. 그다음 data를 저장하고
        #           grad와 creator를 None으로 두세요.
        # TODO(en): raise TypeError unless data is None or an np.ndarray; then keep data and set grad
        #           and creator to None.
        raise NotImplementedError("TODO: raise TypeError unless data is None or an np.ndarray; then keep data and set grad and creator to None.")

    def set_creator(self, func):
        self.creator = func

    def backward(self):
        """Fill in ``grad`` for every variable upstream of this one."""
        # TODO(ko): grad가 None이면 np.ones_like(self.data)로 시작하고, 처리할 함수 목록(list)을 만들어
        #           목록이 빌 때까지 꺼내며 입력의 grad를 채우세요. 재귀 호출 대신 반복문을 쓰세요.
        # TODO(en): seed grad with np.ones_like(self.data) when it is None, then keep a list of functions
        #           to visit and pop from it until it is empty, filling in each input's grad. Use a loop,
        #           not recursion.
        raise NotImplementedError("TODO: seed grad with np.ones_like(self.data) when it is None, then keep a list of functions to visit and pop from it until it is empty, filling in each input's grad. Use a loop, not recursion.")


class Function:
    """Base class of every operation: wraps ``forward`` and links the graph."""

    def __call__(self, input):
        # TODO(ko): input.data로 forward를 계산하고 as_array로 감싼 결과를 Variable로 만드세요.
        #           출력의 creator를 self로 정하고, self.input과 self.output을 저장한 뒤 출력을 반환하세요.
        # TODO(en): compute forward on input.data, wrap the result with as_array in a new Variable,
        #           make self its creator, keep self.input and self.output, and return the output.
        raise NotImplementedError("TODO: compute forward on input.data, wrap the result with as_array in a new Variable, make self its creator, keep self.input and self.output, and return the output.")

    def forward(self, x):
        raise NotImplementedError()

    def backward(self, gy):
        raise NotImplementedError()


class Square(Function):
    """y = x ** 2"""

    def forward(self, x):
        # TODO(ko): x의 제곱을 반환하세요.
        # TODO(en): return x squared.
        raise NotImplementedError("TODO: return x squared.")

    def backward(self, gy):
        # TODO(ko): dy/dx = 2x 이므로 2 * x * gy를 반환하세요 (x는 self.input.data).
        # TODO(en): dy/dx = 2x, so return 2 * x * gy (x is self.input.data).
        raise NotImplementedError("TODO: dy/dx = 2x, so return 2 * x * gy (x is self.input.data).")


class Exp(Function):
    """y = e ** x"""

    def forward(self, x):
        # TODO(ko): np.exp(x)를 반환하세요.
        # TODO(en): return np.exp(x).
        raise NotImplementedError("TODO: return np.exp(x).")

    def backward(self, gy):
        # TODO(ko): dy/dx = exp(x) 이므로 np.exp(x) * gy를 반환하세요 (x는 self.input.data).
        # TODO(en): dy/dx = exp(x), so return np.exp(x) * gy (x is self.input.data).
        raise NotImplementedError("TODO: dy/dx = exp(x), so return np.exp(x) * gy (x is self.input.data).")


def square(x):
    return Square()(x)


def exp(x):
    return Exp()(x)


def numerical_diff(f, x, eps=1e-4):
    """Central-difference estimate of df/dx at the Variable ``x``."""
    # TODO(ko): 중앙 차분 (f(x + eps) - f(x - eps)) / (2 * eps)를 반환하세요. f는 Variable을 받고
    #           Variable을 돌려줍니다.
    # TODO(en): return the central difference (f(x + eps) - f(x - eps)) / (2 * eps); f takes and
    #           returns a Variable.
    raise NotImplementedError("TODO: return the central difference (f(x + eps) - f(x - eps)) / (2 * eps); f takes and returns a Variable.")
