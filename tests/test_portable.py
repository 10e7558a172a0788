"""The portable runner of ``grader check`` (a plain child process), forced on Linux with GRADER_PORTABLE=1.

What a student on Windows or macOS gets: the same results as in the sandbox for ordinary code,
a one-line note saying how the code runs, a timeout for code that never returns, and never a
traceback, whatever the submission does. Grading itself never falls back to it.
"""
import dataclasses
import io
import shutil
import subprocess
import sys
import time

import pytest
from rich.console import Console

from conftest import EXAMPLES, ROOT
from grader.errors import GraderError
from grader.grading import grade_files, open_session
from grader.portable import FORCE_VARIABLE, PortableZygote
from grader.selfcheck import run_check

HOSTILE = ROOT / "examples" / "hostile"


@pytest.fixture
def forced(monkeypatch):
    monkeypatch.setenv(FORCE_VARIABLE, "1")


@pytest.fixture
def portable_session(assignment, forced):
    fast = dataclasses.replace(assignment, test_seconds=2.0, submission_seconds=6.0)
    session = open_session(fast, [], insecure=True, public_only=True, lang="en")
    yield fast, session
    session.close()


def test_forced_check_uses_the_portable_runner_and_says_so_in_one_line(assignment, forced, tmp_path):
    path = tmp_path / "dezero_stage1.py"
    shutil.copy(EXAMPLES / "correct.py", path)
    out = io.StringIO()
    assert run_check(assignment, path, "en", Console(file=out, width=80)) is True
    lines = out.getvalue().splitlines()
    notes = [line for line in lines if line.startswith("note:")]
    assert len(notes) == 1 and "plain child process with a time limit" in notes[0]
    assert "public tests: 7/7 passed" in out.getvalue()


def test_portable_results_match_the_sandbox_for_the_example_class(assignment, portable_session):
    _, session = portable_session
    assert isinstance(session.zygote, PortableZygote) and session.layers == {}
    names = ["correct.py", "exp_backward_bug.py", "recursive_backward.py", "seed_not_ones_like.py",
             "syntax_error.py", "correct_notebook.ipynb"]
    portable = grade_files(assignment, [EXAMPLES / n for n in names], insecure=True, public_only=True,
                           session=session)
    sandboxed = grade_files(assignment, [EXAMPLES / n for n in names], insecure=True, public_only=True)
    for name, ours, theirs in zip(names, portable, sandboxed):
        assert [t["status"] for t in ours["tests"]] == [t["status"] for t in theirs["tests"]], name
        assert ours["score"] == theirs["score"], name


@pytest.mark.hostile
@pytest.mark.parametrize("name", ["loop_at_import.py", "loop_in_backward.py", "fake_exit.py", "fake_os_exit.py",
                                  "print_flood.py", "deep_recursion.py", "thread_keeps_running.py"])
def test_hostile_code_ends_within_the_limits_without_a_traceback(portable_session, name):
    fast, session = portable_session
    started = time.monotonic()
    [result] = grade_files(fast, [HOSTILE / name], insecure=True, public_only=True, session=session)
    assert time.monotonic() - started < 30
    assert "Traceback" not in result["output"]
    assert all(t["status"] in ("passed", "failed") for t in result["tests"])


def test_grading_never_falls_back_to_the_portable_runner(assignment, forced):
    session = open_session(assignment, [], insecure=True, public_only=False)
    try:
        assert not isinstance(session.zygote, PortableZygote) and session.portable is None
    finally:
        session.close()


def test_a_sandbox_that_cannot_start_gives_one_line_for_check_and_a_clear_error_for_grading(
        assignment, monkeypatch, tmp_path):
    """What a Linux laptop without user namespaces sees (there, the zygote's first worker fails)."""
    from grader import runner
    from grader.i18n import Message
    from grader.sandbox import WorkerFailure

    def broken(*args, **kwargs):
        raise WorkerFailure("protocol", Message("worker.setup"))

    monkeypatch.setattr(runner, "probe_layers", broken)
    path = tmp_path / "dezero_stage1.py"
    shutil.copy(EXAMPLES / "correct.py", path)
    out = io.StringIO()
    assert run_check(assignment, path, "ko", Console(file=out, width=80)) is True
    assert "샌드박스를 시작할 수 없어" in out.getvalue()
    with pytest.raises(GraderError, match="sandbox could not start"):
        open_session(assignment, [], insecure=True)


@pytest.mark.e2e
def test_cli_check_on_a_machine_without_the_sandbox_prints_no_traceback(assignment, tmp_path):
    """The whole command as a student runs it, with the sandbox's zygote unable to start."""
    from grader.handout import build_handout
    import zipfile

    build_handout(assignment, tmp_path / "h.zip")
    zipfile.ZipFile(tmp_path / "h.zip").extractall(tmp_path)
    folder = tmp_path / "dezero_stage1_handout"
    import os

    env = dict(os.environ, **{FORCE_VARIABLE: "1"})
    ran = subprocess.run([sys.executable, "-m", "grader.cli", "check"], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 1 and "Traceback" not in ran.stdout + ran.stderr
    assert "plain child process" in ran.stdout and "public tests: 0/7" in ran.stdout


def test_the_kit_imports_where_posix_only_signals_and_sockets_are_missing():
    """Windows has no SIGXCPU, SIGKILL or SOCK_SEQPACKET: check's modules must still import there."""
    code = ("import signal, socket\n"
            "for name in ('SIGXCPU', 'SIGKILL', 'SIGCHLD'):\n    delattr(signal, name)\n"
            "del socket.SOCK_SEQPACKET\n"
            "import os\nfor name in ('O_NOFOLLOW', 'O_NONBLOCK', 'O_CLOEXEC'):\n    delattr(os, name)\n"
            "import grader.cli, grader.selfcheck, grader.portable, grader.runner\n"
            "from grader.submission import load_submission\n"
            f"assert load_submission(__import__('pathlib').Path({str(EXAMPLES / 'correct.py')!r}), 'x').cells\n"
            "print('ok')")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == "ok", ran.stderr
