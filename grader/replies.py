"""What the trusted side accepts from a worker's probe reply, and what of it feedback may show.

``grader.wire`` already bounds a reply's size, depth and node count and admits only plain
types and numeric arrays. This module checks the *shape* of a decoded probe value: every
``describe()``-shaped dict (the form every probe uses for "whatever the student's code
produced") must be exactly what ``describe()`` makes, and strings are short. A reply that does
not validate is the student's problem (:class:`Uncheckable`), never the grader's.

It also holds the two allow-lists that keep student-chosen names out of feedback: a class or
exception name the student picked can encode a hidden input, so feedback prints only names
from a fixed list (builtins, numpy, the DeZero API) and a neutral phrase for anything else.
"""
from __future__ import annotations

import builtins
import re
from typing import Any

import numpy as np

from grader.i18n import Message

_DESCRIBE_KEYS = frozenset({"type", "dtype", "shape", "array"})
MAX_STRING = 1000          # longest string a probe value may hold (type names, flags)
MAX_ARRAY_ELEMENTS = 1 << 20
_MAX_NAME = 64
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_QUALIFIED = re.compile(r"(?=.{1,128}$)[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")  # "Variable.__init__"
EVIDENCE_KINDS = frozenset({"None", "ndarray", "numpy scalar", "number", "other"})  # see child._first_argument_kind
# str(dtype) of every dtype a worker may send (wire admits kinds b, i, u, f, c only).
DTYPE_NAMES = frozenset(str(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG")

# Builtin and numpy type names, and the DeZero classes every submission defines: the only
# type names feedback prints. Anything else reads "an object of another type".
SHOWN_TYPES = frozenset({
    "int", "float", "bool", "complex", "str", "bytes", "bytearray", "list", "tuple", "dict", "set",
    "frozenset", "NoneType", "type", "function", "builtin_function_or_method", "method", "module",
    "range", "slice", "generator", "object", "ndarray", "matrix", "generic",
    "Variable", "Function", "Square", "Exp",
} | {type(np.dtype(code).type(0)).__name__ for code in "?bBhHiIlLqQefdgFDG"})
# Builtin exception names, plus the worker's own (BadResult, UnknownProbe) and numpy's.
SHOWN_EXCEPTIONS = frozenset(
    {name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)}
    | {"BadResult", "UnknownProbe", "AxisError", "LinAlgError"})


class Uncheckable(Exception):
    """The grader could not check a student's answer because of what the student's side sent.

    ``reason`` is for the instructor's log (the result's ``extra_data.events``), never for
    the student: it may quote the reply.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason[:300])
        self.reason = reason[:300]


def shown_type(name: Any) -> str | Message:
    """A type name fit for feedback: from the allow-list, else a neutral phrase."""
    return name if isinstance(name, str) and name in SHOWN_TYPES else Message("check.other_type")


def shown_exception(kind: Any) -> str | Message:
    """An exception's type name fit for feedback: builtin ones only."""
    return kind if isinstance(kind, str) and kind in SHOWN_EXCEPTIONS else Message("student.other_exception")


def shown_where(where: str | None, hidden: bool, api: frozenset[str] = frozenset()) -> str | None:
    """The function an exception came from ("Variable.__init__"): any short qualified name for public
    tests, but for hidden tests only the longest part of it that names the assignment's own API
    (``api``: what the reference defines), since a student can name a function after a value."""
    if where is None or not _QUALIFIED.fullmatch(where):
        return None
    if not hidden:
        return where
    parts = where.split(".")
    return next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in api), None)


def is_description(value: Any) -> bool:
    """True for a dict that is exactly what the probes' ``describe()`` returns."""
    return isinstance(value, dict) and set(value) == _DESCRIBE_KEYS and _description_problem(value) is None


def check_value(value: Any, path: str = "reply") -> None:
    """Raise :class:`Uncheckable` unless ``value`` is a well-formed probe value.

    ``wire`` has bounded depth and node count already, so this recursion is bounded too.
    """
    if isinstance(value, dict):
        if _DESCRIBE_KEYS & set(value) and {"type", "array"} <= set(value):
            problem = _description_problem(value) if set(value) == _DESCRIBE_KEYS else "unexpected keys"
            if problem:
                raise Uncheckable(f"{path}: malformed description ({problem})")
            return
        for key, item in value.items():
            if len(key) > _MAX_NAME:
                raise Uncheckable(f"{path}: key longer than {_MAX_NAME} characters")
            check_value(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, f"{path}[{index}]")
    elif isinstance(value, str):
        if len(value) > MAX_STRING:
            raise Uncheckable(f"{path}: string of {len(value)} characters")
    elif isinstance(value, np.ndarray):
        if value.size > MAX_ARRAY_ELEMENTS:
            raise Uncheckable(f"{path}: array of {value.size} elements")


def _description_problem(value: dict) -> str | None:
    kind, dtype, shape, array = value["type"], value["dtype"], value["shape"], value["array"]
    if not isinstance(kind, str) or len(kind) > MAX_STRING:
        return "type is not a short string"
    if array is None:
        return None if dtype is None and shape is None else "no array but a dtype or shape"
    if not isinstance(array, np.ndarray):
        return "array is not an array"
    if array.size > MAX_ARRAY_ELEMENTS:
        return f"array of {array.size} elements"
    if not isinstance(shape, list) or tuple(shape) != array.shape:
        return "shape does not match the array"
    if dtype is not None and (dtype not in DTYPE_NAMES or dtype != str(array.dtype)):
        return "dtype does not match the array"
    return None


def error_fields(error: Any) -> tuple[str, str, str | None, int | None]:
    """A failed probe's (kind, message, where, line), bounded; ``where`` only if a qualified name."""
    error = error if isinstance(error, dict) else {}
    kind = error.get("type")
    kind = kind if isinstance(kind, str) and _IDENTIFIER.fullmatch(kind) else "?"
    message = error.get("message")
    message = message[:300] if isinstance(message, str) else ""
    line = error.get("line")
    line = line if type(line) is int and 0 < line < 1_000_000 else None
    return kind, message, _qualified(error.get("where")), line


def error_evidence(error: Any) -> tuple[str | None, str | None]:
    """A failed probe's (caller, received): the student function that called the one that raised,
    and the kind of value that one was given; None where the worker sent nothing valid."""
    error = error if isinstance(error, dict) else {}
    received = error.get("received")
    return _qualified(error.get("caller")), received if isinstance(received, str) and received in EVIDENCE_KINDS else None


def _qualified(name: Any) -> str | None:
    return name if isinstance(name, str) and _QUALIFIED.fullmatch(name) else None


def error_cell(error: Any) -> int | None:
    """The notebook cell a failed probe's exception came from (its index among graded cells), bounded."""
    cell = error.get("cell") if isinstance(error, dict) else None
    return cell if type(cell) is int and 0 < cell < 100_000 else None
