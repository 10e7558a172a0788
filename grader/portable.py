"""A portable runner for ``grader check``: the student's code in a plain child process with a timeout.

The Linux sandbox (namespaces, seccomp, Landlock, a zygote on a SOCK_SEQPACKET socket) protects
the grading process from a class of strangers. A student checking *their own code on their own
laptop* needs none of it, but does need a checker that starts on Windows, macOS and any Linux.
This module stands in for ``Zygote``/``Worker`` with the same interface, on what every platform
has: ``subprocess`` with pipes, and threads to read them (``select`` does not work on Windows pipes).

The child speaks the same framed plain data as the sandboxed worker (``grader.wire``) over its
stdin/stdout, and runs the same loader and probe code (``grader.sandbox.child``); whatever the
student prints goes to its stderr, kept up to the output cap like the sandbox's output pipe.
Grading never uses this runner: ``grader grade`` and ``batch`` still require the sandbox.
"""
from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grader
from grader import wire
from grader.i18n import Message
from grader.sandbox.client import MAX_SIGNS, Limits, Worker, WorkerFailure, _ready, plain_sign
from grader.sandbox.interpreter import Runtime, command
from grader.sandbox.interpreter import prepare as prepare_runtime

FORCE_VARIABLE = "GRADER_PORTABLE"  # "1": use this runner even where the sandbox would start (tests, CI)


def forced() -> bool:
    return os.environ.get(FORCE_VARIABLE) == "1"


class PortableZygote:
    """Stands in for ``Zygote``: starts nothing itself, each worker is its own child process."""

    def __init__(self, probes_path: str, runtime: Runtime | None = None) -> None:
        self.probes = os.path.abspath(probes_path)
        self.runtime = runtime or prepare_runtime(None)

    def close(self) -> None:
        pass


class PortableWorker:
    """One plain child process holding one submission; the interface of ``grader.sandbox.Worker``."""

    def __init__(self, zygote: PortableZygote, slot: int, limits: Limits) -> None:
        self.zygote, self.slot, self.limits = zygote, slot, limits
        self.output = bytearray()
        self.output_total = 0
        self.ready: dict | None = None
        self._process: subprocess.Popen | None = None
        self._folder: str | None = None
        self._changed = threading.Condition()
        self._replies: dict[int, dict] = {}
        self._failure: WorkerFailure | None = None  # set once the child has ended or misbehaved
        self._ended = False
        self._outbox: queue.Queue = queue.Queue()
        self._next_id = 0
        self._nonce = secrets.token_hex(16)  # the child's dispatcher tags every message with it
        self.untagged = 0  # messages without it: not from the dispatcher, dropped (as Worker does)
        self.signs: list[dict] = []  # what the child's run-time watch saw (as Worker keeps them)

    def start(self, cells: list[str], notebook: bool, timeout: float) -> dict:
        self.launch(cells, notebook)
        return self.wait_ready(timeout)

    def launch(self, cells: list[str], notebook: bool, package: dict | None = None, setup: tuple = ()) -> None:
        self._folder = tempfile.mkdtemp(prefix="grader-check-")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
        env.pop("PYTHONPATH", None)  # the kit's package is loaded from its folder (see interpreter.command)
        runtime = self.zygote.runtime
        try:
            self._process = subprocess.Popen(
                command(runtime.executable, "grader.portable", self.zygote.probes,
                        str(self.limits.for_child()["memory_bytes"]), str(self.limits.cpu_seconds),
                        json.dumps({"allowed": list(runtime.allowed), "font_cache": runtime.font_cache}),
                        with_argv=True),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self._folder, env=env)
        except OSError:
            raise WorkerFailure("protocol", Message("worker.setup")) from None
        for target in (self._read_replies, self._read_output, self._write_requests):
            threading.Thread(target=target, daemon=True).start()
        load = {"op": "load", "cells": cells, "notebook": notebook, "nonce": self._nonce, "setup": list(setup)}
        if package is not None:  # the book's package shape (see child.load_package)
            load["package"] = package
        self._queue(load)

    def wait_ready(self, timeout: float) -> dict:
        self._wait(lambda: self.ready is not None, timeout, "loading")
        return self.ready

    def submit(self, probe: str, args: dict) -> int:
        self._next_id += 1
        self._queue({"op": "probe", "id": self._next_id, "probe": probe, "args": args})
        return self._next_id

    def result(self, ident: int, timeout: float) -> dict:
        self._wait(lambda: ident in self._replies, timeout, "testing")
        with self._changed:
            return self._replies.pop(ident)

    def call(self, probe: str, args: dict, timeout: float) -> dict:
        return self.result(self.submit(probe, args), timeout)

    @property
    def alive(self) -> bool:
        return self._process is not None and not self._ended

    def close(self) -> None:
        """Kill the child and remove its working folder; safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for stream in (process.stdin, process.stdout, process.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
        self._outbox.put(None)
        with self._changed:
            self._ended = True
            self._changed.notify_all()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def _queue(self, message: dict) -> None:
        try:
            self._outbox.put(wire.frame(message))
        except wire.WireError as exc:
            raise WorkerFailure("protocol", Message("worker.protocol", {"detail": str(exc)})) from None

    def _wait(self, done, timeout: float, phase: str) -> None:
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._changed:
            while not done():
                if self._ended:
                    raise self._failure or self._end_of(phase)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            else:
                return
        self.close()
        raise WorkerFailure("timeout", Message("worker.timeout", {"seconds": f"{timeout:.3g}",
                                                                  "phase": Message(f"worker.phase_{phase}")}))

    # The three threads below each own one pipe; they end when the child's pipes close.

    def _write_requests(self) -> None:
        process = self._process
        while True:
            data = self._outbox.get()
            if data is None or process is None:
                return
            try:
                process.stdin.write(data)
                process.stdin.flush()
            except (OSError, ValueError):
                return  # the child is gone; the reader reports how it ended

    def _read_replies(self) -> None:
        process, reader = self._process, wire.MessageReader()
        failure = None
        while failure is None:
            try:
                chunk = process.stdout.read1(1 << 20)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                break
            try:
                messages = reader.feed(chunk)
            except wire.WireError as exc:
                failure = WorkerFailure("protocol", Message("worker.protocol", {"detail": str(exc)}))
                messages = []
            with self._changed:
                for message in messages:
                    if message.pop("tag", None) != self._nonce:
                        self.untagged += 1
                    elif message.get("event") == "ready" and self.ready is None:
                        self.ready = _ready(message)  # bounded and plain, as the sandbox's Worker keeps it
                    elif message.get("event") == "sign" and len(self.signs) < MAX_SIGNS:
                        self.signs.append(plain_sign(message))
                    elif isinstance(message.get("id"), int) and isinstance(message.get("ok"), bool):
                        self._replies[message["id"]] = message
                self._changed.notify_all()
        if failure is None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        with self._changed:
            self._failure = self._failure or failure
            self._ended = True
            self._changed.notify_all()
        if failure is not None:
            process.kill()

    def _read_output(self) -> None:
        process = self._process
        while True:
            try:
                chunk = process.stderr.read1(1 << 16)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            with self._changed:
                room = self.limits.output_bytes - len(self.output)
                if room > 0:
                    self.output.extend(chunk[:room])
                self.output_total += len(chunk)
                if self.output_total > self.limits.output_kill_bytes and self._failure is None:
                    self._failure = WorkerFailure("output", Message("worker.output",
                                                                    {"mib": self.limits.output_kill_bytes >> 20}))
                    process.kill()

    def _end_of(self, phase: str) -> WorkerFailure:
        """How the child ended, as the sandbox would say it."""
        code = self._process.poll() if self._process is not None else None
        where = {"phase": Message(f"worker.phase_{phase}")}
        text = bytes(self.output[-4096:]).decode("utf-8", "replace")
        if "MemoryError" in text:
            return WorkerFailure("memory", Message("worker.memory", where))
        if code is not None and code < 0:
            number = -code
            names = {getattr(signal, "SIGSEGV", None): "worker.signal_segv", getattr(signal, "SIGXCPU", None):
                     "worker.signal_xcpu", getattr(signal, "SIGABRT", None): "worker.signal_abrt"}
            if number == getattr(signal, "SIGKILL", 9):
                return WorkerFailure("memory", Message("worker.killed", where))
            name = Message(names.get(number, "worker.signal_other"), {"number": number})
            return WorkerFailure("crash", Message("worker.crash", {**where, "signal": name}))
        return WorkerFailure("exit", Message("worker.exit", {**where, "code": "?" if code is None else code}))


def new_worker(zygote, slot: int, limits: Limits):
    """A worker of the kind ``zygote`` runs: sandboxed, or a plain child process."""
    if isinstance(zygote, PortableZygote):
        return PortableWorker(zygote, slot, limits)
    return Worker(zygote, slot, limits)


def probe_layers(zygote: PortableZygote, limits: Limits) -> dict:
    """No isolation layer: the portable runner is a plain process (what ``sandbox_layers`` records)."""
    return {}


class _Channel:
    """The child's end of the request/reply pipes, shaped like the socket ``child.serve`` expects."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd, self._write_fd = read_fd, write_fd

    def recv(self, size: int) -> bytes:
        return os.read(self._read_fd, size)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._write_fd, view):]


def _limit_resources(memory_bytes: int, cpu_seconds: int) -> None:
    """Best effort on POSIX (a runaway loop or allocation ends instead of freezing the laptop)."""
    try:
        import resource
    except ImportError:  # Windows: the trusted side's timeouts are the limit
        return
    for name, value in (("RLIMIT_AS", memory_bytes), ("RLIMIT_CPU", cpu_seconds)):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (AttributeError, ValueError, OSError):
            pass  # macOS refuses RLIMIT_AS: the timeouts still hold


def main(argv: list[str]) -> None:
    """The child: keep the request/reply pipes private, send every print to stderr, then serve."""
    from grader.sandbox import child, imports

    probes_path, memory, cpu, imported = argv[0], int(argv[1]), int(argv[2]), json.loads(argv[3])
    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the student's input() gets EOF rather than our requests
    os.dup2(2, 1)     # the student's prints, even from C code, go to the output pipe
    from grader.binding import load_probes

    probes = load_probes(probes_path)
    child.WORKDIR = os.getcwd()  # the trusted side's temporary folder, removed when the check ends
    child.IMPORTS = imports.Policy(imported["allowed"], imported["font_cache"], trusted=(os.path.dirname(probes_path),))
    _limit_resources(memory, cpu)
    child.serve(_Channel(requests, replies), probes, {})


if __name__ == "__main__":
    main(sys.argv[1:])
