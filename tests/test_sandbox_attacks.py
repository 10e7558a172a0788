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


def test_a_reaped_workers_pid_taken_by_another_process_is_not_killed():
    # A worker can run the pid counter round with threads and exit: the next process the machine starts
    # takes its pid before the grader closes it. Killing by that pid (and its group) killed that process.
    import os
    import subprocess

    from grader.sandbox.client import Spawned, _kill_worker

    worker = subprocess.Popen(["true"])
    pidfd = os.pidfd_open(worker.pid)
    worker.wait()  # exited and reaped, as the zygote reaps its workers
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)  # its own group, as a worker's
    try:
        spawned = Spawned(None)
        spawned.value, spawned.pidfd = bystander.pid, pidfd  # the worker's pid, now the bystander's
        _kill_worker(spawned)
        with pytest.raises(subprocess.TimeoutExpired):  # still running: nothing killed it
            bystander.wait(timeout=0.5)
    finally:
        bystander.kill()
        bystander.wait()


def test_the_zygotes_shared_work_folder_is_new_and_not_at_a_name_anyone_can_plant():
    # Without namespaces, worker folders live in the machine's /tmp. The zygote took over
    # /tmp/grader-work-<its pid> if it existed: a worker of an earlier session could plant it (a folder of
    # its own, a file, a link) for a later zygote's likely pid.
    import os
    import shutil
    import stat
    from pathlib import Path

    from grader.sandbox import zygote

    planted = Path(f"/tmp/grader-work-{os.getpid()}")
    planted.mkdir(mode=0o777, exist_ok=True)
    made = []
    try:
        made = [zygote._make_shared_tmp_root() for _ in range(2)]
        assert made[0] != made[1] and str(planted) not in made
        for root in made:
            status = os.lstat(root)
            assert stat.S_ISDIR(status.st_mode) and stat.S_IMODE(status.st_mode) == 0o711
            assert status.st_uid == os.getuid()
    finally:
        for root in [*made, planted]:
            shutil.rmtree(root, ignore_errors=True)
