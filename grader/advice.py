"""What a student can do about an error their code raised that says nothing by itself.

Three kinds, each turned into one sentence (a ``Message``) that names the cause and the fix:

- an import the grading environment refuses: a package the assignment does not allow (named with
  what it allows), or the assignment's own package imported by a file submitted without it;
- a NumPy 2 removal (``numpy.lib.arraysetops``, ``np.asscalar``): the NumPy the grader runs and what
  to use instead;
- a syntax error in code that a newer Python parses: the Python the grader runs and the one the
  syntax needs.

Only names from the student's code and the assignment's config are echoed: callers show advice for
load errors and public tests, never for hidden ones (a name can be built from a hidden input).
"""
from __future__ import annotations

import re

from grader.i18n import Message
from grader.sandbox.imports import stdlib_names
from grader.sandbox.interpreter import Runtime, syntax_needs

_QUOTED = re.compile(r"'([A-Za-z_][\w.]{0,99})'", re.ASCII)
_NUMPY_NAME = re.compile(r"module 'numpy' has no attribute '(\w{1,64})'|cannot import name '(\w{1,64})' from 'numpy'",
                         re.ASCII)
# numpy.lib modules NumPy 2.0 made private: what they held is numpy's own (an example of each).
NUMPY2_MODULES = {
    "numpy.lib.arraypad": "np.pad", "numpy.lib.arraysetops": "np.unique", "numpy.lib.arrayterator": "np.nditer",
    "numpy.lib.function_base": "np.diff", "numpy.lib.histograms": "np.histogram",
    "numpy.lib.index_tricks": "np.ix_", "numpy.lib.nanfunctions": "np.nansum", "numpy.lib.polynomial": "np.polyfit",
    "numpy.lib.shape_base": "np.expand_dims", "numpy.lib.twodim_base": "np.eye", "numpy.lib.type_check": "np.real",
    "numpy.lib.ufunclike": "np.fix", "numpy.lib.utils": "np.info", "numpy.lib.math": "math",
    "numpy.lib.emath": "np.emath", "numpy.compat": "Python's own str, bytes and os.fspath",
}
# Names NumPy 2.0 (or an earlier release) removed from numpy's namespace, and what replaces them.
NUMPY2_NAMES = {
    "asscalar": "a.item()", "product": "np.prod", "cumproduct": "np.cumprod", "sometrue": "np.any",
    "alltrue": "np.all", "msort": "np.sort(a, axis=0)", "round_": "np.round", "NaN": "np.nan", "NAN": "np.nan",
    "Inf": "np.inf", "Infinity": "np.inf", "infty": "np.inf", "PINF": "np.inf", "NINF": "-np.inf",
    "PZERO": "0.0", "NZERO": "-0.0", "float_": "np.float64", "complex_": "np.complex128", "cfloat": "np.complex128",
    "longfloat": "np.longdouble", "singlecomplex": "np.complex64", "longcomplex": "np.clongdouble",
    "clongfloat": "np.clongdouble", "string_": "np.bytes_", "unicode_": "np.str_", "float": "float",
    "int": "int", "object": "object", "str": "str", "complex": "complex", "unicode": "str",
    "find_common_type": "np.result_type", "cast": "np.asarray(a, dtype=...)", "safe_eval": "ast.literal_eval",
    "issubclass_": "issubclass", "alen": "len(a)", "mat": "np.asmatrix", "set_string_function": "np.set_printoptions",
    "fastCopyAndTranspose": "a.T.copy()", "source": "inspect.getsource", "disp": "print",
}


def for_error(kind: str, text: str, runtime: Runtime, allowed: tuple[str, ...], package: str | None,
              submitted_package: bool, shown_file: str) -> Message | None:
    """Advice for an exception of type ``kind`` with message ``text`` raised by a submission, or None."""
    if kind == "ModuleNotFoundError":
        return _for_missing_module(_first_quoted(text), runtime, allowed, package, submitted_package, shown_file)
    match = _NUMPY_NAME.search(text) if kind in ("ImportError", "AttributeError") else None
    name = match and (match.group(1) or match.group(2))
    if name in NUMPY2_NAMES:
        return Message("advice.numpy_removed", {"name": f"np.{name}", "numpy": runtime.numpy,
                                                "instead": NUMPY2_NAMES[name]})
    return None


def _for_missing_module(module: str | None, runtime: Runtime, allowed: tuple[str, ...], package: str | None,
                        submitted_package: bool, shown_file: str) -> Message | None:
    if module is None:
        return None
    top = module.partition(".")[0]
    if package is not None and top == package and not submitted_package:
        return Message("advice.package_not_submitted", {"file": shown_file, "package": package})
    removed = next((old for old in NUMPY2_MODULES if module == old or module.startswith(old + ".")), None)
    if removed is not None:
        return Message("advice.numpy_module_removed", {"name": removed, "numpy": runtime.numpy,
                                                       "example": NUMPY2_MODULES[removed]})
    if top not in stdlib_names() and top not in ("numpy", package) and top not in allowed:
        return Message("advice.not_allowed", {"module": module, "allowed": _allowed_list(allowed)})
    return None


def _allowed_list(allowed: tuple[str, ...]) -> Message:
    return Message("advice.allowed", {"others": "".join(f", {name}" for name in allowed)})


def for_syntax(source: str, runtime: Runtime) -> Message:
    """The Python the grader runs, and the one ``source``'s syntax needs when an installed one parses it."""
    needs = syntax_needs(source, runtime.version)
    if needs is None:
        return Message("advice.python", {"python": runtime.python})
    return Message("advice.python_needs", {"python": runtime.python, "needs": needs})


def _first_quoted(text: str) -> str | None:
    match = _QUOTED.search(text)
    return match.group(1) if match else None
