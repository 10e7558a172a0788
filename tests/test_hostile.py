"""Hostile submissions, each a correct solution (or the template) plus an attack.

For every one: the grade finishes within its limits, the score is what the code honestly
earns, no hidden test or reference text shows in the result, and no process is left.
"""
import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT
from grader.grading import grade_files
from grader.results import validate
from grader.runner import Session

pytestmark = pytest.mark.hostile
HOSTILE = ROOT / "examples" / "hostile"
TEST_SECONDS, SUBMISSION_SECONDS = 2.0, 6.0
SECRET_SNIPPETS = ["default_rng(seed)", "pending = [self.creator]", "SHAPES = {", "check_array(student.probe"]


@pytest.fixture(scope="module")
def strict(assignment):
    fast = dataclasses.replace(assignment, test_seconds=TEST_SECONDS, submission_seconds=SUBMISSION_SECONDS)
    grading = Session(fast, hide=[str(ROOT)])
    yield fast, grading
    grading.close()


@pytest.fixture
def grade_hostile(strict):
    fast, grading = strict

    def run(name):
        started = time.monotonic()
        [result] = grade_files(fast, [HOSTILE / name], session=grading)
        elapsed = time.monotonic() - started
        validate(result)
        text = json.dumps(result)
        for snippet in SECRET_SNIPPETS:
            assert snippet not in text, f"{snippet!r} leaked into the result of {name}"
        assert elapsed < SUBMISSION_SECONDS + 10, f"{name} took {elapsed:.1f} s"
        assert sandbox_processes() == [], f"{name} left processes behind"
        return result

    return run


def sandbox_processes():
    """Live processes running as one of the sandbox's slot uids."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        state = next(line for line in status.splitlines() if line.startswith("State:")).split()[1]
        if 64000 <= uid < 64100 and state != "Z":
            found.append(entry.name)
    deadline = time.monotonic() + 5
    while found and time.monotonic() < deadline:  # a killed tree can take a moment to be torn down
        time.sleep(0.1)
        found = [pid for pid in found if Path("/proc", pid).exists() and _state(pid) != "Z"]
    return found


def _state(pid: str) -> str:
    try:
        status = Path("/proc", pid, "status").read_text()
    except OSError:
        return "Z"
    return next(line for line in status.splitlines() if line.startswith("State:")).split()[1]


def full(result):
    return result["score"] == result["max_score"] > 0


@pytest.mark.parametrize("name", ["fork_and_daemon.py", "thread_keeps_running.py", "network.py",
                                  "delete_files.py", "inspect_frames.py", "snoop_files.py", "print_flood.py"])
def test_attacks_that_fail_harmlessly_leave_an_honest_full_score(grade_hostile, name):
    result = grade_hostile(name)
    assert full(result), result["output"]


def test_network_is_unreachable(grade_hostile):
    output = grade_hostile("network.py")["output"]
    assert "connected to" not in output and output.count("blocked:") == 3


def test_print_flood_is_capped_and_counted(grade_hostile):
    result = grade_hostile("print_flood.py")
    assert len(result["output"]) < 10_000 and "of further output not shown" in result["output"]
    assert result["extra_data"]["output_bytes"] >= 200_000_000


def test_snooping_finds_no_tests_or_reference(grade_hostile):
    output = grade_hostile("snoop_files.py")["output"]
    assert "hidden" not in output and "assignment.toml" not in output and "dezero_stage1" not in output


@pytest.mark.parametrize("name, reason", [
    ("loop_at_import.py", "did not finish within"),
    ("memory_bomb.py", "MemoryError"),
    ("fake_exit.py", "SystemExit"),
    ("fake_os_exit.py", "ended the process early"),
    # Python 3.11 keeps Python frames on the heap: unbounded recursion ends by time or memory.
    ("deep_recursion.py", ("crashed", "did not finish", "MemoryError")),
])
def test_submissions_that_never_load_score_zero_with_the_reason(grade_hostile, name, reason):
    result = grade_hostile(name)
    reasons = reason if isinstance(reason, tuple) else (reason,)
    assert result["score"] == 0 and any(r in result["output"] for r in reasons), result["output"]


@pytest.mark.parametrize("name", ["loop_in_backward.py", "ignore_signals_loop.py"])
def test_hang_in_backward_fails_only_tests_that_need_it(grade_hostile, name):
    result = grade_hostile(name)
    passed = {t["tags"][1].split("[")[0] for t in result["tests"] if t["status"] == "passed"}
    failed = [t for t in result["tests"] if t["status"] == "failed"]
    assert {"test_square_forward_values", "test_square_backward_alone"} <= passed
    assert failed and all("time limit" in t["output"] or "did not finish" in t["output"] for t in failed)


def test_fake_results_files_change_nothing(grade_hostile, tmp_path):
    planted = [Path("/tmp/results.json"), Path("/tmp/report.json")]
    before = {p: p.exists() for p in planted}
    result = grade_hostile("fake_results_files.py")
    assert result["score"] == 0
    assert {p: p.exists() for p in planted} == before


def test_monkeypatching_inside_the_worker_cannot_touch_the_checks(grade_hostile):
    assert grade_hostile("monkeypatch.py")["score"] == 0


def test_a_batch_goes_on_normally_after_hostile_submissions(strict):
    fast, grading = strict
    names = ["loop_at_import.py", "deep_recursion.py", "fork_and_daemon.py", "memory_bomb.py"]
    results = grade_files(fast, [HOSTILE / n for n in names] + [EXAMPLES / "correct.py"], session=grading)
    assert full(results[-1]) and full(results[2])
    assert [r["score"] for r in (results[0], results[1], results[3])] == [0, 0, 0]
    assert sandbox_processes() == []


def test_cli_grade_of_a_hostile_file_exits_zero_with_a_result(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(HOSTILE / "fake_os_exit.py"), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["score"] == 0
    assert os.path.getsize(out) > 0


def test_missing_essential_layers_refuse_unless_insecure(assignment, monkeypatch):
    from grader import runner
    from grader.errors import GraderError

    monkeypatch.setattr(runner, "probe_layers", lambda zygote, limits: {"process": "x", "rlimits": "y"})
    with pytest.raises(GraderError, match="secrets, network.*--insecure"):
        Session(assignment, hide=[str(ROOT)])
    lax = Session(assignment, hide=[str(ROOT)], secure=False)
    try:
        [result] = grade_files(assignment, [EXAMPLES / "correct.py"], session=lax, insecure=True)
    finally:
        lax.close()
    assert result["extra_data"]["insecure"] is True and result["score"] == result["max_score"]


def test_a_dead_zygote_gives_a_setup_failure_not_a_hang(assignment):
    from grader.sandbox import Limits, Worker, WorkerFailure, Zygote

    zygote = Zygote(str(assignment.probes), hide=[str(ROOT)])
    zygote._process.kill()
    zygote._process.wait()
    worker = Worker(zygote, 0, Limits())
    try:
        with pytest.raises(WorkerFailure) as failure:
            worker.start(["pass"], False, 5)
    finally:
        worker.close()
        zygote.close()
    assert failure.value.kind == "protocol" and failure.value.message.key == "worker.setup"
