"""Comparisons used by assignment tests, in the trusted process.

A failed check raises ``CheckFailure`` with two texts: ``prop`` says which property was
checked and is safe for hidden tests; ``detail`` shows got vs expected and is shown only
for public tests.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class CheckFailure(AssertionError):
    def __init__(self, prop: str, detail: object = "") -> None:
        detail = str(detail)
        super().__init__(prop if not detail else f"{prop}: {detail}")
        self.prop = prop
        self.detail = detail


class _Detail:
    """Got-vs-expected text, formatted only when a check fails (formatting arrays is slow)."""

    def __init__(self, got: dict, want: dict) -> None:
        self.got, self.want = got, want

    def __str__(self) -> str:
        return f"got {_fmt(self.got)}, expected {_fmt(self.want)}"


def _fmt(description: dict) -> str:
    array = description.get("array")
    if array is None:
        return f"a {description.get('type')}"
    values = np.array2string(np.asarray(array), precision=6, threshold=12, separator=", ")
    return f"{description.get('type')} {values} (dtype {description.get('dtype')}, shape {tuple(array.shape)})"


def check_array(got: dict, want: dict, what: str, *, rtol: float = 1e-6, atol: float = 1e-8,
                dtype: bool = True, ndarray: bool = False) -> None:
    """``got`` and ``want`` are ``describe()`` results from the probes module."""
    detail = _Detail(got, want)
    if got.get("array") is None:
        raise CheckFailure(f"{what} should be numeric data but was a {got.get('type')}", detail)
    if ndarray and got.get("type") != "ndarray":
        raise CheckFailure(f"{what} should be an np.ndarray but was a {got.get('type')}", detail)
    if np.shape(got["array"]) != np.shape(want["array"]):
        raise CheckFailure(f"{what} has the wrong shape", detail)
    if dtype and got.get("dtype") != want.get("dtype"):
        raise CheckFailure(f"{what} has the wrong dtype", detail)
    if not np.allclose(got["array"], want["array"], rtol=rtol, atol=atol, equal_nan=True):
        raise CheckFailure(f"{what} has the wrong values", detail)


def check_equal(got: Any, want: Any, what: str) -> None:
    if got != want:
        raise CheckFailure(f"{what} is wrong", f"got {got!r}, expected {want!r}")


def check_true(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailure(what)
