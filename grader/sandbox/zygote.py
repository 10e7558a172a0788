"""The zygote: a clean warm process that forks sandboxed workers on request.

Started by exec (never forked from the grading process), so it holds no hidden test, no
reference and no secret. It imports numpy once with single-threaded BLAS, loads the
assignment's probe module, compiles the seccomp filter, and then, for each ``spawn``
request on its control socket, forks:

    zygote ── worker (pid 1 of a new pid namespace; new session; then its own mount, net, ipc and
                      uts namespaces, mounts, rlimits, uid drop, Landlock, seccomp, then student code)

The zygote reaps its workers and sends each one's exit status on that worker's socket, then closes
it; killing the worker (pid 1 of its namespace) takes down everything else in the namespace. (A
monitor process between the two, forked from the zygote and forking the worker, did this job
before: a second fork and exit of the whole warm process, about 2-3.5 ms of CPU per submission.)

Nothing may outlive the grading process, however it dies (SIGKILL, OOM killer, CI timeout): each
link of the chain asks the kernel for SIGKILL when its parent dies. The zygote also exits when its
control socket reaches end of file (the grader is gone, even before the request took effect); the
worker renews its request after the uid drop, which clears it, and checks a pipe the zygote holds
open for the race (a pid namespace's first process cannot see its parent).
"""
from __future__ import annotations

import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads, or a tight RLIMIT_AS can deadlock OpenBLAS

import numpy  # noqa: E402,F401  - warm: every worker inherits it
# numpy 2 loads numpy.random on first use; stage 5's given code draws weights with it at once, and a
# virtual environment under /tmp is hidden by the sandbox's private /tmp, where that first use would fail.
import numpy.random  # noqa: E402,F401

from grader import wire  # noqa: E402
from grader.binding import ProbeFile, load_probes  # noqa: E402
from grader.sandbox import child, imports, layers  # noqa: E402

ESSENTIAL = ("process", "rlimits", "secrets", "network")


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    settings = json.loads(sys.argv[2])
    layers.die_with_parent()
    # Workers are our children, and orphans of theirs come back to us: every one is reaped here
    # (``_Workers.reap``), so no zombie holds a slot uid's process count.
    layers.become_subreaper()
    probes = _load_probes(settings["probes"])
    seccomp_program = bytes.fromhex(settings["seccomp"])  # compiled by the grader: this Python needs no library
    child.IMPORTS = imports.Policy(settings["imports"]["allowed"], settings["imports"]["font_cache"],
                                   trusted=(os.path.dirname(settings["probes"]),))
    prepared = child.prepare()  # after IMPORTS: the copies hold the settings as they are now
    global _SHARED_ROOT
    _SHARED_ROOT = _make_shared_tmp_root()
    workers = _Workers()
    # Workers hold the read end: end of file there means this zygote is gone.
    alive_read, alive_write = os.pipe()
    pid_namespace = layers.own_pid_namespace()
    # Everything imported so far is shared with every worker: keep the cyclic GC away from it, or
    # each worker's first collection walks (and copy-on-write faults) the whole inherited heap.
    gc.collect()
    gc.freeze()
    while True:
        if not workers.wait(control):
            continue
        try:
            data, fds, _, _ = socket.recv_fds(control, 65536, 2)
        except OSError:
            break
        if not data:
            break
        request = _request(data)
        if request.get("op") != "spawn" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            if request.get("op") == "spawn":  # its fds did not arrive (our fd table was full): say so, or it waits
                control.send(json.dumps({"pid": None}).encode())
            continue
        in_pid_namespace = _next_child_in_new_pid_namespace(pid_namespace)
        pid = os.fork()
        if pid == 0:
            workers.forget_in_child()
            control.close()
            os.close(alive_write)
            _worker(fds[0], fds[1], alive_read, request, settings, probes, prepared, seccomp_program,
                    in_pid_namespace)
        if in_pid_namespace:
            layers.enter_pid_namespace(pid_namespace)  # our next child starts in a namespace of its own again
        os.close(fds[1])
        workers.add(pid, fds[0])
        _answer_spawn(control, pid)
    shutil.rmtree(_SHARED_ROOT, ignore_errors=True)
    os._exit(0)


def _answer_spawn(control: socket.socket, pid: int) -> None:
    """The worker's pid, with a pidfd of it where this kernel and Python have them: the grader kills
    through the pidfd, which never reaches another process, even once the worker is reaped and its pid
    reused (a worker can run the pid counter round with threads, then exit, so the next process the
    machine starts takes its pid). Opened before we can reap it: a dead worker stays ours until then."""
    reply = json.dumps({"pid": pid}).encode()
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        control.send(reply)
        return
    try:
        socket.send_fds(control, [reply], [pidfd])
    finally:
        os.close(pidfd)


def _request(data: bytes) -> dict:
    try:
        request = json.loads(data)
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


def _load_probes(path: str) -> ProbeFile:
    """The probe file, its measuring tools bound now, before any worker exists (see grader.binding)."""
    return load_probes(path)


def _next_child_in_new_pid_namespace(own: int | None) -> bool:
    """Make our next child the first process of a new pid namespace; False where this machine cannot."""
    if own is None:
        return False
    try:
        layers.unshare(layers.CLONE_NEWPID)
    except OSError:
        return False
    return True


class _Workers:
    """The live workers: each one's socket, on which its exit status is sent once it is reaped.

    A status waits in ``_outgoing`` until its socket takes it (never blocking the zygote on a grader
    that is not reading), and is dropped if the grader has closed its end.
    """

    def __init__(self) -> None:
        self._sockets: dict[int, int] = {}
        self._outgoing: dict[int, bytes] = {}
        self._wake_read, wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)  # a SIGCHLD wakes ``wait`` even between its checks
        signal.signal(signal.SIGCHLD, lambda number, frame: None)

    def add(self, pid: int, sock_fd: int) -> None:
        self._sockets[pid] = sock_fd

    def wait(self, control: socket.socket) -> bool:
        """Reap, send statuses, and wait; True once ``control`` has something to read."""
        self.reap()
        readable, writable, _ = select.select([control, self._wake_read], list(self._outgoing), [])
        for fd in writable:
            self._send(fd)
        if self._wake_read in readable:
            try:
                while os.read(self._wake_read, 512):
                    pass
            except BlockingIOError:
                pass
        return control in readable

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            sock_fd = self._sockets.pop(pid, None)
            if sock_fd is None:
                continue  # an orphan of a worker's (where there is no pid namespace), reparented to us
            shutil.rmtree(os.path.join(_SHARED_ROOT, str(pid)), ignore_errors=True)
            self._outgoing[sock_fd] = wire.frame({"event": "exit", "status": _describe_status(status)})
            os.set_blocking(sock_fd, False)
            self._send(sock_fd)

    def _send(self, sock_fd: int) -> None:
        data = self._outgoing[sock_fd]
        try:
            sent = os.write(sock_fd, data)
        except BlockingIOError:
            return
        except OSError:  # the grader closed its end: nobody is waiting for this status
            sent = len(data)
        if sent < len(data):
            self._outgoing[sock_fd] = data[sent:]
            return
        del self._outgoing[sock_fd]
        os.close(sock_fd)

    def forget_in_child(self) -> None:
        """In a new worker: no handler, no wake-up fd, none of the other workers' sockets."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in [*self._sockets.values(), *self._outgoing, self._wake_read]:
            os.close(fd)


_SHARED_ROOT = ""  # this zygote's folder of worker folders in the machine's /tmp (``_make_shared_tmp_root``)


def _make_shared_tmp_root() -> str:
    """This zygote's folder of worker folders in the machine's /tmp (used where there are no mount
    namespaces), made before any worker exists. Its name is random and it is made new (not taken over
    if it exists): a worker of an earlier session, sharing /tmp, could have made a folder, file or link
    of a predictable name first. Only we can create entries in it (0711)."""
    root = tempfile.mkdtemp(prefix="grader-work-", dir="/tmp")
    os.chmod(root, 0o711)
    return root


def _shared_tmp_workdir(settings: dict, request: dict) -> str:
    """A work folder of this worker's own where /tmp is the machine's (no mount namespace, as in a
    Gradescope container): never another worker's leftovers, nor a folder another uid made first."""
    workdir = os.path.join(_SHARED_ROOT, str(_pid_seen_by_zygote()))
    shutil.rmtree(workdir, ignore_errors=True)
    os.mkdir(workdir, 0o700)
    if os.geteuid() == 0:
        uid = settings["uid_base"] + int(request["slot"])
        os.chown(workdir, uid, uid)
    return workdir


def _pid_seen_by_zygote() -> int:
    """Our pid in the zygote's pid namespace (the name it reaps us by), also when we are in one of our own."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("NSpid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return os.getpid()


def _close_all_but(*keep: int) -> None:
    """Close every inherited fd above 2 except ``keep``: the worker starts with nothing of ours."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _describe_status(status: int) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"code": os.waitstatus_to_exitcode(status)}


def _worker(sock_fd: int, out_fd: int, alive_fd: int, request: dict, settings: dict,
            probes: ProbeFile, prepared: dict, seccomp_program: bytes, in_pid_namespace: bool) -> None:
    active: dict[str, str] = {}
    try:
        layers.die_with_parent()  # a pid namespace hides our parent: the pipe closes the race
        if select.select([alive_fd], [], [], 0)[0]:
            os._exit(70)
        os.setsid()  # without a pid namespace, killing our process group kills what we started
        try:
            if not in_pid_namespace:
                raise OSError("no pid namespace")
            layers.unshare(layers.CLONE_NEWNS | layers.CLONE_NEWNET | layers.CLONE_NEWIPC | layers.CLONE_NEWUTS)
            active["namespaces"] = "mount, net, ipc, uts, pid"
        except OSError:
            child.WORKDIR = _shared_tmp_workdir(settings, request)
        sock_fd = _apply_layers(sock_fd, out_fd, alive_fd, request, settings, seccomp_program, active)
        sock = socket.socket(fileno=sock_fd)
    except BaseException:  # noqa: BLE001 - a worker that cannot be sandboxed must not run
        os._exit(71)
    try:
        child.serve(sock, probes, active, prepared)
    except BaseException as exc:  # noqa: BLE001 - the grader sees this as an early exit
        print(f"[grader worker stopped: {type(exc).__name__}]", file=sys.stderr, flush=True)
        os._exit(72)
    os._exit(0)


def _apply_layers(sock_fd: int, out_fd: int, alive_fd: int, request: dict, settings: dict,
                  seccomp_program: bytes, active: dict[str, str]) -> int:
    """Order matters: mounts and fds first, uid drop after opening Landlock paths, seccomp last.

    Returns the socket's new fd number (moved out of the student's reach).
    """
    limits = request["limits"]
    active["process"] = "forked worker, wall-clock deadline, whole-tree kill"
    if "namespaces" in active:
        try:
            layers.private_mounts(tmp_bytes=limits["tmp_bytes"], hide=settings["hide"],
                                  keep_readable=settings["readable"])
            active["mounts"] = "private /tmp and /proc, secrets covered"
        except OSError:
            pass
        active["network"] = "empty network namespace"
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    sock_fd = layers.move_fd_out_of_reach(sock_fd)  # before RLIMIT_NOFILE, which would forbid it
    _close_all_but(sock_fd, alive_fd)
    os.environ.clear()
    os.environ.update({"USER": "student", "LOGNAME": "student", "HOME": child.WORKDIR,
                       "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
                       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TMPDIR": "/tmp"})
    layers.set_rlimits(memory_bytes=limits["memory_bytes"], cpu_seconds=limits["cpu_seconds"],
                       file_bytes=limits["file_bytes"], open_files=64, processes=64)
    active["rlimits"] = (f"memory {limits['memory_bytes'] >> 20} MiB, cpu {limits['cpu_seconds']} s, "
                         f"file {limits['file_bytes'] >> 20} MiB, 64 fds, no core")
    try:
        abi = layers.landlock_restrict(read_only=settings["readable"] + ["/dev"], read_write=["/tmp", "/dev/null"])
        active["landlock"] = f"ABI {abi}: read-only system and interpreter, read-write /tmp" + (
            ", no TCP" if abi >= 4 else "")
        if abi >= 4:
            active.setdefault("network", "Landlock TCP denial")
    except (OSError, layers.LayerUnavailable):
        pass
    if os.geteuid() == 0:
        try:
            layers.drop_privileges(settings["uid_base"] + int(request["slot"]))
            active["uid"] = f"uid {os.getuid()}"
        except OSError:
            pass
    # Any uid or gid change (even a failed half-drop) clears the parent-death signal: ask again.
    layers.rearm_after_uid_drop(alive_fd)
    os.close(alive_fd)
    try:
        layers.load_seccomp_program(seccomp_program)
        active["seccomp"] = "no fork, exec, ptrace, mount, non-unix sockets"
        active.setdefault("network", "seccomp socket denial")
    except (OSError, layers.LayerUnavailable):
        pass
    if "landlock" in active or "uid" in active or "mounts" in active:
        active["secrets"] = "+".join(k for k in ("mounts", "landlock", "uid") if k in active)
    return sock_fd


if __name__ == "__main__":
    main()
