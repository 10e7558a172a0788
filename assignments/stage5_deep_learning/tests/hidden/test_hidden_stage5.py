"""Hidden tests: run at grading only. Messages name the property, never inputs or expected values.

Forward values are held against plain loops written here (the definitions of im2col, convolution,
max pooling, the RNN and LSTM equations), gradients against central differences, and training
against the reference from the same initial weights and data.
"""
import numpy as np
import pytest

from grader.checks import check_array, check_equal, check_npz, check_true
from grader.npz import write_npz


def _rng(seed):
    return np.random.default_rng(seed)


def _described(array):
    """A value the test computed (or a probe assembled) in describe()'s form."""
    if isinstance(array, np.ndarray):
        return {"type": "ndarray", "dtype": str(array.dtype), "shape": list(array.shape), "array": array}
    return {"type": type(array).__name__, "dtype": None, "shape": None, "array": None}


def _pairs(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _as_arg(value):
    return list(value) if isinstance(value, tuple) else value


# ---- what the functions are, written as loops -------------------------------------------------------

def _out_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


def _cells(shape, kernel, stride, pad):
    """Every (kh, kw, oh, ow, row, column): filter cell (kh, kw) at output place (oh, ow) reads pixel
    (row, column) of the image, for each pixel inside it (the padding is zeros and never read)."""
    (KH, KW), (SH, SW), (PH, PW) = _pairs(kernel), _pairs(stride), _pairs(pad)
    H, W = shape[2:]
    for oh in range(_out_size(H, KH, SH, PH)):
        for ow in range(_out_size(W, KW, SW, PW)):
            for kh in range(KH):
                for kw in range(KW):
                    row, column = oh * SH + kh - PH, ow * SW + kw - PW
                    if 0 <= row < H and 0 <= column < W:
                        yield kh, kw, oh, ow, row, column


def _patches_shape(shape, kernel, stride, pad):
    (KH, KW), (SH, SW), (PH, PW) = _pairs(kernel), _pairs(stride), _pairs(pad)
    return (*shape[:2], KH, KW, _out_size(shape[2], KH, SH, PH), _out_size(shape[3], KW, SW, PW))


def _naive_patches(x, kernel, stride, pad):
    """(N, C, KH, KW, OH, OW): the value under each filter cell at each output place (0 in the padding)."""
    patches = np.zeros(_patches_shape(x.shape, kernel, stride, pad))
    for kh, kw, oh, ow, row, column in _cells(x.shape, kernel, stride, pad):
        patches[:, :, kh, kw, oh, ow] = x[:, :, row, column]
    return patches


def _as_matrix(patches):
    N, C, KH, KW, OH, OW = patches.shape
    return patches.transpose(0, 4, 5, 1, 2, 3).reshape(N * OH * OW, C * KH * KW)


def _naive_col2im(col, shape, kernel, stride, pad):
    """The adjoint of _naive_patches: every patch value (N, C, KH, KW, OH, OW) added back to its pixel."""
    image = np.zeros(shape)
    for kh, kw, oh, ow, row, column in _cells(shape, kernel, stride, pad):
        image[:, :, row, column] += col[:, :, kh, kw, oh, ow]
    return image


def _naive_conv(x, W, b, stride, pad):
    patches = _naive_patches(x, W.shape[2:], stride, pad)
    y = np.einsum("nckluv,ockl->nouv", patches, W)
    return y if b is None else y + b[None, :, None, None]


def _naive_pool(x, kernel, stride, pad):
    patches = _naive_patches(x, kernel, stride, pad)
    N, C, KH, KW, OH, OW = patches.shape
    return patches.reshape(N, C, KH * KW, OH, OW).max(axis=2)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _rnn_states(weights, xs, reset_at):
    h, hs = None, []
    for number, x in enumerate(xs):
        if number in reset_at:
            h = None
        z = x @ weights["x2h/W"] + weights["x2h/b"]
        h = np.tanh(z if h is None else z + h @ weights["h2h/W"])
        hs.append(h)
    return hs


def _lstm_states(weights, xs, reset_at):
    h = c = None
    pairs = []
    for number, x in enumerate(xs):
        if number in reset_at:
            h = c = None

        def gate(name):
            z = x @ weights[f"x2{name}/W"] + weights[f"x2{name}/b"]
            return z if h is None else z + h @ weights[f"h2{name}/W"]

        f, i, o, u = _sigmoid(gate("f")), _sigmoid(gate("i")), _sigmoid(gate("o")), np.tanh(gate("u"))
        c = i * u if c is None else f * c + i * u
        h = o * np.tanh(c)
        pairs.append((h, c))
    return pairs


def _linear_weights(rng, layout, scale=0.5):
    """Weights for Linear sublayers: {"x2h/W": (in, out) array, "x2h/b": (out,) array, ...}."""
    return {name: rng.uniform(-scale, scale, size=shape) for name, shape in layout.items()}


def _rnn_layout(hidden, inputs):
    return {"x2h/W": (inputs, hidden), "x2h/b": (hidden,), "h2h/W": (hidden, hidden)}


def _lstm_layout(hidden, inputs):
    layout = {}
    for gate in "fiou":
        layout.update({f"x2{gate}/W": (inputs, hidden), f"x2{gate}/b": (hidden,), f"h2{gate}/W": (hidden, hidden)})
    return layout


def _sine_series(seed, points=1000):
    """The book's training series (steps 59-60): a noisy sine over one period, made here."""
    x = np.linspace(0, 2 * np.pi, points)
    return np.sin(x) + _rng(seed).uniform(-0.05, 0.05, size=points)


# ---- im2col / col2im ----------------------------------------------------------------------------

# (N, C, H, W), kernel, stride, pad: square and oblong kernels, strides that do and do not divide.
IM2COL_CASES = [((2, 3, 7, 6), 3, 1, 1), ((1, 2, 8, 9), (2, 3), 2, 0), ((2, 1, 9, 7), 3, (2, 1), (1, 2)),
                ((1, 4, 5, 5), 2, 3, 1), ((3, 2, 6, 8), (3, 1), 1, (0, 1))]


@pytest.mark.needs("im2col_array", "Im2col.forward")
def test_im2col_matches_naive_patches(student, reference):
    """im2col(x) holds each patch in the book's layout, as an array and as a matrix"""
    for number, (shape, kernel, stride, pad) in enumerate(IM2COL_CASES):
        x = _rng(100 + number).standard_normal(shape)
        patches = _naive_patches(x, kernel, stride, pad)
        for to_matrix in (False, True):
            got = student.probe("im2col", x=x, kernel_size=_as_arg(kernel), stride=_as_arg(stride),
                                pad=_as_arg(pad), to_matrix=to_matrix)
            want = _as_matrix(patches) if to_matrix else patches
            check_array(got, _described(want), "im2col(x, ...).data", dtype=False)


@pytest.mark.needs("col2im_array", "Col2im.forward")
def test_col2im_adds_patches_back(student, reference):
    """col2im adds every patch value back to its pixel (overlaps accumulate, padding dropped)"""
    for number, (shape, kernel, stride, pad) in enumerate(IM2COL_CASES):
        col = _rng(200 + number).standard_normal(_patches_shape(shape, kernel, stride, pad))
        for to_matrix in (False, True):
            given = _as_matrix(col) if to_matrix else col
            got = student.probe("col2im", col=given, input_shape=list(shape), kernel_size=_as_arg(kernel),
                                stride=_as_arg(stride), pad=_as_arg(pad), to_matrix=to_matrix)
            want = _naive_col2im(col, shape, kernel, stride, pad)
            check_array(got, _described(want), "col2im(col, ...).data", dtype=False)


@pytest.mark.needs("Im2col.backward", "Col2im.backward")
@pytest.mark.uses("im2col_array", "col2im_array", "Im2col.forward", "Col2im.forward")
def test_im2col_col2im_backward(student, reference):
    """im2col's gradient is col2im of gy, and col2im's is im2col of gy"""
    for number, (shape, kernel, stride, pad) in enumerate(IM2COL_CASES[:3]):
        rng = _rng(300 + number)
        x = rng.standard_normal(shape)
        gy = rng.standard_normal(_naive_patches(x, kernel, stride, pad).shape)
        args = {"kernel_size": _as_arg(kernel), "stride": _as_arg(stride), "pad": _as_arg(pad), "to_matrix": False}
        got = student.probe("im2col_grad", x=x, gy=gy, **args)
        check_array(got, _described(_naive_col2im(gy, shape, kernel, stride, pad)), "x.grad of im2col",
                    dtype=False)
        got = student.probe("col2im_grad", col=gy, gy=x, input_shape=list(shape), **args)
        check_array(got, _described(_naive_patches(x, kernel, stride, pad)), "col.grad of col2im", dtype=False)


# ---- conv2d -------------------------------------------------------------------------------------

# (N, C, H, W), (OC, KH, KW), stride, pad, with a bias?
CONV_CASES = [((2, 3, 7, 6), (4, 3, 3), 1, 1, True), ((1, 2, 8, 8), (3, 2, 2), 2, 0, False),
              ((2, 1, 9, 7), (2, 3, 2), (2, 1), (1, 2), True), ((1, 3, 5, 5), (2, 1, 1), 1, 0, True),
              ((3, 2, 6, 5), (5, 3, 3), 3, 1, True)]


def _conv_inputs(seed, shape, filters, with_bias):
    rng = _rng(seed)
    OC, KH, KW = filters
    return (rng.standard_normal(shape), rng.standard_normal((OC, shape[1], KH, KW)),
            rng.standard_normal(OC) if with_bias else None)


@pytest.mark.needs("Convolution2D.forward")
@pytest.mark.uses("im2col_array")
def test_conv2d_matches_naive_loops(student, reference):
    """conv2d(x, W, b, stride, pad) equals the convolution written as loops"""
    for number, (shape, filters, stride, pad, with_bias) in enumerate(CONV_CASES):
        x, W, b = _conv_inputs(400 + number, shape, filters, with_bias)
        got = student.probe("conv2d", x=x, W=W, b=b, stride=_as_arg(stride), pad=_as_arg(pad))
        check_array(got, _described(_naive_conv(x, W, b, stride, pad)), "conv2d(x, W, b, ...).data", dtype=False)


@pytest.mark.needs("Convolution2D.backward")
@pytest.mark.uses("Convolution2D.forward", "im2col_array", "col2im_array", "Im2col", "Col2im")
def test_conv2d_backward_matches_numerical_diff(student, reference):
    """conv2d's x.grad, W.grad and b.grad agree with central differences and with the reference"""
    for number, (shape, filters, stride, pad, with_bias) in enumerate(CONV_CASES[:4]):
        x, W, b = _conv_inputs(500 + number, shape, filters, with_bias)
        gy = _rng(550 + number).standard_normal(_naive_conv(x, W, b, stride, pad).shape)
        args = {"x": x, "W": W, "b": b, "gy": gy, "stride": _as_arg(stride), "pad": _as_arg(pad)}
        got = student.probe("conv2d_grads", **args)
        estimates = reference.probe("conv2d_numerical", eps=1e-4, **args)
        want = reference.probe("conv2d_grads", **args)
        for name, mine, estimate, theirs in zip(("x", "W", "b"), got, estimates, want):
            if theirs is None:
                continue
            check_array(mine, estimate, f"{name}.grad of conv2d vs numerical_diff", dtype=False, rtol=1e-4,
                        atol=1e-6)
            check_array(mine, theirs, f"{name}.grad of conv2d", dtype=False)


@pytest.mark.needs("Conv2d")
@pytest.mark.uses("Convolution2D.forward", "im2col_array")
def test_conv2d_layer_shapes_init_and_output(student, reference):
    """Conv2d: W (OC, C, KH, KW) set at the first call, scaled by sqrt(1 / (C*KH*KW)); b, nobias; output"""
    cases = [((2, 8, 6, 6), 32, 3, 1, 1, False, None), ((1, 3, 7, 5), 4, (2, 3), 2, 0, False, 3),
             ((2, 2, 5, 5), 3, 2, 1, 0, True, None)]
    for number, (shape, out_channels, kernel, stride, pad, nobias, in_channels) in enumerate(cases):
        x = _rng(600 + number).standard_normal(shape)
        got = student.probe("conv2d_layer", x=x, out_channels=out_channels, kernel_size=_as_arg(kernel),
                            stride=_as_arg(stride), pad=_as_arg(pad), nobias=nobias, in_channels=in_channels)
        KH, KW = _pairs(kernel)
        check_equal(got["lazy"], in_channels is None, "W.data is None until the first call")
        check_equal(got["kept_from_init"], True, "W.data made by Conv2d(..., in_channels=C) is kept at the first call")
        check_array(got["W_after_second_call"], got["W"], "W.data after a second call", dtype=False, rtol=0, atol=0)
        check_array(got["y_again"], got["y"], "Conv2d(...)(x) called twice", dtype=False)
        check_equal(got["W"]["shape"], [out_channels, shape[1], KH, KW], "Conv2d(...).W.shape")
        if nobias:
            check_equal(got["b"], None, "Conv2d(..., nobias=True).b")
        else:
            check_true(got["b"] is not None, "check.not_true", "Conv2d(...).b is a Parameter")
            check_array(got["b"], _described(np.zeros(out_channels, dtype=np.float32)), "Conv2d(...).b")
        check_equal(got["params"], ["Parameter"] * (1 if nobias else 2), "the types of Conv2d(...).params()")
        W = np.asarray(got["W"]["array"], dtype=float)
        b = None if nobias else np.asarray(got["b"]["array"], dtype=float)
        check_array(got["y"], _described(_naive_conv(x, W, b, stride, pad)), "Conv2d(...)(x).data", dtype=False,
                    rtol=1e-5)
        if number == 0:  # 2,304 weights: their spread shows the scale within a few per cent
            scale = np.sqrt(1 / (shape[1] * KH * KW))
            check_true(0.85 < W.std() / scale < 1.15 and abs(W.mean()) < 0.15 * scale, "check.init_scale",
                       "Conv2d(...).W.data")


# ---- pooling ------------------------------------------------------------------------------------

POOL_CASES = [((2, 3, 6, 6), 2, 2, 0), ((1, 2, 7, 8), 3, 1, 1), ((2, 1, 9, 7), (3, 2), (2, 1), (1, 0)),
              ((1, 3, 5, 5), 3, 2, 1)]


def _distinct(seed, shape, shift):
    """Values far apart (so every window has one maximum), all above 0 when padding is involved."""
    values = _rng(seed).permutation(int(np.prod(shape))).reshape(shape) * 0.1
    return values + shift


@pytest.mark.needs("MaxPooling2D.forward")
@pytest.mark.uses("im2col_array")
def test_pooling_matches_naive_max(student, reference):
    """pooling(x, kernel_size, stride, pad) is the maximum of each window"""
    for number, (shape, kernel, stride, pad) in enumerate(POOL_CASES):
        x = _distinct(700 + number, shape, 1.0 if pad else -3.0)
        got = student.probe("pooling", x=x, kernel_size=_as_arg(kernel), stride=_as_arg(stride), pad=_as_arg(pad))
        check_array(got, _described(_naive_pool(x, kernel, stride, pad)), "pooling(x, ...).data", dtype=False)


@pytest.mark.needs("MaxPooling2D.backward")
@pytest.mark.uses("MaxPooling2D.forward", "im2col_array", "col2im_array")
def test_pooling_backward_goes_to_the_argmax(student, reference):
    """pooling's x.grad: each window's gy goes to its maximum only (overlaps add up), as central differences say"""
    for number, (shape, kernel, stride, pad) in enumerate(POOL_CASES):
        x = _distinct(800 + number, shape, 1.0 if pad else -3.0)
        gy = _rng(850 + number).standard_normal(_naive_pool(x, kernel, stride, pad).shape)
        patches = _naive_patches(x, kernel, stride, pad)
        N, C, KH, KW, OH, OW = patches.shape
        flat = patches.reshape(N, C, KH * KW, OH, OW)
        routed = (flat == flat.max(axis=2, keepdims=True)) * gy[:, :, None]
        want = _naive_col2im(routed.reshape(patches.shape), shape, kernel, stride, pad)
        got = student.probe("pooling_grad", x=x, gy=gy, kernel_size=_as_arg(kernel), stride=_as_arg(stride),
                            pad=_as_arg(pad))
        check_true(got["array"] is None or np.count_nonzero(got["array"]) <= np.count_nonzero(want),
                   "check.pooling_every_cell", "x.grad of pooling")
        check_array(got, _described(want), "x.grad of pooling", dtype=False)
        estimate = reference.probe("pooling_numerical", x=x, gy=gy, kernel_size=_as_arg(kernel), stride=_as_arg(stride),
                                   pad=_as_arg(pad), eps=1e-4)
        check_array(got, estimate, "x.grad of pooling vs numerical_diff", dtype=False, rtol=1e-4, atol=1e-6)


# ---- dropout and test mode ----------------------------------------------------------------------

@pytest.mark.needs("dropout")
def test_dropout_in_training_zeroes_and_scales(student, reference):
    """In training, dropout zeroes about dropout_ratio of x and divides the rest by 1 - dropout_ratio"""
    for number, ratio in enumerate((0.2, 0.5, 0.75)):
        x = _rng(900 + number).uniform(0.5, 1.5, size=(200, 250))
        got = student.probe("dropout", x=x, ratio=ratio, train=True)
        y = got["y"]["array"]
        check_true(y is not None and y.shape == x.shape, "check.wrong_shape", "dropout(x).data")
        kept = y != 0
        check_true(abs(1 - kept.mean() - ratio) < 0.02, "check.dropout_rate", "dropout(x, dropout_ratio)")
        check_true(np.allclose(y[kept], x[kept] / (1 - ratio)), "check.dropout_scale", "dropout(x, dropout_ratio)")
        check_array(got["grad"], _described(kept / (1 - ratio)), "x.grad of dropout", dtype=False)


@pytest.mark.needs("dropout")
def test_dropout_is_identity_in_test_mode(student, reference):
    """With Config.train off, dropout returns x unchanged and passes the gradient through"""
    x = _rng(950).uniform(0.5, 1.5, size=(40, 30))
    for ratio in (0.3, 0.5):
        got = student.probe("dropout", x=x, ratio=ratio, train=False)
        check_true(got["y"]["array"] is not None and np.array_equal(got["y"]["array"], x),
                   "check.dropout_in_test_mode", "dropout(x)")
        check_array(got["grad"], _described(np.ones_like(x)), "x.grad of dropout in test mode", dtype=False)
        check_equal(got["from_array"], "Variable", "type(dropout(np.ndarray))")


@pytest.mark.needs("test_mode")
def test_test_mode_switches_train_off_and_restores(student, reference):
    """test_mode() sets Config.train to False in its block and restores it, even after an error"""
    got, want = student.probe("test_mode"), reference.probe("test_mode")
    for key, expected in want.items():
        check_equal(got.get(key), expected, {"inside": "Config.train inside test_mode()",
                                             "after": "Config.train after test_mode()",
                                             "after_error": "Config.train after an error in test_mode()"}[key])


# ---- save_weights / load_weights ----------------------------------------------------------------

WEIGHT_SHAPES = {"l1/W": (5, 4), "l1/b": (4,), "block/fc/W": (4, 3), "block/fc/b": (3,), "block/out/W": (3, 2),
                 "scale": (2,)}


def _weights(seed):
    rng = _rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in WEIGHT_SHAPES.items()}


@pytest.mark.needs("Layer.save_weights", "Layer._flatten_params")
def test_weights_saved_by_student_load_into_reference(student, reference):
    """save_weights writes an .npz of every parameter by its path ("block/fc/W"); the reference loads it"""
    weights = _weights(1000)
    arrays = check_npz(student.probe("saved_weights", weights=weights), WEIGHT_SHAPES, "the file save_weights wrote")
    for name, value in weights.items():
        check_array(_described(arrays[name]), _described(value), "a parameter in the saved file", dtype=False)
    loaded = reference.probe("loaded_weights", blob=write_npz(arrays))
    for name, value in weights.items():
        check_array(loaded[name], _described(value), "a parameter after the reference's load_weights", dtype=False)


@pytest.mark.needs("Layer.load_weights", "Layer._flatten_params")
def test_weights_saved_by_reference_load_into_student(student, reference):
    """load_weights reads the reference's file back into every parameter"""
    weights = _weights(1100)
    got = student.probe("loaded_weights", blob=reference.probe("saved_weights", weights=weights))
    for name, value in weights.items():
        check_array(got[name], _described(value), "a parameter after load_weights", dtype=False)


# ---- cutting the graph --------------------------------------------------------------------------

@pytest.mark.needs("Variable.unchain_backward", "Variable.unchain")
def test_unchain_backward_cuts_every_creator_upstream(student, reference):
    """y.unchain_backward() leaves no creator upstream of y, and x.unchain() drops x's creator"""
    for length in (3, 40):
        args = {"x": _rng(1200 + length).standard_normal(4), "length": length}
        got, want = student.probe("unchain", **args), reference.probe("unchain", **args)
        check_equal(got["before"], want["before"], "the graph behind y before y.unchain_backward()")
        check_true(got["after"] <= want["after"], "check.graph_not_cut", "y.unchain_backward()")
        check_equal(got["cut"], want["cut"], "the variables upstream of y whose creator was cut")
        check_equal(got["unchain"], want["unchain"], "x.creator is None after x.unchain()")


@pytest.mark.needs("Variable.unchain_backward")
@pytest.mark.uses("Variable.unchain")
def test_truncated_bptt_graph_stays_bounded(student, reference):
    """Over 1,000 steps with backward and unchain_backward every 25, the graph stays one window large"""
    rng = _rng(1300)
    args = {"xs": rng.standard_normal((1000, 3)), "weights": {"W": rng.uniform(-0.5, 0.5, (3, 4)),
                                                             "U": rng.uniform(-0.5, 0.5, (4, 4))},
            "bptt_length": 25, "cap": 600}
    got, want = student.probe("bptt_graph", **args), reference.probe("bptt_graph", **args)
    check_true(len(got["sizes"]) == len(want["sizes"]) and max(got["sizes"]) <= 2 * max(want["sizes"]),
               "check.graph_grows", "the graph over the sequence")
    check_array(got["grad"], want["grad"], "W.grad after the last window")


# ---- RNN and LSTM -------------------------------------------------------------------------------

@pytest.mark.needs("RNN.forward", "RNN.reset_state")
def test_rnn_matches_its_equations(student, reference):
    """RNN: h = tanh(x2h(x)) at the first step, tanh(x2h(x) + h2h(h)) after; reset_state starts over"""
    for number, (hidden, inputs, batch) in enumerate(((4, 3, 2), (6, 1, 1))):
        rng = _rng(1400 + number)
        weights = _linear_weights(rng, _rnn_layout(hidden, inputs))
        xs = rng.standard_normal((7, batch, inputs))
        got = student.probe("rnn_steps", hidden_size=hidden, weights=weights, xs=xs, reset_at=[4])
        for state, h in zip(got, _rnn_states(weights, xs, {4})):
            check_array(state["h"], _described(h), "the RNN's h", dtype=False)
        check_equal(len(got), len(xs), "the number of steps")


@pytest.mark.needs("LSTM.forward", "LSTM.reset_state")
def test_lstm_gates_match_the_equations(student, reference):
    """LSTM: sigmoid gates f, i, o, a tanh candidate u, c = f*c + i*u, h = o*tanh(c); reset_state"""
    for number, (hidden, inputs, batch) in enumerate(((3, 2, 2), (5, 1, 3))):
        rng = _rng(1500 + number)
        weights = _linear_weights(rng, _lstm_layout(hidden, inputs), scale=0.8)
        xs = rng.standard_normal((6, batch, inputs))
        got = student.probe("lstm_steps", hidden_size=hidden, weights=weights, xs=xs, reset_at=[3])
        check_equal(len(got), len(xs), "the number of steps")
        for state, (h, c) in zip(got, _lstm_states(weights, xs, {3})):
            check_array(state["c"], _described(c), "the LSTM's memory cell c", dtype=False)
            check_array(state["h"], _described(h), "the LSTM's h", dtype=False)


@pytest.mark.needs("RNN.forward", "LSTM.forward")
@pytest.mark.uses("RNN.reset_state", "LSTM.reset_state")
def test_gradients_flow_back_through_time(student, reference):
    """backward from the last h reaches every weight through all earlier steps (RNN and LSTM)"""
    for number, (kind, layout) in enumerate((("RNN", _rnn_layout(3, 2)), ("LSTM", _lstm_layout(3, 2)))):
        rng = _rng(1600 + number)
        args = {"kind": kind, "hidden_size": 3, "weights": _linear_weights(rng, layout),
                "xs": rng.standard_normal((5, 2, 2))}
        got, want = student.probe("rnn_grads", **args), reference.probe("rnn_grads", **args)
        for name in layout:
            check_array(got[name], want[name], f"the gradient of {kind}'s weights", dtype=False)


SIMPLE_RNN = {"rnn/x2h/W": (1, 10), "rnn/x2h/b": (10,), "rnn/h2h/W": (10, 10), "fc/W": (10, 1), "fc/b": (1,)}


@pytest.mark.needs("RNN.forward")
@pytest.mark.uses("RNN.reset_state", "Variable.unchain_backward", "Variable.unchain")
def test_simple_rnn_learns_the_sine_wave(student, reference):
    """SimpleRNN on the sine wave with truncated BPTT: the reference's losses, a bounded graph, its predictions"""
    args = {"series": _sine_series(1700), "weights": _linear_weights(_rng(1701), SIMPLE_RNN), "lr": 0.005,
            "bptt_length": 30, "cap": 2000}
    got, want = student.probe("train_simple_rnn", **args), reference.probe("train_simple_rnn", **args)
    check_true(len(got["sizes"]) == len(want["sizes"]) and max(got["sizes"]) <= 2 * max(want["sizes"]),
               "check.graph_grows", "the graph over the training sequence")
    check_array(_described(got["losses"]), _described(want["losses"]), "the loss of every window", rtol=1e-5)
    windows = np.diff(want["losses"], prepend=0.0)  # the loss sums up over the sequence, as in the book
    assert windows[-5:].mean() < windows[:5].mean() / 2, "the reference did not learn: change lr or the series"
    check_array(_described(got["predicted"]), _described(want["predicted"]), "the predictions after training",
                rtol=1e-4, atol=1e-7)


@pytest.mark.needs("SeqDataLoader")
def test_seq_data_loader_batches(student, reference):
    """SeqDataLoader: row i of batch k is example (i * (len // batch_size) + k) % len, in order, every epoch"""
    for length, batch_size in ((20, 3), (22, 4), (9, 9)):
        got = student.probe("seq_loader", length=length, batch_size=batch_size, epochs=2)
        jump = length // batch_size
        expected = [[(i * jump + k) % length for i in range(batch_size)] for k in range(-(-length // batch_size))]
        check_equal(len(got), 2, "the number of epochs")
        for epoch in got:
            check_equal(len(epoch), len(expected), "the number of batches in an epoch")
            for batch, rows in zip(epoch, expected):
                check_array(batch["x"], _described(np.array(rows, dtype=float)[:, None]), "a batch's x", dtype=False)
                check_array(batch["t"], _described(np.array(rows, dtype=float)[:, None] + 1), "a batch's t",
                            dtype=False)


@pytest.mark.needs("LSTM.forward", "SeqDataLoader")
@pytest.mark.uses("LSTM.reset_state", "Variable.unchain_backward", "Variable.unchain")
def test_better_rnn_trains_with_seq_data_loader(student, reference):
    """BetterRNN (an LSTM) on the sine wave in SeqDataLoader batches: the reference's losses and predictions"""
    layout = {f"rnn/{name}": shape for name, shape in _lstm_layout(6, 1).items()}
    layout.update({"fc/W": (6, 1), "fc/b": (1,)})
    args = {"series": _sine_series(1800), "weights": _linear_weights(_rng(1801), layout), "lr": 0.02,
            "bptt_length": 5, "batch_size": 30, "cap": 1000}
    got, want = student.probe("train_better_rnn", **args), reference.probe("train_better_rnn", **args)
    check_equal(got["batches"], want["batches"], "the number of batches in an epoch")
    check_true(len(got["sizes"]) == len(want["sizes"]) and max(got["sizes"]) <= 2 * max(want["sizes"]),
               "check.graph_grows", "the graph over the training sequence")
    check_array(_described(got["losses"]), _described(want["losses"]), "the loss of every window", rtol=1e-5)
    check_array(_described(got["predicted"]), _described(want["predicted"]), "the predictions after training",
                rtol=1e-4, atol=1e-7)
