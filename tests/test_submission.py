import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.errors import GraderError, SubmissionError
from grader.notebook import python_source
from grader.submission import choose, load_submission

from conftest import EXAMPLES

CODE = "class Variable:\n    pass\n"


def test_py_file_is_one_cell(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(CODE)
    submission = load_submission(path)
    assert submission.cells == [CODE] and not submission.notebook and len(submission.sha256) == 64


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "hw.py"
    path.write_bytes(b"\xef\xbb\xbf" + CODE.encode())
    assert load_submission(path).cells == [CODE]


@pytest.mark.parametrize("name, data, fragment", [
    ("hw.py", "é = 1".encode("latin-1"), "not UTF-8"),
    ("hw.py", b"   \n", "no code"),
    ("hw.ipynb", b"{not json", "not a valid notebook"),
    ("hw.ipynb", b'{"nbformat": 3, "cells": []}', "nbformat v4"),
    ("hw.zip", b"PK-not-a-zip", "not a valid zip"),
])
def test_bad_inputs_give_one_line_errors_naming_the_file(tmp_path, name, data, fragment):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SubmissionError) as error:
        load_submission(path)
    assert fragment in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)


def test_empty_zip_and_zip_without_code(tmp_path):
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(SubmissionError, match="zip file is empty"):
        load_submission(empty)
    pdf = tmp_path / "pdf.zip"
    with zipfile.ZipFile(pdf, "w") as archive:
        archive.writestr("report.pdf", b"%PDF")
    with pytest.raises(SubmissionError, match="no .py or .ipynb"):
        load_submission(pdf)


def test_zip_with_renamed_file_and_mac_junk(tmp_path):
    path = tmp_path / "sub.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__MACOSX/._x.py", b"\x00\x01")
        archive.writestr("student 123 - final (2).py", CODE)
    submission = load_submission(path)
    assert submission.chosen == "student 123 - final (2).py"


def test_missing_path_is_a_grader_error(tmp_path):
    with pytest.raises(GraderError):
        load_submission(tmp_path / "nope.py")


def test_choice_rule_prefers_template_name_then_definitions_then_py():
    files = {"notes.py": b"print(1)\n" * 50, "dezero_stage1.ipynb": b"{}", "work.py": CODE.encode()}
    assert choose(files, "dezero_stage1", "x")[0] == "dezero_stage1.ipynb"
    assert choose({"notes.py": b"print(1)\n" * 50, "work.py": CODE.encode()}, None, "x")[0] == "work.py"
    assert choose({"a.ipynb": CODE.encode(), "b.py": CODE.encode()}, None, "x")[0] == "b.py"


def test_ipython_syntax_is_neutralised_keeping_line_numbers():
    source = "%matplotlib inline\nfiles = !ls\nif True:\n    !echo hi\nx = 1\nnp.exp?"
    lines = python_source(source).splitlines()
    assert len(lines) == 6 and lines[3].startswith("    pass") and lines[4] == "x = 1"
    compile(python_source(source), "cell", "exec")
    assert python_source("%%bash\necho hi") == ""
    assert python_source("%%time\nx = 2") == "x = 2"


def test_notebook_code_cells_in_order(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# hi"), nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_code_cell("!pip install x"), nbformat.v4.new_code_cell("b = 2")])
    path = tmp_path / "hw.ipynb"
    nbformat.write(notebook, path)
    submission = load_submission(path)
    assert submission.notebook and submission.cells[0] == "a = 1" and submission.cells[-1] == "b = 2"


@pytest.mark.e2e
def test_a_file_directly_in_tmp_is_graded(assignment):
    """Its folder, /tmp, is hidden from the worker by the worker's own private /tmp: covering /tmp
    again took away the worker's working folder and every grade failed with a traceback."""
    import os

    from grader.grading import grade_files

    path = Path("/tmp") / f"dezero_grader_test_{os.getpid()}.py"
    path.write_bytes((EXAMPLES / "correct.py").read_bytes())
    try:
        [result] = grade_files(assignment, [path])
    finally:
        path.unlink()
    assert result["score"] == result["max_score"]
