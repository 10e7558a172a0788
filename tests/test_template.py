import ast

import nbformat
import pytest

from grader.errors import GraderError
from grader.template import stale_template_files, stub_source, template_files

REFERENCE = '''def f(x):
    # BEGIN SOLUTION
    # TODO(ko): 두 배를 반환하세요.
    # TODO(en): return twice x,
    #           as a float.
    y = 2 * x
    return y
    # END SOLUTION
# BEGIN REMOVE
SECRET = 1
# END REMOVE
'''


def test_solution_becomes_todo_and_raise():
    stub = stub_source(REFERENCE)
    assert "2 * x" not in stub and "SECRET" not in stub
    assert "# TODO(ko)" in stub and 'raise NotImplementedError("TODO: return twice x, as a float.")' in stub
    ast.parse(stub)


@pytest.mark.parametrize("bad", ["# BEGIN SOLUTION\nx = 1\n", "# END SOLUTION\n",
                                 "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n"])
def test_unbalanced_markers_are_reported(bad):
    with pytest.raises(GraderError):
        stub_source(bad)


def test_committed_template_is_current_and_stubs_exactly_the_student_parts(assignment):
    assert stale_template_files(assignment) == []
    files = template_files(assignment)
    py = next(text for path, text in files.items() if path.suffix == ".py")
    tree = ast.parse(py)
    stubbed = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and "TODO" in ast.get_source_segment(py, node):
            stubbed.add(node.name)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and "TODO" in ast.get_source_segment(py, item):
                    stubbed.add(f"{node.name}.{item.name}")
    assert stubbed == {"Variable.__init__", "Variable.backward", "Function.__call__", "Square.forward",
                       "Square.backward", "Exp.forward", "Exp.backward", "numerical_diff"}


def test_template_notebook_is_valid_v4_with_explanations(assignment):
    text = next(t for p, t in template_files(assignment).items() if p.suffix == ".ipynb")
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= 6 and kinds.count("code") >= 6
