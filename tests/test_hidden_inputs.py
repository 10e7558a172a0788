"""No hidden input reaches a worker while anything it does can still reach the student (issue 12, 6a).

Compute-ahead sends planned probe calls to a worker before they are needed. Student code can read
its socket, and public feedback shows its load output, exception texts and wrong values: so a
call holding a hidden input may be sent only once that submission's hidden tests have begun.
"""
import pytest

from conftest import EXAMPLES
from grader.grading import grade_files
from grader.handles import StudentHandle

pytestmark = pytest.mark.e2e


def test_hidden_calls_are_sent_only_during_hidden_tests(assignment, session, monkeypatch):
    sent = []  # (key, was a hidden test running for that submission, launched early)
    original = StudentHandle._queue_from

    def recording(self, key):
        before = set(self._queued)
        original(self, key)
        sent.extend((queued, self._hidden_test, key is None) for queued in set(self._queued) - before)

    monkeypatch.setattr(StudentHandle, "_queue_from", recording)
    paths = [EXAMPLES / "correct.py", EXAMPLES / "exp_backward_bug.py", EXAMPLES / "correct_notebook.ipynb"]
    results = grade_files(assignment, paths, session=session)
    assert [r["score"] == r["max_score"] for r in results] == [True, False, True]
    public = session.plan.public
    hidden_sends = [(key, during_hidden) for key, during_hidden, _ in sent if key not in public]
    assert hidden_sends and all(during_hidden for _, during_hidden in hidden_sends)
    assert any(early for _, _, early in sent), "no worker was launched early: the test proves nothing"
    assert all(key in public for key, _, early in sent if early)
