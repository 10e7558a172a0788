"""DeZero stage 1 (steps 1-10): variables, functions and an iterative backward pass.

Fill in every body that raises ``NotImplementedError``; the TODO comments say what to write.
Check yourself with ``grader check`` before you submit.
"""
# BEGIN REMOVE
# Instructor reference solution. The bodies between BEGIN SOLUTION and END SOLUTION are what
# students write; `grader template build` turns them into stubs in student_template/.
# END REMOVE
import numpy as np


def as_array(x):
    """Return ``x`` as an ndarray; numpy operations on 0-d arrays yield scalars."""
    if np.isscalar(x):
        return np.array(x)
    return x


class Variable:
    """A box around an ndarray that remembers its gradient and the function that made it."""

    def __init__(self, data):
        # BEGIN SOLUTION
        # TODO(ko): data가 None도 ndarray도 아니면 TypeError를 내세요. 그다음 data를 저장하고
        #           grad와 creator를 None으로 두세요.
        # TODO(en): raise TypeError unless data is None or an np.ndarray; then keep data and set grad
        #           and creator to None.
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"{type(data)} is not supported")
        self.data = data
        self.grad = None
        self.creator = None
        # END SOLUTION

    def set_creator(self, func):
        self.creator = func

    def backward(self):
        """Fill in ``grad`` for every variable upstream of this one."""
        # BEGIN SOLUTION
        # TODO(ko): grad가 None이면 np.ones_like(self.data)로 시작하고, 처리할 함수 목록(list)을 만들어
        #           목록이 빌 때까지 꺼내며 입력의 grad를 채우세요. 재귀 호출 대신 반복문을 쓰세요.
        # TODO(en): seed grad with np.ones_like(self.data) when it is None, then keep a list of functions
        #           to visit and pop from it until it is empty, filling in each input's grad. Use a loop,
        #           not recursion.
        if self.grad is None:
            self.grad = np.ones_like(self.data)

        pending = [self.creator]
        while pending:
            func = pending.pop()
            if func is None:
                continue
            source, result = func.input, func.output
            source.grad = func.backward(result.grad)
            if source.creator is not None:
                pending.append(source.creator)
        # END SOLUTION


class Function:
    """Base class of every operation: wraps ``forward`` and links the graph."""

    def __call__(self, input):
        # BEGIN SOLUTION
        # TODO(ko): input.data로 forward를 계산하고 as_array로 감싼 결과를 Variable로 만드세요.
        #           출력의 creator를 self로 정하고, self.input과 self.output을 저장한 뒤 출력을 반환하세요.
        # TODO(en): compute forward on input.data, wrap the result with as_array in a new Variable,
        #           make self its creator, keep self.input and self.output, and return the output.
        x = input.data
        y = self.forward(x)
        output = Variable(as_array(y))
        output.set_creator(self)
        self.input = input
        self.output = output
        return output
        # END SOLUTION

    def forward(self, x):
        raise NotImplementedError()

    def backward(self, gy):
        raise NotImplementedError()


class Square(Function):
    """y = x ** 2"""

    def forward(self, x):
        # BEGIN SOLUTION
        # TODO(ko): x의 제곱을 반환하세요.
        # TODO(en): return x squared.
        return x ** 2
        # END SOLUTION

    def backward(self, gy):
        # BEGIN SOLUTION
        # TODO(ko): dy/dx = 2x 이므로 2 * x * gy를 반환하세요 (x는 self.input.data).
        # TODO(en): dy/dx = 2x, so return 2 * x * gy (x is self.input.data).
        x = self.input.data
        return 2 * x * gy
        # END SOLUTION


class Exp(Function):
    """y = e ** x"""

    def forward(self, x):
        # BEGIN SOLUTION
        # TODO(ko): np.exp(x)를 반환하세요.
        # TODO(en): return np.exp(x).
        return np.exp(x)
        # END SOLUTION

    def backward(self, gy):
        # BEGIN SOLUTION
        # TODO(ko): dy/dx = exp(x) 이므로 np.exp(x) * gy를 반환하세요 (x는 self.input.data).
        # TODO(en): dy/dx = exp(x), so return np.exp(x) * gy (x is self.input.data).
        x = self.input.data
        return np.exp(x) * gy
        # END SOLUTION


def square(x):
    return Square()(x)


def exp(x):
    return Exp()(x)


def numerical_diff(f, x, eps=1e-4):
    """Central-difference estimate of df/dx at the Variable ``x``."""
    # BEGIN SOLUTION
    # TODO(ko): 중앙 차분 (f(x + eps) - f(x - eps)) / (2 * eps)를 반환하세요. f는 Variable을 받고
    #           Variable을 돌려줍니다.
    # TODO(en): return the central difference (f(x + eps) - f(x - eps)) / (2 * eps); f takes and
    #           returns a Variable.
    below = Variable(x.data - eps)
    above = Variable(x.data + eps)
    return (f(above).data - f(below).data) / (2 * eps)
    # END SOLUTION
