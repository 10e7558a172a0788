"""Attacks on the worker process itself: memory held outside its limit, forged probe answers.

Each hostile file is a full solution or the untouched template plus one attack, graded through
``grade_files`` like a real submission.
"""
import pytest

from test_hostile import HOSTILE, full, grade_hostile, strict  # noqa: F401 - fixtures shared with test_hostile

pytestmark = pytest.mark.hostile


def test_memfd_create_is_denied(grade_hostile):
    # Before the seccomp rule, 60 memfds of 16 MiB (the fd limit) held 960 MiB beyond RLIMIT_AS.
    result = grade_hostile("memfd_hoard.py")
    assert "memfd blocked after 0 MiB: PermissionError" in result["output"], result["output"]
    assert full(result)


@pytest.mark.parametrize("name, honest_score", [
    ("forge_dispatcher.py", 0),   # the template + grader.sandbox.child.answer_probe replaced
    ("forge_wire.py", 0),         # the template + grader.wire.send_message / frame / recv_message replaced
    ("forge_deep_chain.py", 61),  # a recursive backward + answer_probe.__code__ swapped for deep_chain
])
def test_patching_the_dispatcher_or_the_wire_forges_nothing(grade_hostile, name, honest_score):
    # Each scored 56/56 when the worker looked these names up after the student's code had run.
    assert grade_hostile(name)["score"] == honest_score


def test_replies_forged_on_the_raw_socket_are_dropped_and_flagged(strict):
    from conftest import EXAMPLES
    from grader.grading import grade_files
    from test_hostile import sandbox_processes

    fast, grading = strict
    # Graded after another submission, the forger is launched early with its probe requests
    # already queued: it reads them from the raw fd and writes closed-form replies back.
    honest, forged = grade_files(fast, [EXAMPLES / "correct.py", HOSTILE / "forge_raw_socket.py"], session=grading)
    assert full(honest) and honest["extra_data"]["review"] == []
    assert forged["score"] == 0, "forged replies were taken for the dispatcher's"
    assert any("did not produce" in reason for reason in forged["extra_data"]["review"]), forged["extra_data"]
    assert sandbox_processes(grading.zygote._process.pid) == []


def test_a_forged_exit_report_leaves_no_worker_behind(grade_hostile, strict):
    # Believing a worker's own "exit" frame (it holds the socket the report comes on) left it asleep,
    # alive for the whole session; grade_hostile checks that no process of the sandbox is left.
    result = grade_hostile("forge_exit_and_linger.py")
    assert result["score"] == 0
    from conftest import EXAMPLES
    from grader.grading import grade_files

    fast, grading = strict
    [after] = grade_files(fast, [EXAMPLES / "correct.py"], session=grading)
    assert full(after)
