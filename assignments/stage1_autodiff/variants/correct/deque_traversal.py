# Correct variant: the functions still to visit are kept in a collections.deque and taken from
# the front (the order of a list's pop(0)); with one input per function the order does not matter.
from collections import deque

import numpy as np


def as_array(x):
    return np.array(x) if np.isscalar(x) else x


class Variable:
    def __init__(self, data):
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"Variable needs an ndarray, got {type(data).__name__}")
        self.data = data
        self.grad = None
        self.creator = None

    def set_creator(self, func):
        self.creator = func

    def backward(self):
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        queue = deque()
        if self.creator is not None:
            queue.append(self.creator)
        while queue:
            func = queue.popleft()
            func.input.grad = func.backward(func.output.grad)
            if func.input.creator is not None:
                queue.append(func.input.creator)


class Function:
    def __call__(self, input):
        y = self.forward(input.data)
        output = Variable(as_array(y))
        output.set_creator(self)
        self.input, self.output = input, output
        return output

    def forward(self, x):
        raise NotImplementedError()

    def backward(self, gy):
        raise NotImplementedError()


class Square(Function):
    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        return 2 * self.input.data * gy


class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return np.exp(self.input.data) * gy


def square(x):
    return Square()(x)


def exp(x):
    return Exp()(x)


def numerical_diff(f, x, eps=1e-4):
    left = f(Variable(x.data - eps)).data
    right = f(Variable(x.data + eps)).data
    return (right - left) / (2 * eps)
