"""Probes for DeZero stage 5: small trusted functions run inside the sandboxed worker.

Each probe takes the student's namespace and JSON-able arguments, exercises one behaviour,
and returns plain data (numbers, strings, booleans, ndarrays) that the grading process
compares with the same probe run on the reference, or with what the equations say. This file
holds no inputs and no expected values: those live in the tests, which never enter the worker.

Only names the book's ``dezero`` package exports are used (``Variable``, ``Config``,
``Layer``, ``Model``, ``Linear``, ``Conv2d``, ``RNN``, ``LSTM``, ``SGD``, ``SeqDataLoader``,
``dropout``, ``test_mode``, ``no_grad``, ``im2col``, ``col2im``, ``conv2d``, ``pooling``), so a
single file and the book's package are graded alike. Where a probe needs a model the book
builds in a step script (SimpleRNN, BetterRNN), the probe defines it from those names.
"""
import os
import tempfile

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


def _data(value):
    """describe() of a Variable's data (or of a bare value the code returned instead)."""
    return describe(getattr(value, "data", value))


def _grad(variable):
    grad = getattr(variable, "grad", None)
    return describe(getattr(grad, "data", grad))


def _size(value):
    """A kernel size, stride or padding from JSON: an int, or a list made a tuple (as the book writes it)."""
    return tuple(value) if isinstance(value, list) else value


def _backprop(mod, y, gy):
    """y.backward() for the loss sum(y * gy): every input's grad is then the vector-Jacobian product."""
    (y * mod.Variable(np.asarray(gy))).sum().backward()


# ---- im2col / col2im ------------------------------------------------------------------------------

def im2col(mod, x, kernel_size, stride, pad, to_matrix):
    return _data(mod.im2col(x, _size(kernel_size), _size(stride), _size(pad), to_matrix))


def col2im(mod, col, input_shape, kernel_size, stride, pad, to_matrix):
    return _data(mod.col2im(col, tuple(input_shape), _size(kernel_size), _size(stride), _size(pad), to_matrix))


def im2col_grad(mod, x, gy, kernel_size, stride, pad, to_matrix):
    source = mod.Variable(np.asarray(x))
    _backprop(mod, mod.im2col(source, _size(kernel_size), _size(stride), _size(pad), to_matrix), gy)
    return _grad(source)


def col2im_grad(mod, col, gy, input_shape, kernel_size, stride, pad, to_matrix):
    source = mod.Variable(np.asarray(col))
    _backprop(mod, mod.col2im(source, tuple(input_shape), _size(kernel_size), _size(stride), _size(pad),
                              to_matrix), gy)
    return _grad(source)


# ---- conv2d and pooling ---------------------------------------------------------------------------

def conv2d(mod, x, W, b, stride, pad):
    return _data(mod.conv2d(x, W, b, _size(stride), _size(pad)))


def conv2d_grads(mod, x, W, b, gy, stride, pad):
    """x.grad, W.grad and b.grad (None without a bias) for the loss sum(conv2d(x, W, b) * gy)."""
    sources = [mod.Variable(np.asarray(v)) if v is not None else None for v in (x, W, b)]
    _backprop(mod, mod.conv2d(*sources, _size(stride), _size(pad)), gy)
    return [_grad(v) if v is not None else None for v in sources]


def conv2d_numerical(mod, x, W, b, gy, stride, pad, eps):
    """Central differences of sum(conv2d(x, W, b) * gy) along every element of x, W and b."""
    arrays = [np.array(v, dtype=float) if v is not None else None for v in (x, W, b)]

    def loss():
        with mod.no_grad():
            return float((mod.conv2d(*arrays, _size(stride), _size(pad)).data * gy).sum())

    return [describe(_central(loss, array, eps)) if array is not None else None for array in arrays]


def _central(loss, array, eps):
    estimate = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        above = loss()
        array[index] = saved - eps
        below = loss()
        array[index] = saved
        estimate[index] = (above - below) / (2 * eps)
    return estimate


def pooling(mod, x, kernel_size, stride, pad):
    return _data(mod.pooling(x, _size(kernel_size), _size(stride), _size(pad)))


def pooling_numerical(mod, x, gy, kernel_size, stride, pad, eps):
    """Central differences of sum(pooling(x) * gy) along every element of x."""
    source = np.array(x, dtype=float)

    def loss():
        with mod.no_grad():
            return float((mod.pooling(source, _size(kernel_size), _size(stride), _size(pad)).data * gy).sum())

    return describe(_central(loss, source, eps))


def pooling_grad(mod, x, gy, kernel_size, stride, pad):
    source = mod.Variable(np.asarray(x))
    _backprop(mod, mod.pooling(source, _size(kernel_size), _size(stride), _size(pad)), gy)
    return _grad(source)


def conv2d_layer(mod, x, out_channels, kernel_size, stride, pad, nobias, in_channels):
    """A Conv2d layer: W before and after the first call, b, the output and its parameters."""
    layer = mod.Conv2d(out_channels, _size(kernel_size), stride=_size(stride), pad=_size(pad), nobias=nobias,
                       in_channels=in_channels)
    before = getattr(layer.W, "data", None)
    before = None if before is None else np.array(before)
    y = layer(np.asarray(x))
    after_first = _data(layer.W)
    again = layer(np.asarray(x))
    bias = getattr(layer, "b", None)
    return {"lazy": before is None, "kept_from_init": before is None or _same(before, layer.W),
            "W": after_first, "W_after_second_call": _data(layer.W), "b": None if bias is None else _data(bias),
            "y": _data(y), "y_again": _data(again), "params": sorted(type(p).__name__ for p in layer.params())}


def _same(array, variable):
    data = getattr(variable, "data", None)
    return isinstance(data, np.ndarray) and data.shape == array.shape and bool(np.array_equal(data, array))


# ---- dropout and test mode ------------------------------------------------------------------------

def dropout(mod, x, ratio, train, seed=0):
    """dropout(x, ratio) with Config.train set to ``train``: y, and x.grad for the loss sum(y).

    NumPy's global generator is seeded first: the tests judge only properties of the mask, but code
    drawing it as the book does then answers the same every time, so a known mistake is recognised.
    """
    saved = mod.Config.train
    mod.Config.train = train
    np.random.seed(seed)
    try:
        source = mod.Variable(np.asarray(x))
        y = mod.dropout(source, ratio)
        y.sum().backward()
        # Step 54 calls dropout on a bare ndarray: the answer is a Variable all the same.
        from_array = type(mod.dropout(np.asarray(x), ratio)).__name__
        return {"y": _data(y), "grad": _grad(source), "from_array": from_array}
    finally:
        mod.Config.train = saved


def test_mode(mod):
    """Config.train inside ``with test_mode():``, after it, and after a block that raised."""
    mod.Config.train = True
    try:
        with mod.test_mode():
            inside = mod.Config.train
        after = mod.Config.train
        try:
            with mod.test_mode():
                raise ArithmeticError
        except ArithmeticError:
            pass
        return {"inside": inside, "after": after, "after_error": mod.Config.train}
    finally:
        mod.Config.train = True


# ---- save_weights / load_weights ------------------------------------------------------------------

def _weights_model(mod):
    """A model with a Linear, a Parameter of its own and a Layer nested in it (parameter paths 1-3 deep)."""
    class Block(mod.Layer):
        def __init__(self):
            super().__init__()
            self.fc = mod.Linear(3, in_size=4)
            self.out = mod.Linear(2, nobias=True, in_size=3)

    class Net(mod.Model):
        def __init__(self):
            super().__init__()
            self.l1 = mod.Linear(4, in_size=5)
            self.block = Block()
            self.scale = mod.Parameter(np.ones(2, dtype=np.float32), name="scale")

        def forward(self, x):
            return self.block.out(self.block.fc(self.l1(x))) * self.scale

    return Net()


WEIGHT_PATHS = ("l1/W", "l1/b", "block/fc/W", "block/fc/b", "block/out/W", "scale")


def _parameter(model, path):
    for name in path.split("/"):
        model = getattr(model, name)
    return model


def saved_weights(mod, weights):
    """The bytes save_weights writes for the model with these weights (a uint8 array)."""
    model = _weights_model(mod)
    for path, value in weights.items():
        _parameter(model, path).data = np.array(value)  # a copy: the caller's array stays as it was
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "weights.npz")
        model.save_weights(path)
        with open(path, "rb") as handle:
            return np.frombuffer(handle.read(), dtype=np.uint8).copy()


def loaded_weights(mod, blob):
    """Every parameter of a fresh model after load_weights from a file holding ``blob``'s bytes."""
    model = _weights_model(mod)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "weights.npz")
        with open(path, "wb") as handle:
            handle.write(np.asarray(blob, dtype=np.uint8).tobytes())
        model.load_weights(path)
    return {path: _data(_parameter(model, path)) for path in WEIGHT_PATHS}


# ---- graph cutting --------------------------------------------------------------------------------

def _graph(variable):
    """The functions reachable backwards from ``variable`` (through creator and inputs)."""
    seen, todo = set(), [getattr(variable, "creator", None)]
    while todo:
        function = todo.pop()
        if function is None or id(function) in seen:
            continue
        seen.add(id(function))
        todo.extend(getattr(source, "creator", None) for source in getattr(function, "inputs", ()))
    return len(seen)


def unchain(mod, x, length):
    """A chain of ``length`` steps; after y.unchain_backward(), which creators are left."""
    value = mod.Variable(np.asarray(x))
    middle = []
    for step in range(length):
        value = value * 0.5 + 1.0 if step % 2 else value * value * 0.25
        middle.append(value)
    y = value.sum()
    before = _graph(y)
    y.unchain_backward()
    alone = mod.Variable(np.asarray(x)) * 2.0
    alone.unchain()
    return {"before": before, "after": _graph(y), "cut": sum(v.creator is None for v in middle),
            "unchain": alone.creator is None}


def bptt_graph(mod, xs, weights, bptt_length, cap):
    """Truncated BPTT over ``xs`` with a recurrence written here: the graph size at every window's end.

    h = tanh(x W + h U), loss = sum of h; every ``bptt_length`` steps: backward, then
    loss.unchain_backward(). Stops once the graph holds more than ``cap`` functions, so a
    graph that keeps growing fails fast instead of costing the whole sequence.
    """
    W, U = (mod.Variable(np.array(weights[name])) for name in ("W", "U"))
    h, loss, sizes = None, 0.0, []
    for count, x in enumerate(xs, start=1):
        pre = mod.matmul(np.asarray(x)[None, :], W)
        h = mod.tanh(pre if h is None else pre + mod.matmul(h, U))
        loss = loss + h.sum()
        if count % bptt_length == 0:
            sizes.append(_graph(loss))
            W.cleargrad()
            U.cleargrad()
            loss.backward()
            loss.unchain_backward()
            if sizes[-1] > cap:
                break
    return {"sizes": sizes, "grad": _grad(W)}


# ---- RNN and LSTM ---------------------------------------------------------------------------------

_RNN_LINEARS = ("x2h", "h2h")
_LSTM_LINEARS = ("x2f", "x2i", "x2o", "x2u", "h2f", "h2i", "h2o", "h2u")


def _set_linears(layer, weights):
    """Give each Linear sublayer named in ``weights`` ("x2h/W": array) its data before the first call.

    Copies: training updates them in place, and the caller's arrays must stay as they were.
    """
    for path, value in weights.items():
        _parameter(layer, path).data = np.array(value)


def rnn_steps(mod, hidden_size, weights, xs, reset_at):
    """The hidden state after each step of RNN(hidden_size) with these weights; reset_state() before
    the steps numbered in ``reset_at``."""
    layer = mod.RNN(hidden_size)
    _set_linears(layer, weights)
    states = []
    for step, x in enumerate(xs):
        if step in reset_at:
            layer.reset_state()
        h = layer(np.asarray(x))
        states.append({"h": _data(h)})
    return states


def lstm_steps(mod, hidden_size, weights, xs, reset_at):
    """h and the memory cell c after each step of LSTM(hidden_size); reset_state() as for rnn_steps."""
    layer = mod.LSTM(hidden_size)
    _set_linears(layer, weights)
    states = []
    for step, x in enumerate(xs):
        if step in reset_at:
            layer.reset_state()
        h = layer(np.asarray(x))
        states.append({"h": _data(h), "c": _data(layer.c)})
    return states


def rnn_grads(mod, kind, hidden_size, weights, xs):
    """Gradients of sum(h_T) over a short sequence with respect to every weight, by backward()."""
    layer = getattr(mod, kind)(hidden_size)
    _set_linears(layer, weights)
    h = None
    for x in xs:
        h = layer(np.asarray(x))
    h.sum().backward()
    return {path: _grad(_parameter(layer, path)) for path in weights}


# ---- training on the sine wave (steps 59-60) ------------------------------------------------------

def _sequence_model(mod, recurrent, hidden_size):
    """The book's SimpleRNN (an RNN) or BetterRNN (an LSTM), each followed by Linear(1)."""
    class SequenceModel(mod.Model):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(mod, recurrent)(hidden_size)
            self.fc = mod.Linear(1)

        def reset_state(self):
            self.rnn.reset_state()

        def forward(self, x):
            return self.fc(self.rnn(x))

    return SequenceModel()


PREDICTED = 100  # points predicted after training (without grad): enough to compare, cheap to run


def _predict(mod, model, xs):
    model.reset_state()
    with mod.no_grad():
        return np.array([float(model(np.array([[x]])).data.ravel()[0]) for x in xs])


def _truncated_bptt(mod, model, optimizer, batches, bptt_length, cap, last=None):
    """The training loop of steps 59-60: the loss sums up; every ``bptt_length`` batches (and at batch
    ``last``) backward, unchain_backward and an update. Returns the loss and the graph size at each
    update, and the number of batches; stops once the graph holds more than ``cap`` functions."""
    model.reset_state()
    loss, count, losses, sizes = 0, 0, [], []
    for x, t in batches:
        loss += mod.mean_squared_error(model(x), t)
        count += 1
        if count % bptt_length == 0 or count == last:
            sizes.append(_graph(loss))
            model.cleargrads()
            loss.backward()
            loss.unchain_backward()
            optimizer.update()
            losses.append(float(loss.data))
            if sizes[-1] > cap:
                break
    return np.array(losses), sizes, count


def train_simple_rnn(mod, series, weights, lr, bptt_length, cap):
    """Step 59: SimpleRNN trained on ``series`` one point at a time with truncated BPTT and SGD.

    Returns the loss of every window, the graph size at every window's end, and the predictions
    for the series afterwards (without grad).
    """
    model = _sequence_model(mod, "RNN", len(weights["rnn/h2h/W"]))
    _set_linears(model, weights)
    xs, ts = np.asarray(series)[:-1], np.asarray(series)[1:]
    batches = ((np.array([[x]]), np.array([[t]])) for x, t in zip(xs, ts))
    losses, sizes, _ = _truncated_bptt(mod, model, mod.SGD(lr).setup(model), batches, bptt_length, cap, len(xs))
    return {"losses": losses, "sizes": sizes, "predicted": _predict(mod, model, xs[:PREDICTED])}


class _Series:
    """A dataset of (x_t, x_t+1) pairs, each a (1,) array, as the book's SinCurve gives them."""

    def __init__(self, series):
        self.series = np.asarray(series, dtype=float)

    def __getitem__(self, index):
        return self.series[index:index + 1], self.series[index + 1:index + 2]

    def __len__(self):
        return len(self.series) - 1


def train_better_rnn(mod, series, weights, lr, bptt_length, batch_size, cap):
    """Step 60: BetterRNN (an LSTM) trained on ``series`` in batches from SeqDataLoader."""
    model = _sequence_model(mod, "LSTM", len(weights["rnn/h2f/W"]))
    _set_linears(model, weights)
    loader = mod.SeqDataLoader(_Series(series), batch_size=batch_size)
    losses, sizes, count = _truncated_bptt(mod, model, mod.SGD(lr).setup(model), loader, bptt_length, cap)
    return {"losses": losses, "sizes": sizes, "batches": count,
            "predicted": _predict(mod, model, np.asarray(series)[:PREDICTED])}


def seq_loader(mod, length, batch_size, epochs):
    """Every batch SeqDataLoader gives over ``epochs`` passes of a series 0, 1, ..., length."""
    loader = mod.SeqDataLoader(_Series(np.arange(length + 1.0)), batch_size=batch_size)
    passes = []
    for _ in range(epochs):
        passes.append([{"x": describe(np.asarray(x)), "t": describe(np.asarray(t))} for x, t in loader])
    return passes


PROBES = {probe.__name__: probe for probe in (
    im2col, col2im, im2col_grad, col2im_grad, conv2d, conv2d_grads, conv2d_numerical, pooling, pooling_grad,
    pooling_numerical, conv2d_layer, dropout, test_mode, saved_weights, loaded_weights, unchain, bptt_graph,
    rnn_steps, lstm_steps, rnn_grads, train_simple_rnn, train_better_rnn, seq_loader)}
