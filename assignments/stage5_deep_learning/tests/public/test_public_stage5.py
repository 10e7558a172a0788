"""Public tests: students run these with `grader check`; failures show got vs expected."""
import numpy as np
import pytest

from grader.checks import check_array, check_equal, check_npz


def _shown(array):
    return {"type": "ndarray", "dtype": str(array.dtype), "shape": list(array.shape), "array": array}


@pytest.mark.needs("im2col_array", "Im2col.forward")
def test_public_im2col_small(student, reference):
    """im2col of a 4x4 image with a 3x3 kernel: 4 rows of 9 values"""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    args = {"x": x, "kernel_size": 3, "stride": 1, "pad": 0, "to_matrix": True}
    check_array(student.probe("im2col", **args), reference.probe("im2col", **args), "im2col(x, 3).data",
                dtype=False)


@pytest.mark.needs("Convolution2D.forward", "Convolution2D.backward")
@pytest.mark.uses("im2col_array", "col2im_array", "Im2col", "Col2im")
def test_public_conv2d_small(student, reference):
    """conv2d of a 4x4 image with one 2x2 filter, stride 1, pad 1: y and the gradients"""
    args = {"x": np.arange(16.0).reshape(1, 1, 4, 4), "W": np.array([[[[1.0, 2.0], [3.0, 4.0]]]]),
            "b": np.array([0.5]), "stride": 1, "pad": 1}
    check_array(student.probe("conv2d", **args), reference.probe("conv2d", **args), "conv2d(x, W, b).data",
                dtype=False)
    gy = np.ones((1, 1, 5, 5))
    got, want = student.probe("conv2d_grads", gy=gy, **args), reference.probe("conv2d_grads", gy=gy, **args)
    for name, mine, theirs in zip(("x", "W", "b"), got, want):
        check_array(mine, theirs, f"{name}.grad", dtype=False)


@pytest.mark.needs("MaxPooling2D.backward")
@pytest.mark.uses("MaxPooling2D.forward", "im2col_array", "col2im_array")
def test_public_pooling_backward_small(student, reference):
    """2x2 max pooling of a 4x4 image: x.grad is 1 at each window's maximum, 0 elsewhere"""
    x = np.array([[3.0, 1.0, 0.0, 2.0], [4.0, 2.0, 5.0, 1.0], [0.0, 6.0, 1.0, 3.0], [1.0, 2.0, 7.0, 0.0]])
    args = {"x": x.reshape(1, 1, 4, 4), "gy": np.ones((1, 1, 2, 2)), "kernel_size": 2, "stride": 2, "pad": 0}
    check_array(student.probe("pooling_grad", **args), reference.probe("pooling_grad", **args), "x.grad",
                dtype=False)


@pytest.mark.needs("dropout")
def test_public_dropout_scales_kept_values(student, reference):
    """dropout(np.ones(1000), 0.5) in training: the values kept become 2.0"""
    got = student.probe("dropout", x=np.ones(1000), ratio=0.5, train=True)["y"]
    values = np.unique(got["array"]) if got["array"] is not None else None
    kept = values[values != 0] if values is not None else None
    check_array(_shown(kept) if kept is not None else got, _shown(np.array([2.0])), "the nonzero values of y",
                dtype=False)


@pytest.mark.needs("dropout")
def test_public_dropout_in_test_mode(student, reference):
    """dropout(x) with Config.train off returns x unchanged"""
    x = np.arange(1.0, 6.0)
    check_array(student.probe("dropout", x=x, ratio=0.5, train=False)["y"], _shown(x), "dropout(x).data",
                dtype=False)


@pytest.mark.needs("LSTM.forward", "LSTM.reset_state")
def test_public_lstm_two_steps(student, reference):
    """LSTM(2) with small fixed weights: h and c after two steps"""
    weights = {}
    for number, gate in enumerate("fiou"):
        weights[f"x2{gate}/W"] = np.full((1, 2), 0.1 * (number + 1))
        weights[f"x2{gate}/b"] = np.zeros(2)
        weights[f"h2{gate}/W"] = np.eye(2) * 0.5
    args = {"hidden_size": 2, "weights": weights, "xs": np.array([[[1.0]], [[-1.0]]]), "reset_at": []}
    got, want = student.probe("lstm_steps", **args), reference.probe("lstm_steps", **args)
    for step, (mine, theirs) in enumerate(zip(got, want), start=1):
        check_array(mine["c"], theirs["c"], f"c after step {step}", dtype=False)
        check_array(mine["h"], theirs["h"], f"h after step {step}", dtype=False)


@pytest.mark.needs("Variable.unchain_backward", "Variable.unchain")
def test_public_unchain_backward(student, reference):
    """A chain of three steps, summed into y: after y.unchain_backward() nothing upstream keeps a creator"""
    got, want = (handle.probe("unchain", x=np.ones(2), length=3) for handle in (student, reference))
    check_equal(got["cut"], want["cut"], "the variables upstream of y whose creator was cut")
    check_equal(got["after"], want["after"], "the functions left behind y")


@pytest.mark.needs("Layer.save_weights", "Layer._flatten_params")
def test_public_saved_weight_names(student, reference):
    """save_weights of the probe's model: one array per parameter, named by its path"""
    shapes = {"l1/W": (5, 4), "l1/b": (4,), "block/fc/W": (4, 3), "block/fc/b": (3,), "block/out/W": (3, 2),
              "scale": (2,)}
    weights = {name: np.full(shape, 0.5, dtype=np.float32) for name, shape in shapes.items()}
    check_npz(student.probe("saved_weights", weights=weights), shapes, "the file save_weights wrote")
