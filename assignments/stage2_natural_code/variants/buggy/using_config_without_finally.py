# Buggy variant: using_config restores Config after `yield` without try/finally, so an exception
# inside a `with no_grad():` block leaves backprop switched off for good.
# expect-fail: test_no_grad_builds_no_graph
# hint(en): using_config seems to restore Config without try/finally: an exception inside no_grad() leaves backprop off
# hint(ko): using_config가 try/finally 없이 Config를 되돌리는 것 같습니다: no_grad() 안에서 예외가 나면 역전파가 꺼진 채로 남습니다
import contextlib
import weakref
import numpy as np


class Config:
    enable_backprop = True


@contextlib.contextmanager
def using_config(name, value):
    before = Config.__dict__[name]
    setattr(Config, name, value)
    yield None
    setattr(Config, name, before)


def no_grad():
    return using_config("enable_backprop", False)


def as_array(x):
    if np.isscalar(x):
        return np.array(x)
    return x


def as_variable(obj):
    if not isinstance(obj, Variable):
        obj = Variable(obj)
    return obj


class Variable:
    def __init__(self, data, name=None):
        if data is None or isinstance(data, np.ndarray):
            self.data = data
        else:
            raise TypeError("Variable only takes np.ndarray (or None)")
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0

    @property
    def shape(self):
        return np.shape(self.data)

    @property
    def ndim(self):
        return np.ndim(self.data)

    @property
    def size(self):
        return np.size(self.data)

    @property
    def dtype(self):
        return self.data.dtype

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        if self.data is None:
            return "variable(None)"
        text = str(self.data)
        text = text.replace("\n", "\n         ")
        return "variable(%s)" % text

    def set_creator(self, func):
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self):
        self.grad = None

    def backward(self, retain_grad=False):
        if self.grad is None:
            self.grad = np.ones_like(self.data)

        # 1) collect every function upstream, once each
        seen = set()
        todo = [self.creator] if self.creator is not None else []
        found = []
        while todo:
            f = todo.pop()
            if f in seen:
                continue
            seen.add(f)
            found.append(f)
            for x in f.inputs:
                if x.creator is not None and x.creator not in seen:
                    todo.append(x.creator)

        # 2) a function's generation is above every function feeding it: sorting gives a valid order
        found.sort(key=lambda f: f.generation, reverse=True)

        for f in found:
            gys = [o().grad for o in f.outputs]
            gxs = f.backward(*gys)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            for x, gx in zip(f.inputs, gxs):
                if x.grad is None:
                    x.grad = gx
                else:
                    x.grad = x.grad + gx
            if not retain_grad:
                for o in f.outputs:
                    o().grad = None


class Function:
    def __call__(self, *inputs):
        inputs = list(map(as_variable, inputs))
        xs = [v.data for v in inputs]
        ys = self.forward(*xs)
        if not isinstance(ys, tuple):
            ys = ys,
        outputs = [Variable(as_array(y)) for y in ys]
        if Config.enable_backprop:
            self.generation = max(v.generation for v in inputs)
            for o in outputs:
                o.set_creator(self)
            self.inputs = inputs
            self.outputs = [weakref.ref(o) for o in outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    def forward(self, *xs):
        raise NotImplementedError()

    def backward(self, *gys):
        raise NotImplementedError()


class Add(Function):
    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        return gy, gy


class Mul(Function):
    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        x0 = self.inputs[0].data
        x1 = self.inputs[1].data
        return x1 * gy, x0 * gy


class Neg(Function):
    def forward(self, x):
        return -1 * x

    def backward(self, gy):
        return -1 * gy


class Sub(Function):
    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        return gy, -1 * gy


class Div(Function):
    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        x0 = self.inputs[0].data
        x1 = self.inputs[1].data
        gx0 = gy / x1
        gx1 = -gy * x0 / x1 ** 2
        return gx0, gx1


class Pow(Function):
    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return np.power(x, self.c)

    def backward(self, gy):
        (x,) = [v.data for v in self.inputs]
        return self.c * np.power(x, self.c - 1) * gy


def add(x0, x1):
    return Add()(x0, as_array(x1))


def mul(x0, x1):
    return Mul()(x0, as_array(x1))


def neg(x):
    return Neg()(x)


def sub(x0, x1):
    return Sub()(x0, as_array(x1))


def rsub(x0, x1):
    return sub(as_array(x1), x0)


def div(x0, x1):
    return Div()(x0, as_array(x1))


def rdiv(x0, x1):
    return div(as_array(x1), x0)


def pow(x, c):
    return Pow(c)(x)


def setup_variable():
    for dunder, fn in [("add", add), ("radd", add), ("mul", mul), ("rmul", mul), ("neg", neg),
                       ("sub", sub), ("rsub", rsub), ("truediv", div), ("rtruediv", rdiv), ("pow", pow)]:
        setattr(Variable, f"__{dunder}__", fn)
    Variable.__array_priority__ = 200


setup_variable()
