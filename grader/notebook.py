"""Jupyter notebooks as graded code: cells in, IPython-only syntax out."""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from grader.errors import SubmissionError

if TYPE_CHECKING:  # imported where a notebook is read: it brings jsonschema (0.1 s), which a grading process never needs
    import nbformat

# Cell magics whose body is still Python; any other %%magic cell (bash, html, ...) is dropped.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
_IPYTHON_LINE = re.compile(r"^(\s*)(%|!|\w[\w.]*\s*=\s*[!%])")
_HELP_LINE = re.compile(r"^\s*[\w.]+\?{1,2}\s*$|^\s*\?")
# A real notebook nests about 6 deep; json, nbformat and jsonschema all recurse per level.
MAX_NESTING = 64
_BRACKETS = re.compile(r'[\[\]{}]|"(?:[^"\\]|\\.)*"')


def read_notebook(text: str, label: str) -> nbformat.NotebookNode:
    """Parse and validate a v4 notebook, or raise a one-line SubmissionError naming ``label``."""
    import nbformat
    if _nesting_exceeds(text, MAX_NESTING):
        raise SubmissionError("notebook_too_deep", file=label, depth=MAX_NESTING)
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise SubmissionError("bad_notebook_json", file=label, line=getattr(exc, "lineno", "?")) from None
    except RecursionError:  # a guard in case the scan above and the parser ever disagree
        raise SubmissionError("notebook_too_deep", file=label, depth=MAX_NESTING) from None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4:
        raise SubmissionError("not_v4", file=label)
    try:
        notebook = nbformat.reads(text, as_version=nbformat.NO_CONVERT)  # joins multi-line sources
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises several validation error types
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise SubmissionError("invalid_notebook", file=label, problem=first) from None
    return notebook


def _nesting_exceeds(text: str, limit: int) -> bool:
    """True if brackets outside strings nest deeper than ``limit``: checked without recursion."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def code_cells(notebook: nbformat.NotebookNode) -> list[str]:
    """Python source of each code cell, in document order, with IPython syntax neutralised."""
    return [source for _, source in numbered_code_cells(notebook)]


def numbered_code_cells(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """``(position, source)`` of each non-empty code cell; the position counts every cell from 1,
    markdown included, as a student counts the cells on the screen in Jupyter."""
    cells = []
    for position, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = python_source(cell.get("source", ""))
        if source.strip():
            cells.append((position, source))
    return cells


def python_source(source: str) -> str:
    lines = source.splitlines()
    if lines and lines[0].startswith("%%"):
        magic = lines[0][2:].split(maxsplit=1)[0] if lines[0][2:].strip() else ""
        if magic not in _PYTHON_CELL_MAGICS:
            return ""
        lines = lines[1:]
    # Keep line numbers stable: an IPython-only line becomes a `pass` at the same indent.
    return "\n".join(_neutralise(line) for line in lines)


def _neutralise(line: str) -> str:
    match = _IPYTHON_LINE.match(line)
    if match or _HELP_LINE.match(line):
        indent = match.group(1) if match else line[: len(line) - len(line.lstrip())]
        return f"{indent}pass  # IPython-only line skipped by the grader"
    return line
