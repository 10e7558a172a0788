"""Buggy variant: Linear draws W from np.random.randn without the factor sqrt(1 / in_size), so wide
layers start with outputs far larger than their inputs (the 784-pixel digits do not train)."""
# expect-fail: test_public_linear_weight_scale, test_linear_layer_weight_scale, test_digits_stand_in_fits
# hint(en): Linear's W is not scaled: multiply np.random.randn(in_size, out_size) by np.sqrt(1 / in_size)
# hint(ko): Linear의 W 크기가 조정되지 않았습니다: np.random.randn(in_size, out_size)에 np.sqrt(1 / in_size)를 곱하세요
import contextlib
import heapq
import itertools
import math
import weakref

import numpy as np


# ==== Given: the framework of steps 1-36 ========================================================

class Config:
    """Switches shared by every function: with enable_backprop off no graph is recorded."""

    enable_backprop = True


@contextlib.contextmanager
def using_config(name, value):
    """Set ``Config.<name>`` to ``value`` inside a ``with`` block, and restore it afterwards."""
    previous = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, previous)


def no_grad():
    """``with no_grad():`` computes values without recording the graph."""
    return using_config("enable_backprop", False)


def as_array(x):
    """Return ``x`` as an ndarray; numpy operations on 0-d arrays yield scalars."""
    if np.isscalar(x):
        return np.array(x)
    return x


def as_variable(obj):
    """Wrap anything that is not yet a Variable (an ndarray, or None) in one."""
    if isinstance(obj, Variable):
        return obj
    return Variable(obj)


class Variable:
    """An ndarray with a name, a gradient (itself a Variable) and the function that made it."""

    __array_priority__ = 200

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
        return self.data.shape[0]

    def __repr__(self):
        if self.data is None:
            return "variable(None)"
        return "variable(" + str(self.data).replace("\n", "\n" + " " * 9) + ")"

    def set_creator(self, func):
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self):
        self.grad = None

    def backward(self, retain_grad=False, create_graph=False):
        """Fill in ``grad`` (a Variable) for every variable upstream of this one.

        With ``create_graph`` the backward computations are recorded too, so a gradient can
        itself be differentiated (steps 33-36).
        """
        if self.grad is None:
            self.grad = Variable(np.ones_like(self.data))
        pending, seen, order = [], set(), itertools.count()

        def schedule(func):
            if func is not None and func not in seen:
                seen.add(func)
                heapq.heappush(pending, (-func.generation, next(order), func))

        schedule(self.creator)
        while pending:
            func = heapq.heappop(pending)[2]
            output_grads = [output().grad for output in func.outputs]
            with using_config("enable_backprop", create_graph):
                input_grads = func.backward(*output_grads)
                if not isinstance(input_grads, tuple):
                    input_grads = (input_grads,)
                for variable, grad in zip(func.inputs, input_grads):
                    variable.grad = grad if variable.grad is None else variable.grad + grad
                    schedule(variable.creator)
            if not retain_grad:
                for output in func.outputs:
                    output().grad = None

    # ---- steps 37-39: the tensor methods --------------------------------------------------

    def reshape(self, *shape):
        """``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both call ``reshape(x, (2, 3))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return reshape(self, shape)

    def transpose(self, *axes):
        """``x.transpose()``, ``x.transpose(1, 0, 2)`` and ``x.transpose((1, 0, 2))``."""
        if len(axes) == 0:
            axes = None
        elif len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return transpose(self, axes)

    @property
    def T(self):
        """``x.T``: every axis reversed."""
        return transpose(self)

    def sum(self, axis=None, keepdims=False):
        """``x.sum(axis=0, keepdims=True)`` calls the function ``sum``."""
        return sum(self, axis=axis, keepdims=keepdims)


class Parameter(Variable):
    """A Variable that a Layer owns and an optimizer updates (given: the class is the whole point)."""


class Function:
    """Base class of every operation: any number of inputs and outputs, linked into the graph."""

    def __call__(self, *inputs):
        inputs = [as_variable(x) for x in inputs]
        ys = self.forward(*[x.data for x in inputs])
        if not isinstance(ys, tuple):
            ys = (ys,)
        outputs = [Variable(as_array(y)) for y in ys]
        if Config.enable_backprop:
            self.generation = max(x.generation for x in inputs)
            for output in outputs:
                output.set_creator(self)
            self.inputs = inputs
            self.outputs = [weakref.ref(output) for output in outputs]
        return outputs if len(outputs) > 1 else outputs[0]

    def forward(self, *xs):
        raise NotImplementedError()

    def backward(self, *gys):
        raise NotImplementedError()


# ---- the four operators: forward given, backward learns broadcasting (step 40) -----------------

class Add(Function):
    """y = x0 + x1, where numpy may broadcast one input to the other's shape."""

    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        gx0, gx1 = gy, gy
        if self.inputs[0].shape != self.inputs[1].shape:
            gx0 = sum_to(gx0, self.inputs[0].shape)
            gx1 = sum_to(gx1, self.inputs[1].shape)
        return gx0, gx1


class Mul(Function):
    """y = x0 * x1, with broadcasting."""

    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        x0, x1 = self.inputs
        gx0, gx1 = gy * x1, gy * x0
        if x0.shape != x1.shape:
            gx0, gx1 = sum_to(gx0, x0.shape), sum_to(gx1, x1.shape)
        return gx0, gx1


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Sub(Function):
    """y = x0 - x1, with broadcasting."""

    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        x0, x1 = self.inputs
        gx0, gx1 = gy, -gy
        if x0.shape != x1.shape:
            gx0, gx1 = sum_to(gx0, x0.shape), sum_to(gx1, x1.shape)
        return gx0, gx1


class Div(Function):
    """y = x0 / x1, with broadcasting."""

    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        x0, x1 = self.inputs
        gx0 = gy / x1
        gx1 = gy * (-x0 / x1 ** 2)
        if x0.shape != x1.shape:
            gx0, gx1 = sum_to(gx0, x0.shape), sum_to(gx1, x1.shape)
        return gx0, gx1


class Pow(Function):
    """y = x ** c for a constant c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        base = self.inputs[0]
        return self.c * base ** (self.c - 1) * gy


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


# ---- elementwise functions (steps 27-36) -------------------------------------------------------

class Sin(Function):
    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


class Cos(Function):
    def forward(self, x):
        return np.cos(x)

    def backward(self, gy):
        return gy * -sin(self.inputs[0])


class Tanh(Function):
    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        output = self.outputs[0]()
        return gy * (1 - output * output)


class Exp(Function):
    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return gy * self.outputs[0]()


class Log(Function):
    def forward(self, x):
        return np.log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


def sin(x):
    return Sin()(x)


def cos(x):
    return Cos()(x)


def tanh(x):
    return Tanh()(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


# ==== Steps 37-41: functions on tensors ==========================================================

def array_sum_to(x, shape):
    """The ndarray ``x`` summed down to ``shape``: broadcasting run backwards (the book's utils.sum_to)."""
    while x.ndim > len(shape):
        x = x.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and x.shape[axis] != 1:
            x = x.sum(axis=axis, keepdims=True)
    return x


def reshape_sum_backward(gy, x_shape, axis, keepdims):
    """Given: ``gy`` reshaped so that it broadcasts back over the axes ``sum`` removed."""
    ndim = len(x_shape)
    if axis is None or keepdims or ndim == 0:
        return gy
    summed = (axis,) if isinstance(axis, int) else axis
    shape = list(gy.shape)
    for position in sorted(a % ndim for a in summed):
        shape.insert(position, 1)
    return reshape(gy, tuple(shape))


def logsumexp(x, axis=1):
    """Given: log(sum(exp(x), axis)) of an ndarray, kept finite for large values."""
    top = x.max(axis=axis, keepdims=True)
    return top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return np.reshape(x, self.shape)

    def backward(self, gy):
        return gy.reshape(self.x_shape)


def reshape(x, shape):
    if x.shape == shape:
        return as_variable(x)
    return Reshape(shape)(x)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy)
        inverse = [0] * len(self.axes)
        for position, axis in enumerate(self.axes):
            inverse[axis % len(self.axes)] = position
        return transpose(gy, tuple(inverse))


def transpose(x, axes=None):
    return Transpose(axes)(x)


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return np.sum(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        gy = reshape_sum_backward(gy, self.x_shape, self.axis, self.keepdims)
        return broadcast_to(gy, self.x_shape)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - the book's name
    return Sum(axis, keepdims)(x)


class SumTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return array_sum_to(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.x_shape)


def sum_to(x, shape):
    if x.shape == shape:
        return as_variable(x)
    return SumTo(shape)(x)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return np.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.x_shape)


def broadcast_to(x, shape):
    if x.shape == shape:
        return as_variable(x)
    return BroadcastTo(shape)(x)


class MatMul(Function):
    def forward(self, x, W):
        return np.dot(x, W)

    def backward(self, gy):
        x, W = self.inputs
        gx = matmul(gy, W.T)
        gW = matmul(x.T, gy)
        return gx, gW


def matmul(x, W):
    return MatMul()(x, W)


# ==== Steps 42-43 and 47: layers' arithmetic, activations and losses ===============================

class LinearFunction(Function):
    """y = x.dot(W) + b in one function (the book's functions.Linear); b may be None."""

    def forward(self, x, W, b):
        y = np.dot(x, W)
        return y if b is None else y + b

    def backward(self, gy):
        x, W, b = self.inputs
        gx = matmul(gy, W.T)
        gW = matmul(x.T, gy)
        gb = sum_to(gy, b.shape) if b.data is not None else None
        return gx, gW, gb


def linear(x, W, b=None):
    return LinearFunction()(x, W, b)


class Sigmoid(Function):
    def forward(self, x):
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-x))

    def backward(self, gy):
        y = self.outputs[0]()
        return gy * (y - y * y)


def sigmoid(x):
    return Sigmoid()(x)


class ReLU(Function):
    def forward(self, x):
        return np.where(x > 0, x, 0.0)

    def backward(self, gy):
        x, = self.inputs
        mask = (x.data > 0).astype(gy.dtype)
        return gy * mask


def relu(x):
    return ReLU()(x)


class MeanSquaredError(Function):
    """sum((x0 - x1) ** 2) / len(x0): the squared error averaged over the rows."""

    def forward(self, x0, x1):
        diff = x0 - x1
        return np.sum(diff * diff) / diff.shape[0]

    def backward(self, gy):
        x0, x1 = self.inputs
        diff = x0 - x1
        g = gy * diff * (2.0 / diff.shape[0])
        return g, -g


def mean_squared_error(x0, x1):
    return MeanSquaredError()(x0, x1)


class Softmax(Function):
    def __init__(self, axis=1):
        self.axis = axis

    def forward(self, x):
        e = np.exp(x - np.max(x, axis=self.axis, keepdims=True))
        return e / np.sum(e, axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.outputs[0]()
        gx = y * gy
        s = gx.sum(axis=self.axis, keepdims=True)
        return gx - y * s


def softmax(x, axis=1):
    return Softmax(axis)(x)


class SoftmaxCrossEntropy(Function):
    """The mean over the batch of -log softmax(x)[t]: x holds scores (N, classes), t labels (N,)."""

    def forward(self, x, t):
        n = x.shape[0]
        shifted = x - x.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -np.mean(log_p[np.arange(n), t])

    def backward(self, gy):
        x, t = self.inputs
        n, c = x.shape
        onehot = np.zeros((n, c))
        onehot[np.arange(n), t.data] = 1.0
        return (softmax(x) - onehot) * gy / n


def softmax_cross_entropy(x, t):
    return SoftmaxCrossEntropy()(x, t)


class GetItem(Function):
    """y = x[slices]: any numpy index (an int, slices, arrays of indices, a tuple of them)."""

    def __init__(self, slices):
        self.slices = slices

    def forward(self, x):
        return x[self.slices]

    def backward(self, gy):
        return GetItemGrad(self.slices, self.inputs[0].shape)(gy)


class GetItemGrad(Function):
    """The gradient of x[slices]: gy scattered into zeros shaped like x, adding where indices repeat."""

    def __init__(self, slices, in_shape):
        self.slices = slices
        self.in_shape = in_shape

    def forward(self, gy):
        gx = np.zeros(self.in_shape, dtype=gy.dtype)
        np.add.at(gx, self.slices, gy)
        return gx

    def backward(self, ggx):
        return get_item(ggx, self.slices)


def get_item(x, slices):
    return GetItem(slices)(x)


def accuracy(y, t):
    """The share of rows of y (scores) whose largest score is at the label t; not differentiable."""
    y = y.data if isinstance(y, Variable) else y
    t = t.data if isinstance(t, Variable) else t
    pred = np.argmax(y, axis=1)
    return Variable(np.array(np.mean(pred == t.reshape(pred.shape))))


def setup_variable():
    """Given: operators and indexing for Variable, so formulas read like numpy code."""
    operators = {"__add__": add, "__radd__": add, "__mul__": mul, "__rmul__": mul, "__neg__": neg,
                 "__sub__": sub, "__rsub__": rsub, "__truediv__": div, "__rtruediv__": rdiv, "__pow__": pow,
                 "__getitem__": get_item, "matmul": matmul, "dot": matmul}
    for name, function in operators.items():
        setattr(Variable, name, function)


# ==== Steps 44-45: layers and models =============================================================

class Layer:
    """Holds Parameters and other Layers as attributes, and hands all of their parameters out."""

    def __init__(self):
        self._params = set()

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Layer)):
            self._params.add(name)
        super().__setattr__(name, value)

    def __call__(self, *inputs):
        outputs = self.forward(*inputs)
        if not isinstance(outputs, tuple):
            outputs = (outputs,)
        self.inputs = [weakref.ref(x) for x in inputs]
        self.outputs = [weakref.ref(y) for y in outputs]
        return outputs if len(outputs) > 1 else outputs[0]

    def forward(self, *inputs):
        raise NotImplementedError()

    def params(self):
        """Every Parameter of this layer and, recursively, of the layers it holds."""
        for name in self._params:
            obj = getattr(self, name)
            if isinstance(obj, Layer):
                for p in obj.params():
                    yield p
            else:
                yield obj

    def cleargrads(self):
        """Reset the grad of every parameter: call it before each backward of a training loop."""
        for p in self.params():
            p.cleargrad()


class Linear(Layer):
    """y = x.dot(W) + b with W of shape (in_size, out_size); in_size may wait for the first x."""

    def __init__(self, out_size, nobias=False, dtype=np.float32, in_size=None):
        super().__init__()
        self.in_size = in_size
        self.out_size = out_size
        self.dtype = dtype
        self.W = Parameter(None, name="W")
        if in_size is not None:
            self._init_W()
        if nobias:
            self.b = None
        else:
            self.b = Parameter(np.zeros(out_size, dtype=dtype), name="b")

    def _init_W(self):
        self.W.data = np.random.randn(self.in_size, self.out_size).astype(self.dtype)

    def forward(self, x):
        if self.W.data is None:
            self.in_size = x.shape[1]
            self._init_W()
        return linear(x, self.W, self.b)


class Model(Layer):
    """A Layer that is a whole network (given: models differ from layers only in what they hold)."""


class MLP(Model):
    """A multi-layer perceptron: Linear layers of the given output sizes, activation between them."""

    def __init__(self, fc_output_sizes, activation=sigmoid):
        super().__init__()
        self.activation = activation
        self.layers = []
        for i, size in enumerate(fc_output_sizes):
            layer = Linear(size)
            setattr(self, "l" + str(i), layer)
            self.layers.append(layer)

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


# ==== Step 46: optimizers ========================================================================

class Optimizer:
    """Updates the parameters of its target (a Layer or Model) from their grads."""

    def __init__(self):
        self.target = None
        self.hooks = []

    def setup(self, target):
        self.target = target
        return self

    def update(self):
        params = [p for p in self.target.params() if p.grad is not None]
        for f in self.hooks:
            f(params)
        for p in params:
            self.update_one(p)

    def update_one(self, param):
        raise NotImplementedError()

    def add_hook(self, f):
        self.hooks.append(f)


class SGD(Optimizer):
    def __init__(self, lr=0.01):
        super().__init__()
        self.lr = lr

    def update_one(self, param):
        param.data -= self.lr * param.grad.data


class MomentumSGD(Optimizer):
    """v <- momentum * v - lr * grad; param <- param + v, with one v per parameter."""

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__()
        self.lr = lr
        self.momentum = momentum
        self.vs = {}

    def update_one(self, param):
        v = self.vs.get(id(param))
        if v is None:
            v = np.zeros_like(param.data)
            self.vs[id(param)] = v
        v *= self.momentum
        v -= self.lr * param.grad.data
        param.data += v


# ==== Steps 49-50: datasets and mini-batches =====================================================

class Dataset:
    """data[i] (through transform) and label[i] (through target_transform); prepare() fills them."""

    def __init__(self, train=True, transform=None, target_transform=None):
        self.train = train
        self.transform = transform if transform is not None else (lambda x: x)
        self.target_transform = target_transform if target_transform is not None else (lambda t: t)
        self.data = None
        self.label = None
        self.prepare()

    def __getitem__(self, index):
        if self.label is None:
            return self.transform(self.data[index]), None
        return self.transform(self.data[index]), self.target_transform(self.label[index])

    def __len__(self):
        return len(self.data)

    def prepare(self):
        pass


class DataLoader:
    """Mini-batches (x, t) of a dataset, shuffled anew every epoch when shuffle is on."""

    def __init__(self, dataset, batch_size, shuffle=True):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.data_size = len(dataset)
        self.max_iter = (self.data_size + batch_size - 1) // batch_size
        self.reset()

    def reset(self):
        self.iteration = 0
        self.index = np.random.permutation(self.data_size) if self.shuffle else np.arange(self.data_size)

    def __iter__(self):
        return self

    def __next__(self):
        if self.iteration >= self.max_iter:
            self.reset()
            raise StopIteration
        i, bs = self.iteration, self.batch_size
        batch = [self.dataset[j] for j in self.index[i * bs:(i + 1) * bs]]
        x = np.array([example[0] for example in batch])
        t = np.array([example[1] for example in batch])
        self.iteration += 1
        return x, t

    def next(self):
        return self.__next__()


setup_variable()
