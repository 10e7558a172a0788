"""The grading processes one ``grader serve`` runs, and the watch that keeps every job moving.

``Supervisor`` starts N worker processes and restarts any that ends; the gradings a dead worker held go
straight back to the queue (it knows the process is gone, no need to wait for its lease). ``Reaper``
re-queues gradings whose lease expired (a worker on another machine that died, or a whole server that
was killed) and re-sends queued gradings to the engine when the server starts (Redis may have lost them:
a duplicate finds its grading claimed and is dropped).

Both run on long-lived threads: a worker asks the kernel to kill it when the thread that started it ends.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Callable

from grader.serve import jobs
from grader.serve.storage import Store
from grader.serve.worker import SETTINGS_VARIABLE, WorkerSettings

RESTART_PAUSE = 1.0      # seconds before a dead worker is replaced ...
MAX_RESTART_PAUSE = 30.0  # ... doubling up to this while workers keep dying within QUICK_DEATH seconds
QUICK_DEATH = 10.0


class Supervisor:
    def __init__(self, count: int, store: Store, publish: Callable[[list[int]], None], *, database: str, queue: str,
                 hide: list[str], lease_seconds: float, say: Callable[[str], None] = print) -> None:
        self.count, self.store, self.publish, self.say = count, store, publish, say
        self.database, self.queue, self.hide, self.lease_seconds = database, queue, hide, lease_seconds
        self.processes: dict[str, subprocess.Popen] = {}
        self._started: dict[str, float] = {}
        self._pause = RESTART_PAUSE
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="worker-supervisor")

    def start(self) -> "Supervisor":
        self._thread.start()
        return self

    def _spawn(self) -> None:
        owner = f"{socket.gethostname()}/worker-{uuid.uuid4().hex[:8]}"
        settings = WorkerSettings(owner=owner, database=self.database, queue=self.queue, hide=self.hide,
                                  lease_seconds=self.lease_seconds, parent=os.getpid())
        env = dict(os.environ, **{SETTINGS_VARIABLE: settings.to_env()})
        self.processes[owner] = subprocess.Popen([sys.executable, "-m", "grader.serve.worker"], env=env,
                                                 stdin=subprocess.DEVNULL)
        self._started[owner] = time.monotonic()

    def _watch(self) -> None:
        for _ in range(self.count):
            self._spawn()
        while not self._stopping.wait(0.3):
            for owner, process in list(self.processes.items()):
                code = process.poll()
                if code is None:
                    continue
                del self.processes[owner]
                why = f"its worker process ended ({_exit_text(code)})"
                requeued = jobs.release_owner(self.store, owner, why)
                self.say(f"grader serve: worker {owner} ended ({_exit_text(code)}); "
                         f"{len(requeued)} grading(s) queued again; starting another")
                self.publish(requeued)
                quick = time.monotonic() - self._started.pop(owner) < QUICK_DEATH
                self._pause = min(MAX_RESTART_PAUSE, self._pause * 2) if quick else RESTART_PAUSE
                if not self._stopping.wait(self._pause):
                    self._spawn()

    def pids(self) -> dict[str, int]:
        return {owner: process.pid for owner, process in self.processes.items()}

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: each worker finishes its current grading (or gives it back), then ends."""
        self._stopping.set()
        self._thread.join(timeout=2)
        for process in self.processes.values():
            process.terminate()
        deadline = time.monotonic() + timeout
        for owner, process in self.processes.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            jobs.release_owner(self.store, owner, "the service stopped")


class Reaper:
    def __init__(self, store: Store, publish: Callable[[list[int]], None], every: float = 2.0,
                 say: Callable[[str], None] = print) -> None:
        self.store, self.publish, self.every, self.say = store, publish, every, say
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lease-reaper")

    def start(self) -> "Reaper":
        self.publish(jobs.queued_ids(self.store))
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping.wait(self.every):
            try:
                requeued = jobs.requeue_expired(self.store)
            except Exception as error:  # noqa: BLE001 - the database away for a moment: try again next round
                self.say(f"grader serve: could not check leases ({type(error).__name__}); trying again")
                continue
            if requeued:
                self.say(f"grader serve: {len(requeued)} grading(s) whose worker stopped are queued again")
                self.publish(requeued)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)


def _exit_text(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"exit code {code}"
