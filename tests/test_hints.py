"""Hints name a likely bug only where the evidence points to it (issue 10, B)."""
import pytest

from grader.handles import StudentError
from grader.plugin import likely_bug, student_error_message


def _error(kind, message="", where=None, probe="forward"):
    return StudentError(kind, message, where, 12, probe)


@pytest.mark.parametrize("error, hint", [
    (_error("NotImplementedError", "TODO: ...", "backward"), "hint.NotImplementedError"),
    (_error("RecursionError", "maximum recursion depth exceeded", "backward", "deep_chain"), "hint.RecursionError"),
    (_error("TypeError", "<class 'numpy.float64'> is not supported", "__init__"), "hint.TypeError"),
    (_error("AttributeError", "'Square' object has no attribute 'input'", "backward", "grad"), "hint.call_links"),
    (_error("AttributeError", "'Variable' object has no attribute 'creator'", "backward", "grad"), "hint.creator"),
    (_error("AttributeError", "module 'submission' has no attribute 'exp'", None), "hint.not_defined"),
    (_error("AttributeError", "'NoneType' object has no attribute 'input'", "backward", "grad"), "hint.creator"),
    # Stage 2: a constant reached Function.__call__ unwrapped (as_variable forgotten).
    (_error("AttributeError", "'float' object has no attribute 'data'", "__call__", "operator"), "hint.as_variable"),
    (_error("AttributeError", "'numpy.ndarray' object has no attribute 'generation'", "<genexpr>", "operator"),
     "hint.as_variable"),
])
def test_hint_where_the_evidence_points(error, hint):
    assert likely_bug(error) == hint


@pytest.mark.parametrize("error", [
    # The probe set input and output itself: a backward reading another name is not __call__'s fault.
    _error("AttributeError", "'Exp' object has no attribute 'output'", "backward", "backward_alone"),
    _error("TypeError", "unsupported operand type(s)", "backward", "grad"),
    _error("RecursionError", "maximum recursion depth exceeded", "helper", "grad"),
    _error("AttributeError", "'Exp' object has no attribute 'outputs'", "backward", "grad"),
    _error("ValueError", "has no attribute 'input'", "backward", "grad"),
    # An ndarray stored where a Variable belongs is not evidence of as_variable in stage 1 (no generation).
    _error("AttributeError", "'numpy.ndarray' object has no attribute 'shape_'", "backward", "grad"),
    _error("AttributeError", "'Variable' object has no attribute 'generation'", "__call__", "operator"),
])
def test_no_hint_without_evidence(error):
    assert likely_bug(error) is None


def test_hidden_feedback_shows_the_hint_but_not_the_message():
    error = _error("AttributeError", "'Square' object has no attribute 'input' SECRET", "backward", "grad")
    text = student_error_message(error, hidden=True).render("en")
    assert "SECRET" not in text and "self.input" in text
    assert "self.input" in student_error_message(error, hidden=True).render("ko")
