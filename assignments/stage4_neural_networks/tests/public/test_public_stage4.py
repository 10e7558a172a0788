"""Public tests: students run these with `grader check`; failures show got vs expected.

Each one shows a classic mistake of steps 37-52 before grading: a broadcast add without sum_to,
a transpose backward without the axes, a softmax that overflows, Linear weights not scaled by
sqrt(1/in_size), grads not cleared between iterations, one velocity shared by every parameter,
a get_item gradient that drops repeated rows, and a training loss that does not go down.
"""
import numpy as np
import pytest

from grader.checks import check_array, check_equal, check_true

# The parts of the reference each test measures (needs) and relies on besides (uses); see docs/authoring.md.
needs, uses = pytest.mark.needs, pytest.mark.uses


def _same_function(student, reference, op, inputs, what, **settings):
    """The function's value and every input's gradient, as the reference computes them."""
    got, want = student.probe("function", op=op, inputs=inputs, **settings), \
        reference.probe("function", op=op, inputs=inputs, **settings)
    check_equal(got["type"], want["type"], f"type({what})")
    check_array(got["data"], want["data"], f"{what}.data", dtype=False)
    for number, (mine, theirs) in enumerate(zip(got.get("grads", []), want.get("grads", []))):
        check_array(mine, theirs, f"input {number + 1}.grad of {what}", dtype=False)


@needs("Add.backward")
@uses("SumTo.forward", "array_sum_to")
def test_public_broadcast_add_gradient(student, reference):
    """x0 (2, 3) + x1 (3,): x1.grad has x1's shape (3,)"""
    x0, x1 = np.arange(6.0).reshape(2, 3), np.array([10.0, 20.0, 30.0])
    _same_function(student, reference, "add", [x0, x1], "x0 + x1", upstream=1)


@needs("Transpose")
def test_public_transpose_axes_gradient(student, reference):
    """transpose(x, (1, 2, 0)) of a (2, 3, 4) x: x.grad has x's shape and layout"""
    x = np.arange(24.0).reshape(2, 3, 4)
    _same_function(student, reference, "transpose", [x], "transpose(x, (1, 2, 0))", params={"axes": [1, 2, 0]},
                   upstream=2)


@needs("Softmax.forward")
def test_public_softmax_large_scores(student, reference):
    """softmax([[1000, 1001, 1002], [-5, 0, 5]]) is finite (subtract the row's maximum first)"""
    x = np.array([[1000.0, 1001.0, 1002.0], [-5.0, 0.0, 5.0]])
    got = student.probe("function", op="softmax", inputs=[x])
    want = reference.probe("function", op="softmax", inputs=[x])
    check_array(got["data"], want["data"], "softmax(x).data", dtype=False)


@needs("Linear._init_W")
@uses("Linear.__init__", "Layer.__setattr__")
def test_public_linear_weight_scale(student, reference):
    """Linear(100, in_size=400): W has shape (400, 100) and standard deviation sqrt(1/400) = 0.05"""
    got = student.probe("linear_init", in_size=400, out_size=100, seed=0, lazy=False)
    want = reference.probe("linear_init", in_size=400, out_size=100, seed=0, lazy=False)
    check_equal(got["shape"], want["shape"], "Linear(100, in_size=400).W.shape")
    check_true(abs(got["std"] - 0.05) < 0.005, "check.nn.weight_scale", "Linear(100, in_size=400).W")


@needs("Layer.cleargrads")
@uses("Layer.__setattr__", "Layer.params")
def test_public_cleargrads_resets_every_parameter(student, reference):
    """After layer.cleargrads() every parameter's grad is None, a nested layer's too"""
    got = student.probe("layer_params", shapes=[[2], [3], [2, 2]], clear=True)
    want = reference.probe("layer_params", shapes=[[2], [3], [2, 2]], clear=True)
    check_equal(got["cleared"], want["cleared"], "[p.grad is None for p in layer.params()]")


@needs("MomentumSGD.update_one")
@uses("Optimizer.setup", "Optimizer.update")
def test_public_momentum_two_parameters(student, reference):
    """MomentumSGD(lr=0.1, momentum=0.9): three updates of two parameters, each with its own velocity"""
    params = [np.array([1.0, 2.0]), np.array([-1.0, 0.5])]
    grads = [[np.array([1.0, 1.0]), np.array([-2.0, 0.5])]] * 3
    args = {"kind": "MomentumSGD", "settings": {"lr": 0.1, "momentum": 0.9}, "params": params, "grads": grads}
    got, want = student.probe("optimizer", **args), reference.probe("optimizer", **args)
    for step, (mine, theirs) in enumerate(zip(got["history"], want["history"])):
        for number, (value, expected) in enumerate(zip(mine, theirs)):
            check_array(value, expected, f"parameter {number + 1} after update {step + 1}", dtype=False)


@needs("GetItem", "GetItemGrad.forward")
def test_public_get_item_repeated_rows(student, reference):
    """x[[0, 0, 2]] of a (3, 2) x: row 0 was taken twice, so its gradient adds up"""
    x = np.arange(6.0).reshape(3, 2)
    _same_function(student, reference, "get_item", [x], "x[[0, 0, 2]]",
                   params={"index": [["take", [0, 0, 2]]]}, upstream=3)


@needs("MLP", "Layer.cleargrads")
@uses("Layer.__setattr__", "Layer.params", "Linear", "LinearFunction", "MatMul", "Transpose.forward", "Variable.T",
      "SumTo.forward", "array_sum_to", "Sigmoid", "MeanSquaredError", "Optimizer.setup", "Optimizer.update",
      "MomentumSGD.update_one")
def test_public_sine_loss_goes_down(student, reference):
    """MLP((10, 1)) on the sine data of step 43, 200 iterations of MomentumSGD: the loss goes down"""
    args = {"seed": 0, "size": 100, "hidden": 10, "lr": 0.3, "momentum": 0.9, "iters": 201}
    losses = student.probe("train_sine", **args)["losses"]
    check_true(bool(np.all(np.isfinite(losses))) and losses[-1] < min(losses[0], 0.4), "check.nn.loss_not_down",
               "the loss after 200 iterations")
