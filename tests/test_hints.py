"""Hints name a likely bug only where the evidence points to it (issue 10, B; issue 22, item 4)."""
import pytest

from grader.handles import StudentError
from grader.plugin import likely_bug, student_error_message


def _error(kind, message="", where=None, probe="forward", caller=None, received=None):
    return StudentError(kind, message, where, 12, probe, None, caller, received)


@pytest.mark.parametrize("error, hint", [
    (_error("NotImplementedError", "TODO: ...", "Square.backward"), "hint.NotImplementedError"),
    (_error("RecursionError", "maximum recursion depth exceeded", "Variable.backward", "deep_chain"),
     "hint.RecursionError"),
    # The limit struck inside a Function's backward that the recursive Variable.backward called.
    (_error("RecursionError", "maximum recursion depth exceeded", "Square.backward", "deep_chain",
            caller="Variable.backward"), "hint.RecursionError"),
    (_error("TypeError", "<class 'numpy.float64'> is not supported", "Variable.__init__",
            caller="Function.__call__", received="numpy scalar"), "hint.TypeError"),
    # Variable rejecting None: data may be None (the spec), whoever passed it.
    (_error("TypeError", "<class 'NoneType'> is not supported", "Variable.__init__", "repr_of_none",
            received="None"), "hint.rejects_none"),
    (_error("TypeError", "not supported", "Variable.__init__", caller="Function.__call__", received="None"),
     "hint.call_gave_none"),
    (_error("AttributeError", "'Square' object has no attribute 'input'", "Square.backward", "grad"),
     "hint.call_links"),
    (_error("AttributeError", "'Variable' object has no attribute 'creator'", "Variable.backward", "grad"),
     "hint.creator"),
    (_error("AttributeError", "'Variable' object has no attribute 'grad'", "Variable.backward", "grad"),
     "hint.grad_attribute"),
    (_error("AttributeError", "module 'submission' has no attribute 'exp'", None), "hint.not_defined"),
    (_error("AttributeError", "'NoneType' object has no attribute 'input'", "Variable.backward", "grad"),
     "hint.none_creator"),
    # Stage 2: a constant reached Function.__call__ unwrapped (as_variable forgotten).
    (_error("AttributeError", "'float' object has no attribute 'data'", "Function.__call__", "operator"),
     "hint.as_variable"),
    (_error("AttributeError", "'numpy.ndarray' object has no attribute 'generation'", "Function.__call__",
            "operator"), "hint.as_variable"),
])
def test_hint_where_the_evidence_points(error, hint):
    assert likely_bug(error) == hint


@pytest.mark.parametrize("error", [
    # The probe set input and output itself: a backward reading another name is not __call__'s fault.
    _error("AttributeError", "'Exp' object has no attribute 'output'", "Exp.backward", "backward_alone"),
    _error("TypeError", "unsupported operand type(s)", "Square.backward", "grad"),
    _error("RecursionError", "maximum recursion depth exceeded", "helper", "grad"),
    _error("AttributeError", "'Exp' object has no attribute 'outputs'", "Exp.backward", "grad"),
    _error("ValueError", "has no attribute 'input'", "Square.backward", "grad"),
    # An ndarray stored where a Variable belongs is not evidence of as_variable in stage 1 (no generation).
    _error("AttributeError", "'numpy.ndarray' object has no attribute 'shape_'", "Variable.backward", "grad"),
    _error("AttributeError", "'Variable' object has no attribute 'generation'", "Function.__call__", "operator"),
    # Issue 22, item 4: Variable rejecting a value nobody can tell came from a missing as_array.
    _error("TypeError", "<class 'numpy.float64'> is not supported", "Variable.__init__"),
    _error("TypeError", "<class 'numpy.float64'> is not supported", "Variable.__init__", received="numpy scalar"),
    _error("TypeError", "<class 'list'> is not supported", "Variable.__init__", caller="Function.__call__",
           received="other"),
    _error("TypeError", "bad", "Function.__call__", caller="square", received="numpy scalar"),
    # A Variable treated as a function, or a function as a variable: not __call__'s or __init__'s fault.
    _error("AttributeError", "'Variable' object has no attribute 'input'", "Variable.backward", "grad"),
    _error("AttributeError", "'Square' object has no attribute 'grad'", "Variable.backward", "grad"),
    _error("AttributeError", "'Exp' object has no attribute 'creator'", "Variable.backward", "grad"),
    _error("AttributeError", "module 'numpy' is not callable", None),
])
def test_no_hint_without_evidence(error):
    assert likely_bug(error) is None


def test_hidden_feedback_shows_the_hint_but_not_the_message():
    error = _error("AttributeError", "'Square' object has no attribute 'input' SECRET", "Square.backward", "grad")
    text = student_error_message(error, hidden=True).render("en")
    assert "SECRET" not in text and "self.input" in text
    assert "self.input" in student_error_message(error, hidden=True).render("ko")


@pytest.mark.parametrize("where, hidden, shown", [
    ("Variable.__init__", False, "Variable.__init__"), ("Variable.__init__", True, "Variable.__init__"),
    # Hidden tests show only the part of a name that the assignment's own API has.
    ("Variable.backward.visit", True, "Variable.backward"), ("Secret_3_14", True, None),
    ("Secret_3_14", False, "Secret_3_14"), ("Square.Secret_3_14", True, "Square")])
def test_names_are_qualified_and_hidden_tests_show_only_the_api(where, hidden, shown):
    api = frozenset({"Variable", "Variable.__init__", "Variable.backward", "Square", "Square.backward"})
    error = _error("ValueError", "", where)
    text = student_error_message(error, hidden, api).render("en")
    assert text.startswith(f"{shown or 'your code'} (line 12) raised ValueError")


# --- end to end: names and evidence come from the worker ---------------------------------------

def _correct():
    from conftest import EXAMPLES

    return (EXAMPLES / "correct.py").read_text()


def _failed(result):
    return {t["tags"][-1]: t["output"] for t in result["tests"] if t["status"] == "failed"}


@pytest.mark.e2e
def test_the_template_names_each_part_by_its_qualified_name(assignment, grade, tmp_path):
    """Issue 24, item 2: "Variable.__init__ (line 24) raised NotImplementedError", not "__init__ (line 24)"."""
    template = assignment.root.parent.parent / "student_template" / "dezero_stage1.py"
    source = template.read_text()
    line = source.splitlines().index('        raise NotImplementedError("TODO: raise TypeError unless data is None or an '
                                     'np.ndarray; then keep data and set grad and creator to None.")') + 1
    outputs = _failed(grade(source, tmp=tmp_path))
    assert outputs["test_public_square_forward"].startswith(f"Variable.__init__ (line {line}) raised "
                                                            "NotImplementedError")
    assert outputs["test_square_forward_values[0d]"].startswith(f"Variable.__init__ (line {line}) raised")


@pytest.mark.e2e
def test_a_missing_as_array_is_named_only_when_a_numpy_scalar_came_from_call(grade, tmp_path):
    """Issue 22, item 4: the as_array hint needs a numpy scalar from Function.__call__; a broken as_array that
    returns None for arrays, into a Variable that rejects None, is told about None instead."""
    source = _correct()
    forgot = source.replace("y = as_array(self.forward(input.data))", "y = self.forward(input.data)")
    assert forgot != source, "the example's __call__ changed: update this test"
    outputs = _failed(grade(forgot, tmp=tmp_path))
    assert "wrap forward's result with as_array" in outputs["test_call_wraps_scalar_results"]
    assert outputs["test_call_wraps_scalar_results"].startswith("Variable.__init__ (line")

    broken = source.replace("    if np.isscalar(x):\n        return np.array(x)\n    return x\n",
                            "    if np.isscalar(x):\n        return np.array(x)\n")
    strict = broken.replace("if data is not None and not isinstance(data, np.ndarray):",
                            "if not isinstance(data, np.ndarray):")
    assert broken != source and strict != broken, "the example's as_array or Variable changed: update this test"
    outputs = _failed(grade(strict, tmp=tmp_path, name="strict.py"))
    assert outputs and not any("as_array(...)" in text for text in outputs.values())
    assert "Function.__call__ gave Variable None" in outputs["test_public_square_forward"]


def test_names_are_qualified_before_python_3_11_too():
    """The 3.9 and 3.10 workers (a handout's) have no co_qualname: a method is found among the classes of
    its module, and a plain function keeps its name."""
    from grader.sandbox.child import _owner_of

    class Variable:
        def __init__(self, data):
            self.data = data

        @property
        def shape(self):
            return None

        @staticmethod
        def make():
            return None

    def helper():
        return None

    scope = {"Variable": Variable, "helper": helper, "np": object()}
    assert _owner_of(Variable.__init__.__code__, scope) == "Variable."
    assert _owner_of(Variable.shape.fget.__code__, scope) == "Variable."
    assert _owner_of(Variable.make.__code__, scope) == "Variable."
    assert _owner_of(helper.__code__, scope) == ""


def test_a_name_the_file_lacks_is_said_of_the_file_not_of_the_workers_module():
    """The worker loads a file as module "submission"; the student never named it so."""
    text = student_error_message(_error("AttributeError", "module 'submission' has no attribute 'Variable'"),
                                 hidden=False).render("en")
    assert "your file has no attribute 'Variable'" in text and "submission" not in text, text
