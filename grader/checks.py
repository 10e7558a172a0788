"""Comparisons used by assignment tests, in the trusted process.

A failed check raises ``CheckFailure`` with two messages: ``prop`` names the property that
failed and is safe for hidden tests; ``detail`` shows got vs expected and is shown only for
public tests. ``what`` is a code expression such as ``"square(x).data"``: it reads the same
in every language.

Only the student's side is untrusted here: a ``got`` that is not what the probe's
``describe()`` makes raises ``Uncheckable`` (the student's problem), while a malformed
``want`` comes from the reference or the test and stays a loud error. Type names in messages
go through ``replies.shown_type``: a class name the student chose never reaches feedback.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from grader.i18n import Message
from grader.npz import NAME, NpzError, read_npz
from grader.replies import DTYPE_NAMES, SHOWN_TYPES, Uncheckable, is_description, shown_type


class CheckFailure(AssertionError):
    def __init__(self, prop: Message, detail: Message | None = None) -> None:
        super().__init__(str(prop) if detail is None else f"{prop}: {detail}")
        self.prop = prop
        self.detail = detail


def _fmt(description: dict) -> str | Message:
    array = description.get("array")
    if array is None:
        return shown_type(description.get("type"))
    values = np.array2string(np.asarray(array), precision=6, threshold=12, separator=", ")
    return Message("check.described", {"type": shown_type(description.get("type")), "values": values,
                                       "dtype": f"{description.get('dtype')}", "shape": f"{tuple(array.shape)}"})


def _plain(value: Any) -> Any:
    """``repr`` of numbers, flags and short lists of them; other values only by an allowed name."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)) and len(value) <= 32 and all(
            v is None or isinstance(v, (bool, int, float)) for v in value):
        return repr(value)
    if isinstance(value, str) and value in SHOWN_TYPES | DTYPE_NAMES:
        return repr(value)
    return Message("check.other_type")



def check_array(got: dict, want: dict, what: str, *, rtol: float = 1e-6, atol: float = 1e-8,
                dtype: bool = True, ndarray: bool = False) -> None:
    """``got`` and ``want`` are ``describe()`` results from the probes module."""
    if not is_description(got):
        raise Uncheckable(f"{what}: the answer is not a description of a value")
    if not is_description(want):
        raise TypeError(f"{what}: the expected value is not a describe() result")

    def fail(key: str) -> CheckFailure:
        shown = shown_type(got.get("type"))
        kind = Message("check.a_type", {"name": shown}) if isinstance(shown, str) else shown
        return CheckFailure(Message(key, {"what": what, "type": kind}),
                            Message("check.detail", {"got": _fmt(got), "expected": _fmt(want)}))

    if got.get("array") is None:
        raise fail("check.not_numeric")
    if ndarray and got.get("type") != "ndarray":
        raise fail("check.not_ndarray")
    if np.shape(got["array"]) != np.shape(want["array"]):
        raise fail("check.wrong_shape")
    if dtype and got.get("dtype") != want.get("dtype"):
        raise fail("check.wrong_dtype")
    if not np.allclose(got["array"], want["array"], rtol=rtol, atol=atol, equal_nan=True):
        raise fail("check.wrong_values")


def check_equal(got: Any, want: Any, what: str) -> None:
    if isinstance(got, np.ndarray) and not isinstance(want, np.ndarray):
        raise Uncheckable(f"{what}: an array where {type(want).__name__} was expected")
    if got != want:
        raise CheckFailure(Message("check.wrong", {"what": what}),
                           Message("check.equal_detail", {"got": _plain(got), "expected": repr(want)}))


def check_variable(got: dict, what: str) -> None:
    """``got`` is the ``forward`` probe's answer: the output must be a ``Variable``."""
    if not isinstance(got, dict):
        raise Uncheckable(f"{what}: the answer is not a dict")
    if got.get("is_variable") is not True:
        raise CheckFailure(Message("check.not_variable", {"what": what}),
                           Message("check.equal_detail", {"got": shown_type(got.get("output_type")),
                                                          "expected": "Variable"}))


def check_true(condition: bool, key: str, what: str) -> None:
    """A property of the student's answer with no reference value to compare: ``key`` names it
    in the grader's catalogue (``check.*``), so it reads the same in every language."""
    if not condition:
        raise CheckFailure(Message(key, {"what": what}))


def check_npz(got: object, want_shapes: dict[str, tuple], what: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz file a probe sent back as bytes, read only by ``grader.npz`` (no pickle,
    bounded), holding exactly the names in ``want_shapes`` with those shapes."""
    try:
        arrays = read_npz(got)
    except NpzError as exc:
        raise CheckFailure(Message("check.npz_unreadable", {"what": what}), Message("check.npz_why", {"why": str(exc)}))
    if set(arrays) != set(want_shapes):
        # Names were checked against grader.npz.NAME: plain parameter paths, safe to show.
        shown = sorted(name for name in arrays if NAME.fullmatch(name))[:32]
        raise CheckFailure(Message("check.npz_names", {"what": what}),
                           Message("check.equal_detail", {"got": repr(shown), "expected": repr(sorted(want_shapes))}))
    for name, shape in want_shapes.items():
        if arrays[name].shape != tuple(shape):
            raise CheckFailure(Message("check.wrong_shape", {"what": f"{what}[{name!r}]"}))
    return arrays
