"""A grading process killed hard (SIGKILL, OOM killer, CI timeout) takes its whole sandbox with it.

Each test starts the real CLI, waits for a phase (loading, probing, between submissions, a batch
with two grading processes), SIGKILLs the process that was started, and asserts that within about
two seconds nothing it started (zygote, workers, pool processes) and no process running
as a sandbox slot uid is left.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.hostile
HOSTILE = ROOT / "examples" / "hostile"
GRACE_SECONDS = 2.0


@pytest.fixture
def tmp_path():
    """A folder outside /tmp: the zygote's command line names the folders it hides from workers, which
    is how these tests find a killed grader's processes, and nothing below /tmp is in that list (the
    worker's /tmp is private anyway)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="grader-killed-", dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], int(fields[19])


def _uid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def _processes() -> dict[int, tuple[int, str, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _stat(int(entry))) is not None:
            found[int(entry)] = info
    return found


def tree(root: int) -> dict[int, int]:
    """Every live descendant of ``root`` (pid -> start time, so a reused pid is not mistaken)."""
    table = _processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, started) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def marked(marker: str) -> dict[int, int]:
    """Live processes whose command line holds ``marker``.

    The zygote's arguments name the folders it hides, the submission's among them, and its
    workers are forks of it: a folder unique to the test marks them all, even one
    forked after the snapshot. Other developers' sandboxes on the machine are not counted.
    """
    return {pid: started for pid, (_, state, started) in _processes().items()
            if state != "Z" and marker in _command(pid)}


def sandboxed(marker: str) -> dict[int, int]:
    """Our processes running as a sandbox slot uid (64000 and up)."""
    return {pid: started for pid, started in marked(marker).items() if (_uid(pid) or 0) >= 64000}


def survivors(recorded: dict[int, int]) -> list[int]:
    left = []
    for pid, started in recorded.items():
        info = _stat(pid)
        if info is not None and info[2] == started and info[1] != "Z":
            left.append(pid)
    return left


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never reached: {what}"
        time.sleep(0.05)


def kill_and_check(process: subprocess.Popen, marker: str, *, worker: bool = True) -> None:
    if worker:
        # A worker whose probe timed out is replaced by a fresh one: between the two, for a moment
        # (longer on a loaded machine), none runs. Wait for the next rather than sample one instant.
        wait_for(lambda: sandboxed(marker) or process.poll() is not None, 10, "a worker running")
    recorded = {**tree(process.pid), **marked(marker)}
    assert marked(marker), "the grader had no zygote running"
    assert sandboxed(marker) or not worker, "the grader had no worker running"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + GRACE_SECONDS
    while (left := sorted(set(survivors(recorded)) | set(marked(marker)))) and time.monotonic() < deadline:
        time.sleep(0.05)
    described = [f"pid {pid} uid {_uid(pid)} parent {(_stat(pid) or ('?',))[0]}: {_command(pid)[:70]}"
                 for pid in left]
    for pid in left:  # do not leave a busy process to the next test
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"still alive {GRACE_SECONDS} s after the grader was killed: {described}"


def start(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **kwargs)


@pytest.mark.parametrize("name, phase_seconds", [
    ("loop_at_import.py", 0.5),   # killed while the submission loads
    ("loop_in_backward.py", 2.5),  # killed while a probe hangs in backward
])
def test_grade_killed_while_a_worker_runs(tmp_path, name, phase_seconds):
    marker = str(tmp_path)
    shutil.copy(HOSTILE / name, tmp_path / name)
    grading = start(["-m", "grader.cli", "grade", "-a", "stage1_autodiff", str(tmp_path / name), "-o", str(tmp_path / "r.json")])
    try:
        wait_for(lambda: sandboxed(marker), 60, "a worker started")
        time.sleep(phase_seconds)
        assert grading.poll() is None, "the grade ended before the phase under test"
        kill_and_check(grading, marker)
    finally:
        grading.kill()


def _class_folder(tmp_path: Path, source: Path, count: int) -> Path:
    folder = tmp_path / "class"
    folder.mkdir()
    for number in range(count):
        shutil.copy(source, folder / f"student{number:02d}.py")
    return folder


def test_batch_killed_between_submissions(tmp_path):
    folder = _class_folder(tmp_path, EXAMPLES / "correct.py", 9)  # chunks of 3: killed after the first
    out = tmp_path / "out"
    grading = start(["-m", "grader.cli", "batch", "-a", "stage1_autodiff", str(folder), "-o", str(out), "-j", "1"])
    try:
        wait_for(lambda: any((out / "results").glob("*.json")), 120, "a first result written")
        assert grading.poll() is None, "the batch ended before the phase under test"
        kill_and_check(grading, str(tmp_path), worker=False)
    finally:
        grading.kill()


def test_batch_with_two_grading_processes_killed_while_probing(tmp_path):
    marker = str(tmp_path)
    folder = _class_folder(tmp_path, HOSTILE / "loop_in_backward.py", 4)
    # Two grading processes normally need a class of 300; the planner's threshold is lowered here.
    script = ("import sys, grader.batch, grader.cli; grader.batch.SUBMISSIONS_PER_PROCESS = 1; "
              "sys.exit(grader.cli.main(sys.argv[1:]))")
    grading = start(["-c", script, "batch", "-a", "stage1_autodiff", str(folder), "-o", str(tmp_path / "out"), "-j", "2"])
    try:
        wait_for(lambda: len({_uid(pid) for pid in sandboxed(marker)}) >= 2, 120, "workers in two slots")
        time.sleep(1.0)
        kill_and_check(grading, marker)
    finally:
        grading.kill()
