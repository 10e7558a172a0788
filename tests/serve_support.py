"""What the grader-serve tests share: the service as a real process (``grader serve``, its workers and
their sandboxes), and real Redis and PostgreSQL servers on 127.0.0.1 for the scale-out tests.

Where a server program is absent the test is skipped and says which one and how to get it; under CI
(``CI`` set, as ``.ci/run`` runs) it fails instead, because ``.ci/run`` installs them all.
"""
from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from grader.serve.main import missing_libraries

# Skipped where the serve extra is absent, except under CI (tox installs it there): then they run and fail.
requires_serve = pytest.mark.skipif(bool(missing_libraries()) and not os.environ.get("CI"), reason=(
    "grader serve's libraries are not installed (pip install '.[serve]'): " + ", ".join(missing_libraries())))


def need(program: str, package: str) -> str:
    """The program's path; skip (fail under CI) where it is absent."""
    found = shutil.which(program) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))), None)
    if found:
        return found
    message = f"{program} is not installed (Debian package {package}; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServeProcess:
    """``grader serve ...`` in its own process: its address and printed tokens, its log, and the
    processes it started (found in /proc by the settings each worker carries in its environment)."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.args, self.cwd = list(args), cwd or ROOT
        self.students: list[str] = []
        self.instructor = ""
        self.url = ""
        self.log = tempfile.NamedTemporaryFile(prefix="grader-serve-", suffix=".log", delete=False)
        self._lines: queue.Queue[str] = queue.Queue()

    def start(self, timeout: float = 90) -> "ServeProcess":
        command = [sys.executable, "-m", "grader.cli", "serve", *self.args]
        if "--worker" not in self.args and "--port" not in self.args:
            command += ["--port", "0"]
        self.process = subprocess.Popen(command, cwd=self.cwd, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                        stdin=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.url and "--worker" not in self.args:
            try:
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"grader serve did not start: {self.log_text()}") from None
                continue
            if line.startswith("student token: "):
                self.students.append(line.split(": ", 1)[1])
            elif line.startswith("instructor token: "):
                self.instructor = line.split(": ", 1)[1]
            elif line.startswith("grader serve: http"):
                self.url = line.split()[2]
        if self.url:
            self._wait_healthy(deadline)
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))

    def _wait_healthy(self, deadline: float) -> None:
        import httpx

        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"grader serve is not answering: {self.log_text()}")

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def workers(self) -> dict[str, int]:
        """owner name -> pid of this service's grading processes."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) != self.process.pid:
                    continue
                environ = (entry / "environ").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            for item in environ:
                if item.startswith(b"GRADER_SERVE_WORKER="):
                    found[json.loads(item.split(b"=", 1)[1])["owner"]] = int(entry.name)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def wait_done(client, url: str, token: str, ident: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"{url}/api/v1/submissions/{ident}", headers={"Authorization": f"Bearer {token}"}).json()
        if answer["status"] in ("done", "error"):
            return answer
        time.sleep(0.2)
    raise AssertionError(f"submission {ident} not graded within {timeout} s: {answer}")


def submit(client, url: str, token: str, name: str, data: bytes, assignment: str = "stage1_autodiff"):
    return client.post(f"{url}/api/v1/submissions", headers={"Authorization": f"Bearer {token}"},
                       files={"file": (name, data)}, data={"assignment": assignment})


@contextlib.contextmanager
def redis_server():
    """A throwaway redis-server on 127.0.0.1 (no persistence); its URL."""
    program = need("redis-server", "redis-server")
    port = free_port()
    process = subprocess.Popen([program, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--protected-mode", "yes"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def postgres_server():
    """A throwaway PostgreSQL cluster on 127.0.0.1, run as the postgres user (it refuses root); its URL."""
    initdb, pg_ctl = need("initdb", "postgresql"), need("pg_ctl", "postgresql")
    if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
        pytest.fail("the postgres user is missing (the Debian package postgresql creates it)") if os.environ.get("CI") \
            else pytest.skip("the postgres user is missing (Debian package postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="grader-pg-"))
    shutil.chown(folder, "postgres")
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_postgres + [initdb, "-D", str(folder / "data"), "--auth=trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run(as_postgres + [pg_ctl, "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "-o",
                                  f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run(as_postgres + [need("createdb", "postgresql"), "-h", "127.0.0.1", "-p", str(port), "grader"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/grader"
    finally:
        subprocess.run(as_postgres + [pg_ctl, "-D", str(folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_port(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no server on port {port}")
