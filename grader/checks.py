"""Comparisons used by assignment tests, in the trusted process.

A failed check raises ``CheckFailure`` with two messages: ``prop`` names the property that
failed and is safe for hidden tests; ``detail`` shows got vs expected and is shown only for
public tests. ``what`` is a code expression such as ``"square(x).data"``: it reads the same
in every language.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from grader.i18n import Message


class CheckFailure(AssertionError):
    def __init__(self, prop: Message, detail: Message | None = None) -> None:
        super().__init__(str(prop) if detail is None else f"{prop}: {detail}")
        self.prop = prop
        self.detail = detail


def _fmt(description: dict) -> str:
    array = description.get("array")
    if array is None:
        return f"{description.get('type')}"
    values = np.array2string(np.asarray(array), precision=6, threshold=12, separator=", ")
    return f"{description.get('type')} {values} (dtype {description.get('dtype')}, shape {tuple(array.shape)})"


def check_array(got: dict, want: dict, what: str, *, rtol: float = 1e-6, atol: float = 1e-8,
                dtype: bool = True, ndarray: bool = False) -> None:
    """``got`` and ``want`` are ``describe()`` results from the probes module."""
    def fail(key: str) -> CheckFailure:
        return CheckFailure(Message(key, {"what": what, "type": got.get("type")}),
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
    if got != want:
        raise CheckFailure(Message("check.wrong", {"what": what}),
                           Message("check.equal_detail", {"got": repr(got), "expected": repr(want)}))


def check_variable(got: dict, what: str) -> None:
    """``got`` is the ``forward`` probe's answer: the output must be a ``Variable``."""
    if not got.get("is_variable"):
        raise CheckFailure(Message("check.not_variable", {"what": what}),
                           Message("check.equal_detail", {"got": got.get("output_type"), "expected": "Variable"}))


def check_true(condition: bool, key: str, what: str) -> None:
    """A property of the student's answer with no reference value to compare: ``key`` names it
    in the grader's catalogue (``check.*``), so it reads the same in every language."""
    if not condition:
        raise CheckFailure(Message(key, {"what": what}))
