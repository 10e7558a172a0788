# Correct variant: type hints on the parts it writes, progress printed while loading and in Conv2d and
# RNN, im2col_array gathering with index arrays, col2im_array adding patch by patch over the output
# places, and unchain / unchain_backward through a helper that walks the graph.
import contextlib
import heapq
import itertools
import math
import weakref

import numpy as np

print("my DeZero, steps 1-60: loading")

# ---- CuPy when there is a GPU, NumPy otherwise (step 52) -----------------------------------------
try:
    import cupy
    GPU_ENABLE = True
except ImportError:  # no GPU here: every array is a NumPy array
    cupy = None
    GPU_ENABLE = False


def get_array_module(x):
    """``cupy`` for a CuPy array (or a Variable holding one), else ``numpy``."""
    if isinstance(x, Variable):
        x = x.data
    if not GPU_ENABLE:
        return np
    return cupy.get_array_module(x)


def as_numpy(x):
    if isinstance(x, Variable):
        x = x.data
    if np.isscalar(x):
        return np.array(x)
    if isinstance(x, np.ndarray):
        return x
    return cupy.asnumpy(x)


def as_cupy(x):
    if isinstance(x, Variable):
        x = x.data
    if not GPU_ENABLE:
        raise RuntimeError("CuPy cannot be imported: install CuPy on a machine with a GPU")
    return cupy.asarray(x)


def array_types():
    """The array classes a Variable may hold."""
    return (np.ndarray,) if not GPU_ENABLE else (np.ndarray, cupy.ndarray)


# ---- Config ----------------------------------------------------------------------------------------

class Config:
    """Switches shared by every function: backprop on or off, training or test mode."""

    enable_backprop = True
    train = True


@contextlib.contextmanager
def using_config(name, value):
    saved = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, saved)


def no_grad():
    return using_config("enable_backprop", False)


def test_mode():
    """``with test_mode():`` runs the model as at prediction time (dropout off)."""
    return using_config("train", False)


# ---- Variable --------------------------------------------------------------------------------------

class Variable:
    """An array with a name, a gradient (itself a Variable) and the function that made it."""

    __array_priority__ = 200

    def __init__(self, data, name=None):
        if data is not None and not isinstance(data, array_types()):
            raise TypeError(f"Variable needs an ndarray, not {type(data).__name__}")
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
        text = str(self.data).replace("\n", "\n" + " " * 9)
        return "variable(" + text + ")"

    def set_creator(self, func):
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self):
        self.grad = None

    def backward(self, retain_grad=False, create_graph=False):
        """Gradients of this variable with respect to every variable upstream of it.

        With ``create_graph`` the backward computation is itself recorded, so the gradients can be
        differentiated again.
        """
        if self.grad is None:
            xp = get_array_module(self.data)
            self.grad = Variable(xp.ones_like(self.data))
        pending, queued, order = [], set(), itertools.count()

        def enqueue(func):
            if func is not None and func not in queued:
                queued.add(func)
                heapq.heappush(pending, (-func.generation, next(order), func))

        enqueue(self.creator)
        while pending:
            func = heapq.heappop(pending)[-1]
            upstream = [output().grad for output in func.outputs]
            with using_config("enable_backprop", create_graph):
                grads = func.backward(*upstream)
                if not isinstance(grads, tuple):
                    grads = (grads,)
                for source, grad in zip(func.inputs, grads):
                    if grad is None:
                        continue
                    source.grad = grad if source.grad is None else source.grad + grad
                    enqueue(source.creator)
            if not retain_grad:
                for output in func.outputs:
                    output().grad = None

    def unchain(self):
        """Forget the function that made this variable (the graph above it is cut here)."""
        print("unchain", self.name) if self.name else None
        self.creator = None

    def unchain_backward(self):
        """Cut the graph behind this variable: every variable upstream forgets its creator."""
        for variable in _upstream(self):
            variable.unchain()

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return reshape(self, shape)

    def transpose(self, *axes):
        if not axes:
            axes = None
        elif len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return transpose(self, axes)

    @property
    def T(self):
        return transpose(self)

    def sum(self, axis=None, keepdims=False):
        return sum(self, axis, keepdims)

    def to_cpu(self):
        if self.data is not None:
            self.data = as_numpy(self.data)

    def to_gpu(self):
        if self.data is not None:
            self.data = as_cupy(self.data)


def _upstream(variable: "Variable") -> list:
    """Every variable that is an input of a function upstream of ``variable`` and has a creator."""
    found, todo, seen = [], [variable.creator], set()
    while todo:
        func = todo.pop()
        if func is None or id(func) in seen:
            continue
        seen.add(id(func))
        for source in func.inputs:
            if source.creator is not None:
                found.append(source)
                todo.append(source.creator)
    return found


class Parameter(Variable):
    """A Variable that a Layer owns and an optimizer updates."""


def as_variable(obj):
    return obj if isinstance(obj, Variable) else Variable(obj)


def as_array(x, array_module=np):
    return array_module.array(x) if np.isscalar(x) else x


# ---- Function --------------------------------------------------------------------------------------

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
        return outputs[0] if len(outputs) == 1 else outputs

    def forward(self, *xs):
        raise NotImplementedError()

    def backward(self, *gys):
        raise NotImplementedError()


# ---- arithmetic with broadcasting (steps 20-22, 40) -------------------------------------------------

class Add(Function):
    def forward(self, x0, x1):
        self.x0_shape, self.x1_shape = x0.shape, x1.shape
        return x0 + x1

    def backward(self, gy):
        g0, g1 = gy, gy
        if self.x0_shape != self.x1_shape:
            g0, g1 = sum_to(g0, self.x0_shape), sum_to(g1, self.x1_shape)
        return g0, g1


class Mul(Function):
    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        x0, x1 = self.inputs
        g0, g1 = gy * x1, gy * x0
        if x0.shape != x1.shape:
            g0, g1 = sum_to(g0, x0.shape), sum_to(g1, x1.shape)
        return g0, g1


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Sub(Function):
    def forward(self, x0, x1):
        self.x0_shape, self.x1_shape = x0.shape, x1.shape
        return x0 - x1

    def backward(self, gy):
        g0, g1 = gy, -gy
        if self.x0_shape != self.x1_shape:
            g0, g1 = sum_to(g0, self.x0_shape), sum_to(g1, self.x1_shape)
        return g0, g1


class Div(Function):
    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        x0, x1 = self.inputs
        g0 = gy / x1
        g1 = gy * (-x0 / x1 ** 2)
        if x0.shape != x1.shape:
            g0, g1 = sum_to(g0, x0.shape), sum_to(g1, x1.shape)
        return g0, g1


class Pow(Function):
    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        (x,) = self.inputs
        return self.c * x ** (self.c - 1) * gy


def _constant(value, like):
    return as_array(value, get_array_module(like.data if isinstance(like, Variable) else like))


def add(x0, x1):
    return Add()(x0, _constant(x1, x0))


def mul(x0, x1):
    return Mul()(x0, _constant(x1, x0))


def neg(x):
    return Neg()(x)


def sub(x0, x1):
    return Sub()(x0, _constant(x1, x0))


def rsub(x0, x1):
    return Sub()(_constant(x1, x0), x0)


def div(x0, x1):
    return Div()(x0, _constant(x1, x0))


def rdiv(x0, x1):
    return Div()(_constant(x1, x0), x0)


def pow(x, c):  # noqa: A001 - the book's name
    return Pow(c)(x)


def setup_variable():
    Variable.__add__ = Variable.__radd__ = add
    Variable.__mul__ = Variable.__rmul__ = mul
    Variable.__neg__ = neg
    Variable.__sub__, Variable.__rsub__ = sub, rsub
    Variable.__truediv__, Variable.__rtruediv__ = div, rdiv
    Variable.__pow__ = pow
    Variable.__getitem__ = get_item


# ---- elementwise functions (steps 27-35) ------------------------------------------------------------

class Sin(Function):
    def forward(self, x):
        return get_array_module(x).sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


class Cos(Function):
    def forward(self, x):
        return get_array_module(x).cos(x)

    def backward(self, gy):
        return gy * -sin(self.inputs[0])


class Tanh(Function):
    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.outputs[0]()
        return gy * (1 - y * y)


class Exp(Function):
    def forward(self, x):
        return get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.outputs[0]()


class Log(Function):
    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        return xp.tanh(x * 0.5) * 0.5 + 0.5  # the same value as 1 / (1 + exp(-x)), without overflow

    def backward(self, gy):
        y = self.outputs[0]()
        return gy * y * (1 - y)


class ReLU(Function):
    def forward(self, x):
        return get_array_module(x).maximum(x, 0.0)

    def backward(self, gy):
        (x,) = self.inputs
        return gy * (x.data > 0)


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


def sigmoid(x):
    return Sigmoid()(x)


def relu(x):
    return ReLU()(x)


# ---- tensor shapes (steps 37-41) -----------------------------------------------------------------

class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.x_shape)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy)
        inverse = tuple(np.argsort([a % len(self.axes) for a in self.axes]))
        return transpose(gy, inverse)


class Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        gy = reshape(gy, _kept_shape(gy.shape, self.x_shape, self.axis, self.keepdims))
        return broadcast_to(gy, self.x_shape)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.x_shape)


class SumTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return sum_to_array(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.x_shape)


class MatMul(Function):
    def forward(self, x, W):
        return x.dot(W)

    def backward(self, gy):
        x, W = self.inputs
        return matmul(gy, W.T), matmul(x.T, gy)


class Affine(Function):
    """y = x W + b in one function (the book's linear)."""

    def forward(self, x, W, b=None):
        y = x.dot(W)
        return y if b is None else y + b

    def backward(self, gy):
        x, W = self.inputs[:2]
        grads = (matmul(gy, W.T), matmul(x.T, gy))
        if len(self.inputs) == 3:
            grads += (sum_to(gy, self.inputs[2].shape),)
        return grads


class GetItem(Function):
    def __init__(self, slices):
        self.slices = slices

    def forward(self, x):
        return x[self.slices]

    def backward(self, gy):
        (x,) = self.inputs
        return GetItemGrad(self.slices, x.shape)(gy)


class GetItemGrad(Function):
    def __init__(self, slices, in_shape):
        self.slices, self.in_shape = slices, in_shape

    def forward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        if xp is np:
            np.add.at(gx, self.slices, gy)
        else:
            xp.scatter_add(gx, self.slices, gy)
        return gx

    def backward(self, ggx):
        return get_item(ggx, self.slices)


def _kept_shape(gy_shape, x_shape, axis, keepdims):
    """The shape of a sum's gradient with the summed axes put back as 1s."""
    if keepdims or axis is None and len(gy_shape) == len(x_shape):
        return gy_shape
    if axis is None:
        return (1,) * len(x_shape)
    axes = [a % len(x_shape) for a in (axis if isinstance(axis, tuple) else (axis,))]
    shape = list(gy_shape)
    for a in sorted(axes):
        shape.insert(a, 1)
    return tuple(shape)


def reshape(x, shape):
    if x.shape == tuple(shape):
        return as_variable(x)
    return Reshape(shape)(x)


def transpose(x, axes=None):
    return Transpose(axes)(x)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - the book's name
    return Sum(axis, keepdims)(x)


def broadcast_to(x, shape):
    if x.shape == tuple(shape):
        return as_variable(x)
    return BroadcastTo(shape)(x)


def sum_to(x, shape):
    if x.shape == tuple(shape):
        return as_variable(x)
    return SumTo(shape)(x)


def matmul(x, W):
    return MatMul()(x, W)


def linear(x, W, b=None):
    return Affine()(x, W) if b is None else Affine()(x, W, b)


def get_item(x, slices):
    return GetItem(slices)(x)


def sum_to_array(x, shape):
    """Sum an array down to ``shape`` (the inverse of broadcasting)."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1)
    y = x.sum(axis=axes, keepdims=True)
    return y.squeeze(tuple(range(lead))) if lead else y


# ---- losses and metrics (steps 42-48) -------------------------------------------------------------

class MeanSquaredError(Function):
    def forward(self, x0, x1):
        diff = x0 - x1
        return (diff ** 2).sum() / len(diff)

    def backward(self, gy):
        x0, x1 = self.inputs
        diff = x0 - x1
        g0 = gy * diff * (2.0 / len(diff))
        return g0, -g0


class Softmax(Function):
    def __init__(self, axis=1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.outputs[0]()
        gx = y * gy
        return gx - y * gx.sum(axis=self.axis, keepdims=True)


class SoftmaxCrossEntropy(Function):
    def forward(self, x, t):
        n = x.shape[0]
        log_p = x - logsumexp(x, axis=1)
        return -log_p[np.arange(n), t.ravel()].sum() / np.float32(n)

    def backward(self, gy):
        x, t = self.inputs
        n, classes = x.shape
        xp = get_array_module(t.data)
        y = softmax(x)
        onehot = xp.eye(classes, dtype=t.dtype)[t.data]
        return (y - onehot) * (gy / n), None


def logsumexp(x, axis=1):
    xp = get_array_module(x)
    top = x.max(axis=axis, keepdims=True)
    return top + xp.log(xp.exp(x - top).sum(axis=axis, keepdims=True))


def mean_squared_error(x0, x1):
    return MeanSquaredError()(x0, x1)


def softmax(x, axis=1):
    return Softmax(axis)(x)


def softmax_cross_entropy(x, t):
    return SoftmaxCrossEntropy()(x, t)


def accuracy(y, t):
    y, t = as_variable(y), as_variable(t)
    predicted = y.data.argmax(axis=1).reshape(t.shape)
    return Variable(as_array((predicted == t.data).mean()))


# ---- Layer, Linear, Model (steps 44-46) ------------------------------------------------------------

class Layer:
    """Holds Parameters and other Layers; every attribute of those kinds is a parameter entry."""

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
        return outputs[0] if len(outputs) == 1 else outputs

    def forward(self, *inputs):
        raise NotImplementedError()

    def params(self):
        for name in self._params:
            value = self.__dict__[name]
            if isinstance(value, Layer):
                yield from value.params()
            else:
                yield value

    def cleargrads(self):
        for param in self.params():
            param.cleargrad()

    def to_cpu(self):
        for param in self.params():
            param.to_cpu()

    def to_gpu(self):
        for param in self.params():
            param.to_gpu()

    def _flatten_params(self, params_dict, parent_key=""):
        """Fill ``params_dict`` with every Parameter below this layer, keyed by its path ("l1/W")."""
        for name in self._params:
            value = self.__dict__[name]
            key = f"{parent_key}/{name}" if parent_key else name
            if isinstance(value, Layer):
                value._flatten_params(params_dict, key)
            else:
                params_dict[key] = value

    def save_weights(self, path):
        """Write every parameter's data to the .npz file ``path``, keyed by its flattened name."""
        self.to_cpu()
        params_dict = {}
        self._flatten_params(params_dict)
        arrays = {key: param.data for key, param in params_dict.items() if param.data is not None}
        np.savez_compressed(path, **arrays)

    def load_weights(self, path):
        """Set every parameter's data from the .npz file ``path`` written by save_weights."""
        params_dict = {}
        self._flatten_params(params_dict)
        with np.load(path) as npz:
            for key, param in params_dict.items():
                param.data = npz[key]


class Linear(Layer):
    """y = x W + b; W's input size is taken from the first input when not given."""

    def __init__(self, out_size, nobias=False, dtype=np.float32, in_size=None):
        super().__init__()
        self.in_size, self.out_size, self.dtype = in_size, out_size, dtype
        self.W = Parameter(None, name="W")
        if in_size is not None:
            self._init_W()
        self.b = None if nobias else Parameter(np.zeros(out_size, dtype=dtype), name="b")

    def _init_W(self, xp=np):
        scale = np.sqrt(1 / self.in_size)
        self.W.data = (xp.random.randn(self.in_size, self.out_size) * scale).astype(self.dtype)

    def forward(self, x):
        if self.W.data is None:
            self.in_size = x.shape[1]
            self._init_W(get_array_module(x))
        return linear(x, self.W, self.b)


class Model(Layer):
    """A Layer that is a whole network."""


class Sequential(Model):
    def __init__(self, *layers):
        super().__init__()
        self.layers = list(layers)
        for number, layer in enumerate(layers):
            setattr(self, f"l{number}", layer)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class MLP(Model):
    def __init__(self, fc_output_sizes, activation=sigmoid):
        super().__init__()
        self.activation = activation
        self.layers = []
        for number, size in enumerate(fc_output_sizes):
            layer = Linear(size)
            setattr(self, f"l{number}", layer)
            self.layers.append(layer)

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


# ---- optimizers (steps 46-47) ----------------------------------------------------------------------

class Optimizer:
    def __init__(self):
        self.target = None
        self.hooks = []

    def setup(self, target):
        self.target = target
        return self

    def update(self):
        params = [p for p in self.target.params() if p.grad is not None]
        for hook in self.hooks:
            hook(params)
        for param in params:
            self.update_one(param)

    def update_one(self, param):
        raise NotImplementedError()

    def add_hook(self, hook):
        self.hooks.append(hook)


class SGD(Optimizer):
    def __init__(self, lr=0.01):
        super().__init__()
        self.lr = lr

    def update_one(self, param):
        param.data -= self.lr * param.grad.data


class MomentumSGD(Optimizer):
    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__()
        self.lr, self.momentum = lr, momentum
        self.velocities = {}

    def update_one(self, param):
        key = id(param)
        if key not in self.velocities:
            self.velocities[key] = get_array_module(param.data).zeros_like(param.data)
        velocity = self.velocities[key]
        velocity *= self.momentum
        velocity -= self.lr * param.grad.data
        param.data += velocity


class Adam(Optimizer):
    def __init__(self, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__()
        self.t = 0
        self.alpha, self.beta1, self.beta2, self.eps = alpha, beta1, beta2, eps
        self.ms, self.vs = {}, {}

    def update(self, *args, **kwargs):
        self.t += 1
        super().update(*args, **kwargs)

    @property
    def lr(self):
        correction = math.sqrt(1.0 - self.beta2 ** self.t) / (1.0 - self.beta1 ** self.t)
        return self.alpha * correction

    def update_one(self, param):
        xp = get_array_module(param.data)
        key = id(param)
        if key not in self.ms:
            self.ms[key], self.vs[key] = xp.zeros_like(param.data), xp.zeros_like(param.data)
        m, v, grad = self.ms[key], self.vs[key], param.grad.data
        m += (1 - self.beta1) * (grad - m)
        v += (1 - self.beta2) * (grad * grad - v)
        param.data -= self.lr * m / (xp.sqrt(v) + self.eps)


# ---- datasets and loaders (steps 49-50) -----------------------------------------------------------

class Dataset:
    def __init__(self, train=True, transform=None, target_transform=None):
        self.train = train
        self.transform = transform or (lambda x: x)
        self.target_transform = target_transform or (lambda t: t)
        self.data, self.label = None, None
        self.prepare()

    def __getitem__(self, index):
        assert np.isscalar(index)
        label = None if self.label is None else self.target_transform(self.label[index])
        return self.transform(self.data[index]), label

    def __len__(self):
        return len(self.data)

    def prepare(self):
        pass


class SinCurve(Dataset):
    """The sine wave of steps 59-60: 999 (x_t, x_t+1) pairs; noisy sine to train, cosine to test."""

    def prepare(self):
        x = np.linspace(0, 2 * np.pi, 1000)
        y = np.sin(x) + np.random.uniform(-0.05, 0.05, size=x.shape) if self.train else np.cos(x)
        self.data, self.label = y[:-1, np.newaxis], y[1:, np.newaxis]


class DataLoader:
    def __init__(self, dataset, batch_size, shuffle=True, gpu=False):
        self.dataset, self.batch_size, self.shuffle, self.gpu = dataset, batch_size, shuffle, gpu
        self.data_size = len(dataset)
        self.max_iter = math.ceil(self.data_size / batch_size)
        self.reset()

    def reset(self):
        self.iteration = 0
        size = len(self.dataset)
        self.index = np.random.permutation(size) if self.shuffle else np.arange(size)

    def __iter__(self):
        return self

    def __next__(self):
        if self.iteration >= self.max_iter:
            self.reset()
            raise StopIteration
        start = self.iteration * self.batch_size
        batch = [self.dataset[i] for i in self.index[start:start + self.batch_size]]
        self.iteration += 1
        return self._stack(batch)

    def _stack(self, batch):
        xp = cupy if self.gpu else np
        return xp.array([pair[0] for pair in batch]), xp.array([pair[1] for pair in batch])

    def next(self):
        return self.__next__()

    def to_cpu(self):
        self.gpu = False

    def to_gpu(self):
        self.gpu = True


class SeqDataLoader(DataLoader):
    """Batches for a time series: row i of every batch follows its own place in the series, in order."""

    def __init__(self, dataset, batch_size, gpu=False):
        super().__init__(dataset, batch_size, shuffle=False, gpu=gpu)

    def __next__(self):
        if self.iteration >= self.max_iter:
            self.reset()
            raise StopIteration
        jump = self.data_size // self.batch_size
        rows = [(i * jump + self.iteration) % self.data_size for i in range(self.batch_size)]
        self.iteration += 1
        return self._stack([self.dataset[i] for i in rows])


# ---- dropout (step 54) -------------------------------------------------------------------------------

def dropout(x, dropout_ratio=0.5):
    """Inverted dropout: in training, zero each element with probability dropout_ratio and scale the
    rest by 1 / (1 - dropout_ratio); in test mode, return x unchanged."""
    x = as_variable(x)
    if not Config.train:
        return x
    xp = get_array_module(x)
    mask = xp.random.rand(*x.shape) > dropout_ratio
    scale = xp.array(1.0 - dropout_ratio).astype(x.dtype)
    return x * mask / scale


# ---- convolution helpers (steps 55-57) ---------------------------------------------------------

def pair(value):
    """``3`` -> ``(3, 3)``; a pair stays as it is."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f"expected an int or a pair of ints, not {value!r}")


def get_conv_outsize(input_size, kernel_size, stride, pad):
    return (input_size + 2 * pad - kernel_size) // stride + 1


def _as_rows(col: np.ndarray) -> np.ndarray:
    N, C, KH, KW, OH, OW = col.shape
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * OH * OW, C * KH * KW)


def im2col_array(img: np.ndarray, kernel_size, stride, pad, to_matrix: bool = True) -> np.ndarray:
    """Patches of ``img`` (N, C, H, W) as an array (N, C, KH, KW, OH, OW), or as a matrix
    (N*OH*OW, C*KH*KW) whose rows are patches when ``to_matrix``."""
    N, C, H, W = img.shape
    (KH, KW), (SH, SW), (PH, PW) = pair(kernel_size), pair(stride), pair(pad)
    OH, OW = get_conv_outsize(H, KH, SH, PH), get_conv_outsize(W, KW, SW, PW)
    padded = np.pad(img, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
    rows = np.arange(KH)[:, None, None, None] + SH * np.arange(OH)[None, None, :, None]
    columns = np.arange(KW)[None, :, None, None] + SW * np.arange(OW)[None, None, None, :]
    col = padded[:, :, rows, columns]                    # (N, C, KH, KW, OH, OW)
    return _as_rows(col) if to_matrix else col


def col2im_array(col: np.ndarray, img_shape: tuple, kernel_size, stride, pad,
                 to_matrix: bool = True) -> np.ndarray:
    """The adjoint of im2col_array: add every patch back to its place in an (N, C, H, W) image."""
    N, C, H, W = img_shape
    (KH, KW), (SH, SW), (PH, PW) = pair(kernel_size), pair(stride), pair(pad)
    OH, OW = get_conv_outsize(H, KH, SH, PH), get_conv_outsize(W, KW, SW, PW)
    if to_matrix:
        col = col.reshape(N, OH, OW, C, KH, KW).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * PH, W + 2 * PW), dtype=col.dtype)
    for oh in range(OH):
        for ow in range(OW):
            img[:, :, oh * SH:oh * SH + KH, ow * SW:ow * SW + KW] += col[:, :, :, :, oh, ow]
    return img[:, :, PH:PH + H, PW:PW + W]


class Im2col(Function):
    def __init__(self, kernel_size, stride, pad, to_matrix):
        self.kernel_size, self.stride, self.pad, self.to_matrix = kernel_size, stride, pad, to_matrix

    def forward(self, x):
        self.input_shape = x.shape
        return im2col_array(x, self.kernel_size, self.stride, self.pad, self.to_matrix)

    def backward(self, gy):
        return col2im(gy, self.input_shape, self.kernel_size, self.stride, self.pad, self.to_matrix)


class Col2im(Function):
    def __init__(self, input_shape, kernel_size, stride, pad, to_matrix):
        self.input_shape = input_shape
        self.kernel_size, self.stride, self.pad, self.to_matrix = kernel_size, stride, pad, to_matrix

    def forward(self, x):
        return col2im_array(x, self.input_shape, self.kernel_size, self.stride, self.pad, self.to_matrix)

    def backward(self, gy):
        return im2col(gy, self.kernel_size, self.stride, self.pad, self.to_matrix)


def im2col(x, kernel_size, stride=1, pad=0, to_matrix=True):
    return Im2col(kernel_size, stride, pad, to_matrix)(x)


def col2im(x, input_shape, kernel_size, stride=1, pad=0, to_matrix=True):
    return Col2im(input_shape, kernel_size, stride, pad, to_matrix)(x)


# ---- conv2d and pooling (step 57) --------------------------------------------------------------

class Convolution2D(Function):
    """y[n, oc] = sum over c, kh, kw of W[oc, c, kh, kw] * (the patch of x[n, c] at each place) + b[oc]."""

    def __init__(self, stride=1, pad=0):
        self.stride, self.pad = pair(stride), pair(pad)

    def forward(self, x, W, b=None):
        xp = get_array_module(x)
        col = im2col_array(x, W.shape[2:], self.stride, self.pad, to_matrix=False)
        y = xp.tensordot(col, W, ((1, 2, 3), (1, 2, 3)))
        if b is not None:
            y = y + b
        return y.transpose(0, 3, 1, 2)

    def backward(self, gy):
        x, W = self.inputs[:2]
        OC, KH, KW = W.shape[0], W.shape[2], W.shape[3]
        rows = gy.transpose(0, 2, 3, 1).reshape(-1, OC)
        col = im2col(x, (KH, KW), self.stride, self.pad, to_matrix=True)
        gW = matmul(rows.T, col).reshape(W.shape)
        gx = col2im(matmul(rows, W.reshape(OC, -1)), x.shape, (KH, KW), self.stride, self.pad, to_matrix=True)
        if len(self.inputs) == 2:
            return gx, gW
        return gx, gW, sum(gy, axis=(0, 2, 3))


def conv2d(x, W, b=None, stride=1, pad=0):
    """2-d convolution of x (N, C, H, W) with filters W (OC, C, KH, KW): (N, OC, OH, OW)."""
    function = Convolution2D(stride, pad)
    return function(x, W) if b is None else function(x, W, b)


class MaxPooling2D(Function):
    """The largest value of each (KH, KW) window of every channel."""

    def __init__(self, kernel_size, stride=1, pad=0):
        self.kernel_size, self.stride, self.pad = kernel_size, stride, pad

    def forward(self, x):
        col = im2col_array(x, self.kernel_size, self.stride, self.pad, to_matrix=False)
        N, C, KH, KW, OH, OW = col.shape
        col = col.reshape(N, C, KH * KW, OH, OW)
        self.indexes = col.argmax(axis=2)
        return col.max(axis=2)

    def backward(self, gy):
        (x,) = self.inputs
        N, C, OH, OW = gy.shape
        KH, KW = pair(self.kernel_size)
        xp = get_array_module(gy.data)
        gcol = xp.zeros(N * C * OH * OW * KH * KW, dtype=gy.dtype)
        places = xp.arange(self.indexes.size) * (KH * KW) + self.indexes.ravel()
        gcol[places] = gy.data.ravel()
        gcol = gcol.reshape(N, C, OH, OW, KH, KW).transpose(0, 1, 4, 5, 2, 3)
        return Variable(col2im_array(gcol, x.shape, self.kernel_size, self.stride, self.pad, to_matrix=False))


def pooling(x, kernel_size, stride=1, pad=0):
    """Max pooling over (KH, KW) windows of x (N, C, H, W): (N, C, OH, OW)."""
    return MaxPooling2D(kernel_size, stride, pad)(x)


class Conv2d(Layer):
    """A convolution layer: W (OC, C, KH, KW) and b (OC,); C is taken from the first input when not given."""

    def __init__(self, out_channels, kernel_size, stride=1, pad=0, nobias=False, dtype=np.float32,
                 in_channels=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.pad, self.dtype = kernel_size, stride, pad, dtype
        self.W = Parameter(None, name="W")
        if in_channels is not None:
            self._init_W()
        self.b = None if nobias else Parameter(np.zeros(out_channels, dtype=dtype), name="b")

    def _init_W(self, xp=np):
        KH, KW = pair(self.kernel_size)
        fan_in = self.in_channels * KH * KW
        weights = xp.random.randn(self.out_channels, self.in_channels, KH, KW) * np.sqrt(1 / fan_in)
        self.W.data = weights.astype(self.dtype)

    def forward(self, x):
        if self.W.data is None:
            print(f"Conv2d: {x.shape[1]} input channels")
            self.in_channels = x.shape[1]
            self._init_W()
        return conv2d(x, self.W, self.b, self.stride, self.pad)


# ---- recurrent layers (steps 59-60) ------------------------------------------------------------------

class RNN(Layer):
    """An Elman RNN: h_t = tanh(x2h(x_t) + h2h(h_{t-1})), with h2h left out at the first step."""

    def __init__(self, hidden_size, in_size=None):
        super().__init__()
        self.x2h = Linear(hidden_size, in_size=in_size)
        self.h2h = Linear(hidden_size, in_size=hidden_size, nobias=True)
        self.h = None

    def reset_state(self):
        self.h = None

    def forward(self, x):
        new_state: Variable = tanh(self.x2h(x)) if self.h is None else tanh(self.x2h(x) + self.h2h(self.h))
        self.h = new_state
        return new_state


class LSTM(Layer):
    """Long short-term memory: forget, input and output gates (sigmoid) and a tanh candidate u."""

    def __init__(self, hidden_size, in_size=None):
        super().__init__()
        H, I = hidden_size, in_size
        self.x2f, self.x2i, self.x2o, self.x2u = (Linear(H, in_size=I) for _ in range(4))
        self.h2f, self.h2i, self.h2o, self.h2u = (Linear(H, in_size=H, nobias=True) for _ in range(4))
        self.reset_state()

    def reset_state(self):
        self.h, self.c = None, None

    def forward(self, x):
        def preactivation(from_x, from_h):
            return from_x(x) if self.h is None else from_x(x) + from_h(self.h)

        f = sigmoid(preactivation(self.x2f, self.h2f))
        i = sigmoid(preactivation(self.x2i, self.h2i))
        o = sigmoid(preactivation(self.x2o, self.h2o))
        u = tanh(preactivation(self.x2u, self.h2u))
        c_new = i * u if self.c is None else f * self.c + i * u
        h_new = o * tanh(c_new)
        self.h, self.c = h_new, c_new
        return h_new


setup_variable()
