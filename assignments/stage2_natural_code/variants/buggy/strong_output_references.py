# Buggy variant: Function keeps its outputs in a plain list (no weakref), so every output and its
# creator form a reference cycle and a dropped graph is only freed by the cycle collector.
# expect-fail: test_graph_freed_when_output_dropped
# hint(en): Function seems to keep its outputs as plain references: store weakref.ref(output) to break the cycle
# hint(ko): Function이 출력을 일반 참조로 갖고 있는 것 같습니다: 순환 참조를 끊도록 weakref.ref(output)을 저장하세요
import numpy as np


class Config:
    enable_backprop = True


class using_config:
    """with using_config('enable_backprop', False): ..."""

    def __init__(self, name, value):
        self.name = name
        self.value = value
        self.saved = None

    def __enter__(self):
        self.saved = getattr(Config, self.name)
        setattr(Config, self.name, self.value)
        return self

    def __exit__(self, exc_type, exc, tb):
        setattr(Config, self.name, self.saved)
        return False  # never swallow the exception


def no_grad():
    return using_config("enable_backprop", False)


def as_array(x):
    if np.isscalar(x):
        return np.array(x)
    return x


def as_variable(obj):
    if isinstance(obj, Variable):
        return obj
    return Variable(obj)


class Variable:
    def __init__(self, data, name=None):
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError("{} is not supported".format(type(data)))
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
        return "variable({})".format(str(self.data).replace("\n", "\n" + " " * 9))

    def set_creator(self, func):
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self):
        self.grad = None

    def backward(self, retain_grad=False):
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        waiting = {id(self.creator): self.creator}
        done = set()
        while waiting:
            key = max(waiting, key=lambda k: waiting[k].generation)
            f = waiting.pop(key)
            done.add(key)
            gxs = f.backward(*[o.grad for o in f.outputs])
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            for x, gx in zip(f.inputs, gxs):
                x.grad = gx if x.grad is None else x.grad + gx
                c = x.creator
                if c is not None and id(c) not in done:
                    waiting[id(c)] = c
            if not retain_grad:
                for o in f.outputs:
                    o.grad = None


class Function:
    def __call__(self, *inputs):
        inputs = [as_variable(i) for i in inputs]
        ys = self.forward(*[i.data for i in inputs])
        if not isinstance(ys, tuple):
            ys = (ys,)
        outputs = [Variable(as_array(y)) for y in ys]
        if Config.enable_backprop:
            self.generation = max([i.generation for i in inputs])
            for o in outputs:
                o.set_creator(self)
            self.inputs = inputs
            self.outputs = outputs
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
        x0, x1 = [i.data for i in self.inputs]
        return gy * x1, gy * x0


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Sub(Function):
    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        return gy, -gy


class Div(Function):
    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        x0, x1 = [i.data for i in self.inputs]
        return gy / x1, gy * (-x0 / x1 ** 2)


class Pow(Function):
    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        x = self.inputs[0].data
        return self.c * x ** (self.c - 1) * gy


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
    Variable.__add__ = Variable.__radd__ = add
    Variable.__mul__ = Variable.__rmul__ = mul
    Variable.__neg__ = neg
    Variable.__sub__ = sub
    Variable.__rsub__ = rsub
    Variable.__truediv__ = div
    Variable.__rtruediv__ = rdiv
    Variable.__pow__ = pow
    Variable.__array_priority__ = 200


setup_variable()
