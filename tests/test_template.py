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


def _array_literals(source: str) -> set:
    """Every constant passed to ``np.array(...)`` in ``source``: the inputs a test or example uses."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "array" and node.args:
            try:
                found.add(repr(ast.literal_eval(node.args[0])))
            except ValueError:
                continue
    return found


def test_try_it_example_uses_no_hidden_test_input(assignment):
    # The handout prints the example's gradient: on a hidden test's input, that is the hidden answer.
    notebook = nbformat.reads(next(t for p, t in template_files(assignment).items() if p.suffix == ".ipynb"),
                              as_version=4)
    examples = set().union(*(_array_literals(c.source) for c in notebook.cells if c.cell_type == "code"
                             and "backward()" in c.source and "class " not in c.source))
    hidden = set().union(*(_array_literals(p.read_text(encoding="utf-8"))
                           for p in (assignment.root / "tests" / "hidden").glob("test_*.py")))
    assert examples, "the template has no Try-it example to check"
    assert hidden, "no literal inputs found in the hidden tests: the check would be vacuous"
    assert not examples & hidden, f"the Try-it example shows hidden test inputs {examples & hidden}"
