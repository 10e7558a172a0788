"""The student template, generated from the reference and never edited by hand.

Markers in the reference (as in Otter and nbgrader):
``# BEGIN SOLUTION`` / ``# END SOLUTION``: the body becomes its ``# TODO`` comments plus a
``raise NotImplementedError``; ``# BEGIN REMOVE`` / ``# END REMOVE``: dropped.
"""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from grader.assignment import Assignment
from grader.errors import GraderError

# The public example's input must be one no hidden test uses (tests/test_template.py checks it),
# or the handout would print a hidden test's input and its expected gradient.
_TRY_IT = """import numpy as np

x = Variable(np.array(1.0))
y = square(exp(square(x)))
y.backward()
print(x.grad)"""


def stub_source(reference: str, label: str = "reference") -> str:
    """Replace each marked solution body with its TODO comments and a NotImplementedError."""
    out, block, mode = [], [], None
    for number, line in enumerate(reference.splitlines(), start=1):
        marker = line.strip()
        if marker in ("# BEGIN SOLUTION", "# BEGIN REMOVE"):
            if mode:
                raise GraderError(f"{label}:{number}: '{marker}' inside another block; close it with '# END ...'")
            mode, indent, block = marker.split()[-1], line[: len(line) - len(line.lstrip())], []
        elif marker in ("# END SOLUTION", "# END REMOVE"):
            if mode != marker.split()[-1]:
                raise GraderError(f"{label}:{number}: '{marker}' without its BEGIN; fix the markers")
            if mode == "SOLUTION":
                out.extend(stub_lines(block, indent))
            mode = None
        elif mode:
            block.append(line)
        else:
            out.append(line)
    if mode:
        raise GraderError(f"{label}: '# BEGIN {mode}' is never closed; add '# END {mode}'")
    return "\n".join(out) + "\n"


def stub_lines(block: list[str], indent: str) -> list[str]:
    """A solution block as the template has it: its leading comment lines (its TODO text) plus a raise
    quoting the English TODO."""
    comments = []
    for line in block:
        if not line.strip().startswith("#"):
            break
        comments.append(line)
    english, inside = [], False
    for line in comments:
        text = line.strip().lstrip("#").strip()
        if text.startswith("TODO("):
            inside = text.startswith("TODO(en)")
            text = text.split(":", 1)[1].strip() if inside else text
        if inside:
            english.append(text)
    message = " ".join(english).replace('"', "'")
    return comments + [f'{indent}raise NotImplementedError("TODO: {message}")']


def template_files(assignment: Assignment) -> dict[Path, str]:
    """The template's files and their exact contents."""
    source = stub_source(assignment.reference.read_text(encoding="utf-8"), str(assignment.reference))
    folder = assignment.root.parent.parent / "student_template"
    name = assignment.template_name
    return {folder / f"{name}.py": source, folder / f"{name}.ipynb": _notebook(source, assignment)}


def _notebook(source: str, assignment: Assignment) -> str:
    import nbformat  # here: nbformat brings jsonschema (0.1 s), and a batch reaches this module only to list kit files
    notes_path = assignment.root / "notebook.toml"
    notes = tomllib.loads(notes_path.read_text(encoding="utf-8")) if notes_path.exists() else {}
    texts = notes.get("cells", {})
    cells = [nbformat.v4.new_markdown_cell(notes.get("intro", f"# {assignment.title}").strip())]
    for names, chunk in _chunks(source):
        note = next((texts[n] for n in names if n in texts), None)
        if note:
            cells.append(nbformat.v4.new_markdown_cell(note.strip()))
        cells.append(nbformat.v4.new_code_cell(chunk))
    if "try_it" in texts:
        # notebook.toml's try_it_code is the demo cell; stage 1's predates that setting.
        code = notes.get("try_it_code", _TRY_IT).strip()
        cells += [nbformat.v4.new_markdown_cell(texts["try_it"].strip()), nbformat.v4.new_code_cell(code)]
    for number, cell in enumerate(cells):
        cell["id"] = f"cell-{number}"  # stable ids keep the file reproducible
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"


def _chunks(source: str) -> list[tuple[list[str], str]]:
    """Split a module into cells: the preamble, then one per top-level def/class with its comments."""
    lines = source.splitlines()
    named = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            while start > 0 and lines[start - 1].startswith("#"):
                start -= 1
            named.append((start, node.name))
    bounds = [(0, None)] + named + [(len(lines), None)]
    chunks = []
    for (start, name), (end, _) in zip(bounds, bounds[1:]):
        text = "\n".join(lines[start:end]).strip()
        if text:
            chunks.append(([name] if name else [], text))
    return chunks


def build_template(assignment: Assignment) -> list[Path]:
    written = []
    for path, text in template_files(assignment).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_template_files(assignment: Assignment) -> list[Path]:
    return [path for path, text in template_files(assignment).items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]
