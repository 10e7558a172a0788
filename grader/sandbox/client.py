"""The trusted side of the sandbox: starts the zygote, drives workers, reads their output.

Nothing a worker sends is trusted: replies are size-capped frames of plain data, output is
kept up to a cap and only counted beyond it, and every way a worker can end is mapped to a
``WorkerFailure`` with a kind and a message fit to show a student.
"""
from __future__ import annotations

import functools
import json
import os
import re
import secrets
import select
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field

import grader
from grader import wire
from grader.i18n import Message
from grader.sandbox.interpreter import Runtime, command
from grader.sandbox.interpreter import prepare as prepare_runtime

ESSENTIAL_LAYERS = ("process", "rlimits", "secrets", "network")
# Worker uids: each zygote (one per grading process) claims its own range of UID_RANGE_SIZE uids,
# so that two sessions on one machine (two instructors, a batch beside `serve`) never share a uid:
# one session's students can then neither signal nor trace the other's, and RLIMIT_NPROC, which
# the kernel counts per uid, starves nobody else. Ranges are claimed with flock on a lock file per
# range; the kernel drops the lock when the claiming process dies, however it dies.
UID_FIRST = 64000
UID_RANGE_SIZE = 256      # uids per session: two per grading slot (students alternate), far above any machine's cores
UID_RANGES = 128          # 64000-96767: below the 100000+ of rootless container sub-uid maps
# getattr: Windows has no SIGXCPU, and this module must import there (grader.portable uses its types).
_SIGNAL_KEYS = {getattr(signal, name, None): key for name, key in (
    ("SIGSEGV", "worker.signal_segv"), ("SIGXCPU", "worker.signal_xcpu"), ("SIGABRT", "worker.signal_abrt"))}
# A worker answers only what it is asked. Messages that answer nothing (ids never requested or
# already answered, a second "ready", unknown shapes) are counted, never kept: past this many
# the worker is killed. Replies waiting to be collected are capped in bytes too, so nothing a
# submission sends can grow the grading process beyond a few tens of MiB.
MAX_UNSOLICITED = 64
MAX_HELD_BYTES = 32 << 20
_MAX_LOAD_ERRORS = 100
_PACKAGE_FILE = re.compile(r"[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*\.py", re.ASCII)
MAX_SIGNS = 128  # the worker's watch sends at most 8 places for each of its 9 kinds, each once
_SIGN_KIND = re.compile(r"[a-z_]{1,32}")
_SIGN_FILE = re.compile(r"[A-Za-z_][\w.-]*(?:/[A-Za-z_][\w.-]*)*\.py")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker; defaults are safe for numpy (see docs/security.md)."""

    memory_bytes: int = 1 << 30
    cpu_seconds: int = 60
    file_bytes: int = 16 << 20
    tmp_bytes: int = 64 << 20
    output_bytes: int = 64 << 10
    output_kill_bytes: int = 512 << 20  # beyond this a worker is killed; below, output is only counted

    def for_child(self) -> dict:
        return {"memory_bytes": max(self.memory_bytes, 256 << 20), "cpu_seconds": self.cpu_seconds,
                "file_bytes": self.file_bytes, "tmp_bytes": self.tmp_bytes}


class WorkerFailure(Exception):
    """A worker ended or misbehaved; ``kind`` is one of timeout, crash, memory, output, exit, protocol."""

    def __init__(self, kind: str, message: Message) -> None:
        super().__init__(str(message))
        self.kind = kind
        self.message = message


class Spawned:
    """A spawn request's answer: the worker's pid, once the zygote has forked it."""

    def __init__(self, zygote: "Zygote") -> None:
        self._zygote = zygote
        self.value: int | None = None
        self.pidfd: int | None = None  # the zygote's pidfd of the worker, where the machine has pidfds
        self.failed = False

    def pid(self) -> int | None:
        """The pid, or None if the zygote never forked it (it died or answered garbage)."""
        while self.value is None and not self.failed:
            self._zygote._read_reply()
        return self.value


def _phase(phase: str) -> Message:
    return Message(f"worker.phase_{phase}")


class Zygote:
    """A running zygote process; one per grading process, shared by its workers.

    It runs under the workers' interpreter (``runtime``, by default the grader's own), and gets the
    session's import policy and the seccomp filter (compiled here, so that interpreter needs no library).
    """

    def __init__(self, probes_path: str, hide: list[str], runtime: Runtime | None = None) -> None:
        self.runtime = runtime or prepare_runtime(None)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._uid_claim, uid_base = claim_uid_range()
        readable = readable_paths(self.runtime)
        settings = {"probes": os.path.abspath(probes_path), "uid_base": uid_base,
                    "hide": _hidden_paths(hide, readable), "readable": readable,
                    "imports": {"allowed": list(self.runtime.allowed), "font_cache": self.runtime.font_cache},
                    "seccomp": seccomp_program().hex()}
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        self._process = subprocess.Popen(
            command(self.runtime.executable, "grader.sandbox.zygote", str(theirs.fileno()), json.dumps(settings)),
            pass_fds=[theirs.fileno()], env=env, cwd="/", stdin=subprocess.DEVNULL)
        theirs.close()
        self._control = ours
        self._uid_base = uid_base
        self._unanswered: deque[Spawned] = deque()

    def spawn(self, slot: int, sock_fd: int, out_fd: int, limits: Limits) -> "Spawned":
        """Ask for a worker without waiting for the fork (about 3 ms here); its pid is read when needed."""
        request = json.dumps({"op": "spawn", "slot": slot, "limits": limits.for_child()}).encode()
        try:
            socket.send_fds(self._control, [request], [sock_fd, out_fd])
        except OSError:
            raise WorkerFailure("protocol", Message("worker.setup")) from None
        spawned = Spawned(self)
        self._unanswered.append(spawned)
        return spawned

    def _read_reply(self) -> None:
        """The zygote answers spawn requests in order: the oldest unanswered one gets this pid."""
        fds: list[int] = []
        try:
            reply, fds, _, _ = socket.recv_fds(self._control, 4096, 1)
            pid = int(json.loads(reply)["pid"]) if reply else None
        except (OSError, ValueError, KeyError, TypeError):
            pid = None
        spawned = self._unanswered.popleft()
        spawned.value, spawned.failed = pid, pid is None
        spawned.pidfd = fds[0] if fds and pid is not None else None
        for fd in fds if spawned.pidfd is None else fds[1:]:
            os.close(fd)

    @property
    def uid_base(self) -> int:
        """The first uid of this zygote's range: a worker of slot k runs as ``uid_base + k`` (the grading
        plugin gives grading slot n's students slots 2n and 2n + 1 in turn)."""
        return self._uid_base

    def close(self) -> None:
        self._control.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._uid_claim is not None:
            os.close(self._uid_claim)  # the range is free again
            self._uid_claim = None

    def __enter__(self) -> "Zygote":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _uid_lock_folder() -> str:
    for folder in ("/run/lock", "/var/lock", "/tmp"):
        if os.path.isdir(folder) and os.access(folder, os.W_OK):
            return os.path.join(folder, "dezero-grader-uids")
    return os.path.join(tempfile.gettempdir(), "dezero-grader-uids")


def claim_uid_range() -> tuple[int | None, int]:
    """(lock fd, first uid) of a uid range no other live grading process holds.

    Without root no uid is dropped to, so nothing is claimed (fd None). With every range taken
    (128 grading processes at once) the error says so rather than sharing a range.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, UID_FIRST
    import fcntl  # here: this module must import on Windows too (grader.portable uses its types)

    folder = _uid_lock_folder()
    os.makedirs(folder, mode=0o755, exist_ok=True)
    start = os.getpid() % UID_RANGES  # spreads concurrent sessions: fewer failed tries
    for step in range(UID_RANGES):
        number = (start + step) % UID_RANGES
        fd = os.open(os.path.join(folder, f"range-{number:03d}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return fd, UID_FIRST + number * UID_RANGE_SIZE
    raise OSError(f"all {UID_RANGES} sandbox uid ranges are in use by other grading processes ({folder}); "
                  "wait for some to finish")


def readable_paths(runtime: Runtime) -> list[str]:
    """What a worker may read: system folders, the workers' interpreter and its packages, this package."""
    paths = ["/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/sys", *runtime.paths,
             os.path.dirname(os.path.abspath(grader.__file__))]
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


@functools.lru_cache(maxsize=1)
def seccomp_program() -> bytes:
    """The workers' seccomp filter, compiled once per grading process; empty where it cannot be."""
    from grader.sandbox import layers  # Linux only: this module must import on Windows (grader.portable)

    try:
        return layers.build_seccomp_program()
    except layers.LayerUnavailable:
        return b""


def _hidden_paths(extra: list[str], readable: list[str] = ()) -> list[str]:
    """Folders covered by an empty tmpfs in the worker's mount namespace.

    Never ``/`` (nothing would run) nor ``/tmp`` or below: the worker gets a fresh private /tmp
    anyway, and covering it again took away the worker's own folder (grading ``/tmp/x.py``).
    A folder the workers cannot pass through (tox makes its ``.tox`` 0700) on the way to a path they
    must read is covered too: the tmpfs can be passed through and the path is bound back under it,
    and nothing else in that folder was readable to a worker anyway.
    """
    home = os.path.expanduser("~")
    candidates = {os.path.realpath(p) for p in ["/root", "/home", home, *extra] if p and os.path.isdir(p)}
    candidates |= _closed_folders_above(readable, covered=candidates)
    return sorted((p for p in candidates if p != "/" and p != "/tmp" and not p.startswith("/tmp/")), key=len)


def _closed_folders_above(paths: list[str], covered: set[str]) -> set[str]:
    """The highest folder above each of ``paths`` that others may not search (no o+x), unless a
    covered folder is above it already (the tmpfs over that one is searchable)."""
    found = set()
    for path in paths:
        folder = os.path.dirname(os.path.realpath(path))
        closed = None
        while folder not in ("/", ""):
            if folder in covered or folder in found:
                closed = None
                break
            try:
                if not os.stat(folder).st_mode & stat.S_IXOTH:
                    closed = folder
            except OSError:
                pass
            folder = os.path.dirname(folder)
        if closed:
            found.add(closed)
    return found


@dataclass
class Worker:
    """One sandboxed process holding one submission, answering probes until closed.

    Requests are queued (``submit``) and written as the socket accepts them while replies are
    read, so many probes can be in flight without either side blocking on a full buffer.
    """

    zygote: Zygote
    slot: int
    limits: Limits
    output: bytearray = field(default_factory=bytearray)
    output_total: int = 0
    ready: dict | None = None
    _sock: socket.socket | None = None
    _out: int | None = None
    _spawned: Spawned | None = None
    _reader: wire.MessageReader = field(default_factory=wire.MessageReader)
    _next_id: int = 0
    _exit: dict | None = None
    _flooded: bool = False
    _outbox: bytearray = field(default_factory=bytearray)
    _replies: dict = field(default_factory=dict)
    _pending: set = field(default_factory=set)   # ids requested and not answered yet
    _held_bytes: int = 0
    _unsolicited: int = 0
    _failure: WorkerFailure | None = None
    _nonce: str = ""
    untagged: int = 0  # replies without this worker's nonce: not from its dispatcher, dropped (review flag)
    signs: list = field(default_factory=list)  # what the worker's run-time watch saw (review flag)

    def start(self, cells: list[str], notebook: bool, timeout: float, package: dict | None = None) -> dict:
        self.launch(cells, notebook, package)
        return self.wait_ready(timeout)

    def launch(self, cells: list[str], notebook: bool, package: dict | None = None, setup: tuple = ()) -> None:
        """Fork the worker and hand it the code, without waiting: it loads while we do other work.

        ``setup``: functions the worker calls once the code is loaded (``[load] setup``)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_read, out_write = os.pipe()
        try:
            self._spawned = self.zygote.spawn(self.slot, theirs.fileno(), out_write, self.limits)
        finally:
            theirs.close()
            os.close(out_write)
        self._sock, self._out = ours, out_read
        self._sock.setblocking(False)
        os.set_blocking(out_read, False)
        self._nonce = secrets.token_hex(16)
        load = {"op": "load", "cells": cells, "notebook": notebook, "nonce": self._nonce, "setup": list(setup)}
        if package is not None:  # the book's package shape: the worker imports it (see child.load_package)
            load["package"] = package
        self._queue(load)

    def wait_ready(self, timeout: float) -> dict:
        """The worker's "ready" message, cleaned: ``load_errors`` bounded, ``layers`` only as claimed.

        The layers a worker claims are for ``probe_layers`` (whose worker runs no student code);
        a student's worker can forge its "ready", so graders record the session's layers instead.
        """
        self._pump(lambda: self.ready is not None, timeout, "loading")
        if not isinstance(self.ready.get("load_errors", []), list):
            self.close()
            raise WorkerFailure("protocol", Message("worker.protocol", {"detail": "ready"}))
        return self.ready

    def submit(self, probe: str, args: dict) -> int:
        """Queue one probe; its reply is collected later with ``result``."""
        self._next_id += 1
        self._pending.add(self._next_id)
        self._queue({"op": "probe", "id": self._next_id, "probe": probe, "args": args})
        return self._next_id

    def result(self, ident: int, timeout: float) -> dict:
        """Wait for the reply to ``ident`` (``ok``, ``value`` or ``error``) or raise WorkerFailure."""
        self._pump(lambda: ident in self._replies, timeout, "testing")
        reply, size = self._replies.pop(ident)
        self._held_bytes -= size
        return reply

    def call(self, probe: str, args: dict, timeout: float) -> dict:
        return self.result(self.submit(probe, args), timeout)

    @property
    def alive(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        """Kill the worker's whole tree and release our ends; safe to call twice."""
        if self._spawned is not None:
            spawned, self._spawned = self._spawned, None
            if spawned.pid() is not None:
                _kill_worker(spawned)
        if self._sock is not None:
            self._drain_output()
            self._sock.close()
            self._sock = None
        if self._out is not None:
            os.close(self._out)
            self._out = None

    def _queue(self, message: dict) -> None:
        try:
            self._outbox += wire.frame(message)
        except wire.WireError as exc:
            raise WorkerFailure("protocol", Message("worker.protocol", {"detail": str(exc)})) from None
        if self._sock is not None:
            self._write()  # most requests fit the socket buffer: the worker can start on them now

    def _pump(self, done, timeout: float, phase: str) -> None:
        """Write queued requests, read output and replies, until ``done()`` or the deadline."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while not done():
            if self._sock is None:
                raise self._failure or self._ended(phase)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise WorkerFailure("timeout", Message("worker.timeout", {"seconds": f"{timeout:.3g}",
                                                                          "phase": _phase(phase)}))
            writers = [self._sock] if self._outbox else []
            readable, writable, _ = select.select([self._sock, self._out], writers, [], remaining)
            if writable and self._outbox:
                self._write()
            if self._out in readable:
                self._read_output()
                if self._flooded:
                    self.close()
                    raise WorkerFailure("output", Message("worker.output", {"mib": self.limits.output_kill_bytes >> 20}))
            if self._sock in readable:
                self._read_messages(phase)

    def _write(self) -> None:
        try:
            sent = self._sock.send(self._outbox)
        except BlockingIOError:
            return
        except OSError:
            self._outbox.clear()  # the worker is gone; reading tells how it ended
            return
        del self._outbox[:sent]

    def _read_messages(self, phase: str) -> None:
        try:
            chunk = self._sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        try:
            messages = self._reader.feed_sized(chunk) if chunk else []
        except wire.WireError as exc:
            self._protocol_failure(str(exc))
        for message, size in messages:
            self._accept(message, size)
        if not chunk or self._exit is not None:
            # Replies that arrived with the end are kept; the end is raised only to whoever waits longer.
            self._drain_output()
            self._failure = self._ended(phase)
            self.close()

    def _accept(self, message: dict, size: int) -> None:
        """Keep what answers an outstanding request; count (and cap) everything else."""
        event, ident = message.get("event"), message.get("id")
        if event == "exit" and ident is None:
            self._exit = _exit_status(message.get("status"))  # from the zygote, which holds no nonce
        elif message.pop("tag", None) != self._nonce:
            self.untagged += 1  # not from the worker's dispatcher: dropped, counted for the review flag
            self._count_unsolicited()
        elif event == "ready" and ident is None and self.ready is None:
            self.ready = _ready(message)
        elif event == "sign" and ident is None and len(self.signs) < MAX_SIGNS:
            self.signs.append(plain_sign(message))
        elif type(ident) is int and ident in self._pending and isinstance(message.get("ok"), bool):
            self._pending.discard(ident)
            self._replies[ident] = (message, size)
            self._held_bytes += size
            if self._held_bytes > MAX_HELD_BYTES:
                self._protocol_failure(f"answers larger than {MAX_HELD_BYTES >> 20} MiB in all")
        else:
            self._count_unsolicited()

    def _count_unsolicited(self) -> None:
        self._unsolicited += 1
        if self._unsolicited > MAX_UNSOLICITED:
            self._protocol_failure(f"more than {MAX_UNSOLICITED} messages that answer no request")

    def _protocol_failure(self, detail: str):
        """Kill the worker; this and every later wait on it fail with a protocol failure."""
        self.close()
        self._replies.clear()
        self._failure = WorkerFailure("protocol", Message("worker.protocol", {"detail": detail}))
        raise self._failure

    def _ended(self, phase: str) -> WorkerFailure:
        if not self._exit and self._spawned is not None and self._spawned.pid() is None:
            return WorkerFailure("protocol", Message("worker.setup"))
        status = self._exit or {}
        text = bytes(self.output[-4096:]).decode("utf-8", "replace")
        where = {"phase": _phase(phase)}
        if ("OpenBLAS" in text and "alloc" in text.lower()) or "MemoryError" in text:
            return WorkerFailure("memory", Message("worker.memory", where))
        if "signal" in status:
            number = status["signal"]
            if number == signal.SIGKILL:
                return WorkerFailure("memory", Message("worker.killed", where))
            name = Message(_SIGNAL_KEYS.get(number, "worker.signal_other"), {"number": number})
            return WorkerFailure("crash", Message("worker.crash", {**where, "signal": name}))
        if status.get("code") in (70, 71):
            return WorkerFailure("protocol", Message("worker.setup"))
        if status.get("code") == 72:  # the dispatcher itself failed: its channel was taken from under it
            return WorkerFailure("exit", Message("worker.channel", where))
        return WorkerFailure("exit", Message("worker.exit", {**where, "code": status.get("code", "?")}))

    def _read_output(self) -> None:
        try:
            chunk = os.read(self._out, 1 << 16)
        except BlockingIOError:
            return
        self._keep_output(chunk)

    def _drain_output(self) -> None:
        if self._out is None:
            return
        while True:
            try:
                chunk = os.read(self._out, 1 << 16)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            self._keep_output(chunk)

    def _keep_output(self, chunk: bytes) -> None:
        room = self.limits.output_bytes - len(self.output)
        if room > 0:
            self.output.extend(chunk[:room])
        self.output_total += len(chunk)
        self._flooded = self.output_total > self.limits.output_kill_bytes


def _kill_worker(spawned: Spawned) -> None:
    """SIGKILL the worker (pid 1 of its namespace, whose death takes down everything else in it), then
    its process group (the same, where there is no pid namespace). Always, even after an exit report:
    the worker holds its socket and can forge one, then linger. Through its pidfd where there is one,
    and the group only if the worker was still ours then: by pid alone, a worker already reaped could
    have its pid taken by another process, which would be killed instead."""
    pid, pidfd = spawned.value, spawned.pidfd
    if pidfd is not None:
        spawned.pidfd = None
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            ours = True
        except OSError:  # gone already: its pid and group number may be another's now
            ours = False
        finally:
            os.close(pidfd)
        targets = [lambda: os.killpg(pid, signal.SIGKILL)] if ours else []
    else:
        targets = [lambda: os.kill(pid, signal.SIGKILL), lambda: os.killpg(pid, signal.SIGKILL)]
    for kill in targets:
        try:
            kill()
        except (ProcessLookupError, PermissionError):
            pass


def _exit_status(status) -> dict:
    """The zygote's exit report, as plain ints; a worker can forge one, so nothing else survives."""
    if isinstance(status, dict):
        number, code = status.get("signal"), status.get("code")
        if type(number) is int and 0 < number < 128:
            return {"signal": number}
        if type(code) is int and -256 < code < 256:
            return {"code": code}
    return {}


def _ready(message: dict) -> dict:
    """A "ready" message with bounded, plain fields (see ``wait_ready`` for what ``layers`` is good for)."""
    layers = message.get("layers")
    layers = dict(list(layers.items())[:32]) if isinstance(layers, dict) else {}
    layers = {key[:64]: value[:200] for key, value in layers.items() if isinstance(value, str)}
    defined = message.get("defined")
    # Only its being a non-empty list is used (a .py that stopped loading had something to grade).
    defined = [name[:64] for name in defined[:1000] if isinstance(name, str)] if isinstance(defined, list) else []
    errors = message.get("load_errors", [])
    if not isinstance(errors, list):
        return {"layers": layers, "load_errors": None, "defined": defined}
    return {"layers": layers, "load_errors": [_load_error(e) for e in errors[:_MAX_LOAD_ERRORS]], "defined": defined}


def plain_sign(message: dict) -> dict:
    """A sign of the worker's watch, with bounded, plain fields (an unknown kind is kept and ignored later)."""
    kind, file, line, cell = (message.get(k) for k in ("kind", "file", "line", "cell"))
    return {"kind": kind if isinstance(kind, str) and _SIGN_KIND.fullmatch(kind) else "?",
            "file": file if isinstance(file, str) and len(file) < 200 and _SIGN_FILE.fullmatch(file) else None,
            "line": line if type(line) is int and 0 < line < 1_000_000 else None,
            "cell": cell if type(cell) is int and 0 < cell < 100_000 else None}


def _load_error(error) -> dict:
    error = error if isinstance(error, dict) else {}
    kind, message, line, cell, file = (error.get(k) for k in ("type", "message", "line", "cell", "file"))
    return {"type": kind[:64] if isinstance(kind, str) and kind else "?",
            "message": message[:300] if isinstance(message, str) else "",
            "line": line if type(line) is int and 0 < line < 1_000_000 else None,
            "cell": cell if type(cell) is int and 0 < cell < 100_000 else None,
            # Which file of a package: a plain relative path of identifiers (the trusted side looks it up).
            "file": file if isinstance(file, str) and len(file) < 200 and _PACKAGE_FILE.fullmatch(file) else None}


def missing_essential_layers(active: dict) -> list[str]:
    return [name for name in ESSENTIAL_LAYERS if name not in active]


def probe_layers(zygote: Zygote, limits: Limits) -> dict:
    """Start one empty worker and report which isolation layers took effect on this machine."""
    worker = Worker(zygote, 0, limits)
    try:
        return worker.start(["pass"], False, 10).get("layers") or {}
    finally:
        worker.close()
