"""Probes for DeZero stage 4 (steps 37-52): small trusted functions run inside the sandboxed worker.

Each probe takes the student's module and JSON-able arguments, exercises one behaviour and
returns plain data (numbers, strings, booleans, ndarrays) that the grading process compares
with the same probe run on the reference. This file holds no inputs and no expected values:
those live in the tests, which never enter the worker. Where a probe needs data it cannot be
handed (an upstream gradient, a training set), it makes it from a seed the test passes, with
integer numpy arithmetic of its own (``_uniform``): numpy.random's generators look numpy's functions
up each time they are called, and a submission may have replaced those (tests/test_probe_integrity.py).

Only names the book's ``dezero`` package exports are used (``Variable``, ``Parameter``,
``reshape``, ``sum_to``, ``linear``, ``Layer``, ``Linear``, ``MLP``, ``SGD``, ``DataLoader``...),
so the book's package and a single file are graded alike. A probe relies on as little of the
student's code as it can: an optimizer updates a target the probe defines itself, a data
loader reads a dataset the probe defines itself, and gradients are seeded on the output
(``y.grad = Variable(gy)``) instead of summing it with the student's ``sum``.

Runs on the students' Python too (3.9 and newer).
"""
import numpy as np


def describe(value):
    """Plain description of whatever the student's code produced."""
    kind = type(value).__name__
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return {"type": kind, "dtype": str(value.dtype), "shape": list(value.shape), "array": value}
    if isinstance(value, np.generic) and np.asarray(value).dtype.kind in "biufc":
        return {"type": kind, "dtype": str(value.dtype), "shape": [], "array": np.asarray(value)}
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return {"type": kind, "dtype": None, "shape": [], "array": np.asarray(value, dtype=float)}
    return {"type": kind, "dtype": None, "shape": None, "array": None}


def _value(mod, value):
    """describe() of a Variable's data (typed "Variable"), else of the value itself."""
    if isinstance(value, mod.Variable):
        described = describe(value.data)
        described["type"] = "Variable"
        return described
    return describe(value)


def _uniform(seed, count):
    """``count`` numbers in [0, 1) from ``seed``: splitmix64 of a counter, in uint64 array arithmetic
    (exact, so the worker and the grading process make the same numbers on any Python or numpy)."""
    z = (np.arange(count, dtype=np.uint64) + (np.uint64(seed) << np.uint64(32))) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 9007199254740992.0  # the top 53 bits over 2 ** 53


def _normal(seed, shape):
    """Standard normal numbers of ``shape`` from ``seed`` (Box-Muller on two streams of _uniform)."""
    count = 1
    for size in shape:
        count *= int(size)
    u = _uniform(seed, 2 * count)
    return (np.sqrt(-2.0 * np.log(1.0 - u[:count])) * np.cos(2.0 * np.pi * u[count:])).reshape(tuple(shape))


def _permutation(seed, count):
    """A shuffled order of range(count) from ``seed``."""
    return _uniform(seed, count).argsort(kind="stable")


def _upstream(seed, shape):
    """The gradient a test seeds on a function's output: standard normal numbers from ``seed``."""
    return _normal(seed, shape)


# ---- the functions of steps 37-47, by name ------------------------------------------------------

def _index(parts):
    """A numpy index from its JSON form: a list of ["int", i], ["slice", start, stop, step], ["take", [...]]."""
    built = []
    for part in parts:
        if part[0] == "int":
            built.append(int(part[1]))
        elif part[0] == "slice":
            built.append(slice(*part[1:]))
        else:
            built.append(np.array(part[1], dtype=int))
    return tuple(built)


def _axis(value):
    return tuple(value) if isinstance(value, list) else value


def _transpose_method(x, axes, packed):
    """``x.transpose()`` (or ``x.transpose(None)``, ``packed``), ``x.transpose(1, 0, 2)`` or, ``packed``,
    ``x.transpose((1, 0, 2))``."""
    if axes is None:
        return x.transpose(None) if packed else x.transpose()
    return x.transpose(tuple(axes)) if packed else x.transpose(*axes)


# name -> (how to call it, which inputs are differentiable). ``p`` holds the call's own settings.
OPS = {
    "reshape": (lambda mod, xs, p, t: mod.reshape(xs[0], tuple(p["shape"])), (0,)),
    "reshape_method": (lambda mod, xs, p, t: xs[0].reshape(*p["shape"]), (0,)),
    "reshape_method_tuple": (lambda mod, xs, p, t: xs[0].reshape(tuple(p["shape"])), (0,)),
    "transpose": (lambda mod, xs, p, t: mod.transpose(xs[0], _axis(p.get("axes"))), (0,)),
    "transpose_method": (lambda mod, xs, p, t: _transpose_method(xs[0], p.get("axes"), p.get("packed", False)), (0,)),
    "T": (lambda mod, xs, p, t: xs[0].T, (0,)),
    "sum": (lambda mod, xs, p, t: mod.sum(xs[0], _axis(p.get("axis")), p.get("keepdims", False)), (0,)),
    "sum_method": (lambda mod, xs, p, t: xs[0].sum(axis=_axis(p.get("axis")), keepdims=p.get("keepdims", False)),
                   (0,)),
    "sum_to": (lambda mod, xs, p, t: mod.sum_to(xs[0], tuple(p["shape"])), (0,)),
    "broadcast_to": (lambda mod, xs, p, t: mod.broadcast_to(xs[0], tuple(p["shape"])), (0,)),
    "add": (lambda mod, xs, p, t: xs[0] + xs[1], (0, 1)),
    "sub": (lambda mod, xs, p, t: xs[0] - xs[1], (0, 1)),
    "mul": (lambda mod, xs, p, t: xs[0] * xs[1], (0, 1)),
    "div": (lambda mod, xs, p, t: xs[0] / xs[1], (0, 1)),
    "matmul": (lambda mod, xs, p, t: mod.matmul(xs[0], xs[1]), (0, 1)),
    "linear": (lambda mod, xs, p, t: mod.linear(*xs), (0, 1, 2)),
    "linear_nobias": (lambda mod, xs, p, t: mod.linear(xs[0], xs[1]), (0, 1)),
    "sigmoid": (lambda mod, xs, p, t: mod.sigmoid(xs[0]), (0,)),
    "relu": (lambda mod, xs, p, t: mod.relu(xs[0]), (0,)),
    "mean_squared_error": (lambda mod, xs, p, t: mod.mean_squared_error(xs[0], xs[1]), (0, 1)),
    "softmax": (lambda mod, xs, p, t: mod.softmax(xs[0], **({"axis": p["axis"]} if "axis" in p else {})), (0,)),
    "softmax_cross_entropy": (lambda mod, xs, p, t: mod.softmax_cross_entropy(xs[0], t), (0,)),
    "get_item": (lambda mod, xs, p, t: mod.get_item(xs[0], _index(p["index"])), (0,)),
    "getitem_operator": (lambda mod, xs, p, t: xs[0][_index(p["index"])], (0,)),
    "accuracy": (lambda mod, xs, p, t: mod.accuracy(xs[0], t), ()),
    "accuracy_of_arrays": (lambda mod, xs, p, t: mod.accuracy(xs[0].data, mod.Variable(t)), ()),
}


def _apply(mod, op, inputs, params, labels):
    xs = [mod.Variable(np.array(x, dtype=float)) for x in inputs]
    call, _ = OPS[op]
    return xs, call(mod, xs, params or {}, None if labels is None else np.array(labels))


def function(mod, op, inputs, params=None, upstream=None, labels=None):
    """One function of the stage on Variables made from ``inputs``: its output, and with ``upstream``
    (a seed) each differentiable input's grad after ``y.grad = Variable(gy); y.backward()``."""
    xs, out = _apply(mod, op, inputs, params, labels)
    answer = {"type": type(out).__name__, "data": _value(mod, out)}
    if upstream is not None and isinstance(out, mod.Variable):
        out.grad = mod.Variable(_upstream(upstream, out.shape))
        out.backward()
        answer["grads"] = [_value(mod, xs[i].grad) for i in OPS[op][1]]
    return answer


def numerical(mod, op, inputs, params=None, upstream=0, labels=None, eps=1e-6):
    """Central differences of sum(gy * f(inputs)) along every element of each differentiable input,
    computed with the module's forward only (run on the reference by the tests)."""
    inputs = [np.array(x, dtype=float) for x in inputs]

    def weighted(values):
        with mod.no_grad():
            out = _apply(mod, op, values, params, labels)[1]
        return float((np.asarray(out.data) * _upstream(upstream, out.shape)).sum())

    estimates = []
    for position in OPS[op][1]:
        estimate = np.zeros_like(inputs[position])
        for flat in range(inputs[position].size):
            moved = [x.copy() for x in inputs]
            moved[position].flat[flat] += eps
            above = weighted(moved)
            moved[position].flat[flat] -= 2 * eps
            estimate.flat[flat] = (above - weighted(moved)) / (2 * eps)
        estimates.append(describe(estimate))
    return estimates


# ---- layers and models (steps 44-45) -------------------------------------------------------------

def layer_params(mod, shapes, clear=False):
    """A layer holding Parameters, a plain Variable, an ndarray and a nested layer: what params()
    yields, and with ``clear`` whether cleargrads() resets every one of their grads."""
    class Inner(mod.Layer):
        def __init__(self):
            super().__init__()
            self.deep = mod.Parameter(np.full(shapes[2], 3.0), name="deep")

    class Outer(mod.Layer):
        def __init__(self):
            super().__init__()
            self.first = mod.Parameter(np.full(shapes[0], 1.0), name="first")
            self.plain = mod.Variable(np.zeros(shapes[1]), name="plain")
            self.array = np.zeros(shapes[1])
            self.inner = Inner()
            self.second = mod.Parameter(np.full(shapes[1], 2.0), name="second")

    layer = Outer()
    found = list(layer.params())
    answer = {"names": sorted(str(getattr(p, "name", None)) for p in found),
              "again": sorted(str(getattr(p, "name", None)) for p in layer.params()),
              "parameters": all(isinstance(p, mod.Parameter) for p in found)}
    if clear:
        for param in found:
            param.grad = mod.Variable(np.ones_like(param.data))
        layer.cleargrads()
        answer["cleared"] = [getattr(p, "grad", 0) is None for p in found]
    return answer


def linear_layer(mod, out_size, x, W, b=None, given_in_size=False, upstream=None):
    """Linear(out_size) (lazy, or with in_size), run once to size it, then with the test's W and b."""
    settings = {"nobias": b is None}
    if given_in_size:
        settings["in_size"] = len(W)
    layer = mod.Linear(out_size, **settings)
    waited = layer.W.data is None
    x = mod.Variable(np.array(x, dtype=float))
    layer(x)
    answer = {"waited": waited, "W_shape": list(np.shape(layer.W.data)), "b_is_none": layer.b is None,
              "b_start": None if layer.b is None else _value(mod, layer.b.data),
              "params": len(list(layer.params()))}
    layer.W.data = np.array(W, dtype=float)
    if not settings["nobias"]:
        layer.b.data = np.array(b, dtype=float)
    y = layer(x)
    answer["y"] = _value(mod, y)
    if upstream is not None:
        y.grad = mod.Variable(_upstream(upstream, y.shape))
        y.backward()
        answer["grads"] = [_value(mod, v.grad) for v in (x, layer.W) + (() if b is None else (layer.b,))]
    return answer


def linear_init(mod, in_size, out_size, seed, lazy):
    """The statistics of a new Linear layer's W and b (np.random seeded first)."""
    np.random.seed(seed)
    if lazy:
        layer = mod.Linear(out_size)
        layer(mod.Variable(np.zeros((1, in_size))))
    else:
        layer = mod.Linear(out_size, in_size=in_size)
    weights = np.asarray(layer.W.data, dtype=float)
    return {"shape": list(weights.shape), "std": float(weights.std()), "mean": float(weights.mean()),
            "b": _value(mod, None if layer.b is None else layer.b.data)}


def _layers(mod, model):
    """The model's layers in the order it set them as attributes (l0, l1, ... in the book)."""
    return [value for value in vars(model).values() if isinstance(value, mod.Layer)]


ACTIVATIONS = {"tanh": lambda mod: mod.tanh, "relu": lambda mod: mod.relu, "sigmoid": lambda mod: mod.sigmoid}


def mlp(mod, sizes, x, weights, activation=None, upstream=None):
    """MLP(sizes[, activation]) sized by a first call, given the test's weights, then run and differentiated."""
    model = mod.MLP(tuple(sizes)) if activation is None else mod.MLP(tuple(sizes), ACTIVATIONS[activation](mod))
    x = mod.Variable(np.array(x, dtype=float))
    model(x)
    layers = _layers(mod, model)
    for layer, (W, b) in zip(layers, weights):
        layer.W.data, layer.b.data = np.array(W, dtype=float), np.array(b, dtype=float)
    y = model(x)
    answer = {"layers": len(layers), "params": len(list(model.params())), "y": _value(mod, y)}
    if upstream is not None:
        y.grad = mod.Variable(_upstream(upstream, y.shape))
        y.backward()
        answer["grads"] = [_value(mod, x.grad)] + [_value(mod, layer.W.grad) for layer in layers]
    return answer


# ---- optimizers (step 46) ------------------------------------------------------------------------

class _Target:
    """What an optimizer updates: anything with params(). The probe's own, so that an optimizer's
    test does not rely on the student's Layer."""

    def __init__(self, parameters):
        self.parameters = parameters

    def params(self):
        for param in self.parameters:
            yield param


def optimizer(mod, kind, settings, params, grads):
    """Several updates of Parameters by SGD or MomentumSGD; ``grads`` holds each step's grads
    (None: that parameter has no grad this step). A hook records how many params it was given."""
    parameters = [mod.Parameter(np.array(p, dtype=float)) for p in params]
    chosen = {"SGD": mod.SGD, "MomentumSGD": mod.MomentumSGD}[kind](**settings).setup(_Target(parameters))
    handed = []
    chosen.add_hook(lambda given: handed.append(len(given)))
    history = []
    for step in grads:
        for param, grad in zip(parameters, step):
            param.grad = None if grad is None else mod.Variable(np.array(grad, dtype=float))
        chosen.update()
        history.append([_value(mod, np.array(param.data)) for param in parameters])  # a copy: updates may be in place
    return {"history": history, "hook": handed}


# ---- datasets and loaders (steps 49-50) ----------------------------------------------------------

TRANSFORMS = {None: None, "double": lambda x: x * 2.0, "next": lambda t: t + 1}


def dataset(mod, data, label, indices, transform=None, target_transform=None):
    """A Dataset subclass whose prepare() sets data and label: len() and the items at ``indices``."""
    class Prepared(mod.Dataset):
        def prepare(self):
            self.data = np.array(data)
            self.label = None if label is None else np.array(label)

    made = Prepared(transform=TRANSFORMS[transform], target_transform=TRANSFORMS[target_transform])
    items = []
    for index in indices:
        x, t = made[index]
        items.append([describe(x), None if t is None else describe(t)])
    return {"len": len(made), "items": items}


class _Numbered:
    """A dataset of ``size`` examples: example i is (i * [1, -1], i). The probe's own."""

    def __init__(self, size):
        self.size = size

    def __getitem__(self, index):
        return np.array([1.0, -1.0]) * index, index

    def __len__(self):
        return self.size


def dataloader(mod, size, batch_size, shuffle, epochs, seed):
    """Every batch a DataLoader gives over ``epochs`` epochs: the labels, and whether x matches them.
    An epoch is cut off after size + 2 batches, so a loader that never stops fails instead of hanging."""
    np.random.seed(seed)
    loader = mod.DataLoader(_Numbered(size), batch_size, shuffle=shuffle)
    answer = []
    for _ in range(epochs):
        batches = []
        for x, t in loader:
            x, t = np.asarray(x), np.asarray(t)
            matches = x.shape == (len(t), 2) and bool(np.array_equal(x[:, 0], t) and np.array_equal(x[:, 1], -t))
            batches.append({"t": describe(t), "x_matches_t": matches})
            if len(batches) > size + 1:
                break
        answer.append(batches)
    return answer


# ---- training as an outcome (steps 43-51) --------------------------------------------------------

def _sine_data(seed, size):
    """The regression data of steps 42-45: y = sin(2 pi x) + uniform noise, x uniform in [0, 1)."""
    x = _uniform(seed, size).reshape(size, 1)
    return x, np.sin(2 * np.pi * x) + _uniform(seed + 1, size).reshape(size, 1)


def train_sine(mod, seed, size, hidden, lr, momentum, iters):
    """MLP((hidden, 1)) fit to the sine data by MomentumSGD, full batch: the loss every 100 iterations."""
    x, y = _sine_data(seed, size)
    np.random.seed(seed)
    model = mod.MLP((hidden, 1))
    chosen = mod.MomentumSGD(lr, momentum).setup(model)
    losses = []
    for iteration in range(iters):
        loss = mod.mean_squared_error(model(x), y)
        model.cleargrads()
        loss.backward()
        chosen.update()
        if iteration % 100 == 0 or iteration == iters - 1:
            losses.append(float(loss.data))
    return {"losses": losses}


def _spiral(seed, per_class, classes=3):
    """The spiral of step 48: ``classes`` arms of ``per_class`` points, shuffled; x float32, t int."""
    x = np.zeros((per_class * classes, 2), dtype=np.float32)
    t = np.repeat(np.arange(classes), per_class)
    rate = np.arange(per_class) / per_class
    noise = _normal(2 * seed, (classes, per_class)) * 0.2
    for arm in range(classes):
        theta = arm * 4.0 + 4.0 * rate + noise[arm]
        x[arm * per_class:(arm + 1) * per_class] = np.stack([rate * np.sin(theta), rate * np.cos(theta)], axis=1)
    order = _permutation(2 * seed + 1, len(t))
    return x[order], t[order]


def train_spiral(mod, seed, per_class, hidden, lr, batch_size, epochs):
    """Step 48: MLP((hidden, 3)) and SGD on shuffled mini-batches of the spiral; loss per epoch,
    then the accuracy on the whole set."""
    x, t = _spiral(seed, per_class)
    np.random.seed(seed)
    model = mod.MLP((hidden, 3))
    chosen = mod.SGD(lr).setup(model)
    losses = []
    for epoch in range(epochs):
        order = _permutation(epochs * seed + epoch, len(x))
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            loss = mod.softmax_cross_entropy(model(x[batch]), t[batch])
            model.cleargrads()
            loss.backward()
            chosen.update()
            total += float(loss.data) * len(batch)
        losses.append(total / len(x))
    with mod.no_grad():
        scores = model(x)
    return {"losses": losses, "accuracy": float(mod.accuracy(scores, t).data)}


def _digit_shapes(seed, classes=10, size=28):
    """One 28 x 28 stroke drawing per class: a few thick line segments between random points."""
    shapes = np.zeros((classes, size, size))
    steps = np.linspace(0.0, 1.0, 60)
    for number in range(classes):
        points = 5 + (size - 11) * _uniform(classes * seed + number, 8).reshape(4, 2)
        for start, end in zip(points, points[1:]):
            rows = np.round(start[0] + (end[0] - start[0]) * steps).astype(int)
            cols = np.round(start[1] + (end[1] - start[1]) * steps).astype(int)
            for d_row in (0, 1):
                for d_col in (0, 1):
                    shapes[number, rows + d_row, cols + d_col] = 255.0
    return shapes


def _digits(seed, count):
    """An MNIST-shaped stand-in: uint8 images (count, 1, 28, 28) of ten classes, each its class's
    drawing shifted by up to 2 pixels, dimmed and noisy; labels 0-9. Made here, never downloaded."""
    shapes = _digit_shapes(20260521)  # the same ten drawings in every set
    streams = 4 * seed  # four streams of numbers per set: labels, shifts, dimming, noise
    labels = (_uniform(streams, count) * 10).astype(int)
    shifts = (_uniform(streams + 1, 2 * count) * 5).astype(int).reshape(count, 2) - 2
    rows = (np.arange(28)[None, :] - shifts[:, :1]) % 28
    cols = (np.arange(28)[None, :] - shifts[:, 1:]) % 28
    moved = shapes[labels[:, None, None], rows[:, :, None], cols[:, None, :]]
    dimmed = moved * (0.6 + 0.4 * _uniform(streams + 2, count).reshape(count, 1, 1))
    images = dimmed + 40 * _normal(streams + 3, (count, 28, 28))
    return np.clip(images, 0, 255).astype(np.uint8)[:, None], labels


def _flat_floats(image):
    """The transform of the book's MNIST: flatten, float32, scaled to [0, 1]."""
    return image.reshape(-1).astype(np.float32) / 255.0


def train_digits(mod, seed, train_size, test_size, hidden, lr, batch_size, epochs):
    """Step 51 on the stand-in: Dataset subclasses with the MNIST transform, DataLoaders, MLP with
    relu, SGD; the training loss per epoch and the accuracy on the test set (under no_grad)."""
    sets = {"train": _digits(seed, train_size), "test": _digits(seed + 1, test_size)}

    class Digits(mod.Dataset):
        def prepare(self):
            self.data, self.label = sets["train" if self.train else "test"]

    np.random.seed(seed)
    train_loader = mod.DataLoader(Digits(train=True, transform=_flat_floats), batch_size)
    test_loader = mod.DataLoader(Digits(train=False, transform=_flat_floats), batch_size, shuffle=False)
    model = mod.MLP((hidden, 10), activation=mod.relu)
    chosen = mod.SGD(lr).setup(model)
    losses = []
    for _ in range(epochs):
        total, seen = 0.0, 0
        for x, t in train_loader:
            loss = mod.softmax_cross_entropy(model(x), t)
            model.cleargrads()
            loss.backward()
            chosen.update()
            total, seen = total + float(loss.data) * len(t), seen + len(t)
            if seen > 2 * train_size:  # a loader that never stops fails here instead of hanging
                break
        losses.append(total / max(seen, 1))
    hits, seen = 0.0, 0
    with mod.no_grad():
        for x, t in test_loader:
            hits, seen = hits + float(mod.accuracy(model(x), t).data) * len(t), seen + len(t)
            if seen > 2 * test_size:
                break
    return {"losses": losses, "accuracy": hits / max(seen, 1), "tested": seen}


PROBES = {probe.__name__: probe for probe in (
    function, numerical, layer_params, linear_layer, linear_init, mlp, optimizer, dataset, dataloader,
    train_sine, train_spiral, train_digits)}
