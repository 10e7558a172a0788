"""Student-visible text never shows the kit's layout, nor the grading machine's.

Whatever a worker prints or raises can hold paths: a warning naming the file Python compiled
(``/tmp/work/dezero/datasets.py:235: SyntaxWarning``), a traceback through the kit's probes or an
installed package, the value of ``sys.path`` or of a module's ``__file__``. Before such text reaches
feedback, the worker's own folder is cut (a file of the submission reads as the student named it),
every path into the kit (its folder, its ``grader`` package, the assignment, the reference) becomes
``<grader>`` whole, and the workers' interpreter's folders become ``<python>``.
"""
from __future__ import annotations

import functools
import os
import re
import tempfile

import grader
from grader.assignment import Assignment

KIT = "<grader>"
PYTHON = "<python>"
# A path goes on until whitespace, a quote, or what follows a path in messages and tracebacks.
_ENDS = r"[\\/\s'\"<>:,;()\[\]]"
_REST = r"[^\s'\"<>:,;()\[\]]*"
_SEPARATOR = r"[\\/]"


class PathMask:
    """Rewrites paths in text a worker produced (see the module's docstring)."""

    def __init__(self, kit: tuple[str, ...], python: tuple[str, ...]) -> None:
        self._pattern, self._groups = _compiled(tuple(sorted(set(kit))), tuple(sorted(set(python))))

    def text(self, text: str) -> str:
        return self._pattern.sub(self._replace, text) if text else text

    def data(self, data: bytes) -> bytes:
        """``text`` for output bytes (the paths are UTF-8; other bytes pass through unchanged)."""
        return self.text(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape") if data else data

    def _replace(self, match: re.Match) -> str:
        for name, kind, prefix in self._groups:
            found = match.group(name)
            if found is not None:
                return kind if kind != PYTHON else PYTHON + found[len(prefix):]
        # The worker's own folder: what follows is the submission's own relative path; alone, it is ".".
        return "" if match.group("worker")[-1:] in "\\/" else "."


@functools.lru_cache(maxsize=16)
def _compiled(kit: tuple[str, ...], python: tuple[str, ...]) -> tuple[re.Pattern, list]:
    worker = [r"/tmp/work", r"/tmp/grader-work-\w+/\d+",
              re.escape(tempfile.gettempdir()) + _SEPARATOR + r"grader-check-[^\\/\s]+"]
    prefixes = [(_strip(p), KIT) for p in kit] + [(_strip(p), PYTHON) for p in python]
    # Longest first: the kit's package may sit inside the interpreter's site-packages.
    prefixes = sorted((item for item in prefixes if len(item[0]) > 1), key=lambda item: len(item[0]), reverse=True)
    parts, groups = [f"(?P<worker>(?:{'|'.join(worker)})(?:{_SEPARATOR}|(?={_ENDS}|$)))"], []
    for number, (prefix, kind) in enumerate(prefixes):
        parts.append(f"(?P<p{number}>{re.escape(prefix)}(?={_ENDS}|$){_REST})")
        groups.append((f"p{number}", kind, prefix))
    return re.compile("|".join(parts)), groups


def _strip(path: str) -> str:
    return os.path.normpath(str(path)).rstrip("\\/")


def kit_paths(assignment: Assignment) -> tuple[str, ...]:
    """The kit's folders an assignment's worker could name: the kit, the assignment, the reference, ``grader``."""
    folders = [assignment.root, assignment.root.parent.parent, os.path.dirname(os.path.abspath(grader.__file__))]
    folders += [path.parent for path in (assignment.reference, assignment.expected, assignment.probes) if path]
    return tuple(str(folder) for folder in folders)
