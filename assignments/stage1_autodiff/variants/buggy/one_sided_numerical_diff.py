# Buggy variant: numerical_diff uses the forward difference (f(x + eps) - f(x)) / eps; step 4 defines
# the central difference, which is accurate to O(eps**2) instead of O(eps).
# expect-fail: test_numerical_diff_is_central
# hint(en): numerical_diff seems to use the forward difference: use the central one, (f(x + eps) - f(x - eps)) / (2 * eps)
# hint(ko): numerical_diff가 전진 차분을 쓰는 것 같습니다: 중앙 차분 (f(x + eps) - f(x - eps)) / (2 * eps)를 쓰세요
import numpy as np


def as_array(x):
    if np.isscalar(x):
        return np.array(x)
    return x


class Variable:
    def __init__(self, data):
        if data is not None:
            if not isinstance(data, np.ndarray):
                raise TypeError('{} is not supported'.format(type(data)))
        self.data = data
        self.grad = None
        self.creator = None

    def set_creator(self, func):
        self.creator = func

    def backward(self):
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        funcs = [self.creator]
        while funcs:
            f = funcs.pop()
            x, y = f.input, f.output
            x.grad = f.backward(y.grad)
            if x.creator is not None:
                funcs.append(x.creator)


class Function:
    def __call__(self, input):
        x = input.data
        y = self.forward(x)
        output = Variable(as_array(y))
        output.set_creator(self)
        self.input = input
        self.output = output
        return output

    def forward(self, x):
        raise NotImplementedError()

    def backward(self, gy):
        raise NotImplementedError()


class Square(Function):
    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        x = self.input.data
        return 2 * x * gy


class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        x = self.input.data
        return np.exp(x) * gy


def square(x):
    return Square()(x)


def exp(x):
    return Exp()(x)


def numerical_diff(f, x, eps=1e-4):
    y0 = f(x)
    y1 = f(Variable(x.data + eps))
    return (y1.data - y0.data) / eps

