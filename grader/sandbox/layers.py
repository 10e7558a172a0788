"""Linux isolation primitives applied inside a sandboxed child, each one optional.

Every function raises ``OSError`` (or ``LayerUnavailable``) when the layer cannot be applied
on this machine; the caller records which layers took effect. Numbers and the order of
application come from measurements on the target machines (see docs/security.md).
"""
from __future__ import annotations

import ctypes
import errno
import os
import resource
import select
import signal
import socket
import struct

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_THREAD = 0x00010000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# Landlock syscall numbers are the same on x86_64 and aarch64.
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2


class LayerUnavailable(Exception):
    """This machine does not offer the layer (old kernel, missing library, no privilege)."""


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def own_pid_namespace() -> int | None:
    """An fd of our own pid namespace, to return to after each ``unshare(CLONE_NEWPID)`` (which only
    sets where our next child starts, once: a second unshare fails until we are back); None if absent."""
    try:
        return os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def enter_pid_namespace(fd: int) -> None:
    """Our next child starts in the pid namespace ``fd`` (``setns``; ours, from ``own_pid_namespace``)."""
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWPID)), "setns")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags),
                       encode(data)), f"mount {target}")


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def die_with_parent(parent: int | None = None) -> None:
    """Ask the kernel to SIGKILL us when our parent dies.

    The request is per process and the kernel forgets it whenever our uid or gid changes, so a
    process that drops privileges must call this again afterwards (see ``rearm_after_uid_drop``).
    ``parent`` is the pid our parent had when it forked us: if ``getppid()`` no longer returns it,
    the parent died before the request took effect (the race with fork) and we exit at once.
    """
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(70)


def rearm_after_uid_drop(parent_alive_fd: int) -> None:
    """Re-request the parent-death SIGKILL after ``drop_privileges`` cleared it, and close the race.

    A pid namespace's first process cannot see its parent (``getppid()`` is 0), so the parent keeps
    the write end of a pipe whose read end is ``parent_alive_fd``: it becomes readable (end of
    file) only when the parent is gone, possibly before the re-request took effect.
    """
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    readable, _, _ = select.select([parent_alive_fd], [], [], 0)
    if readable:
        os._exit(70)


def become_subreaper() -> None:
    """Orphaned descendants are reparented to us instead of PID 1 (which may reap them late)."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_rlimits(*, memory_bytes: int, cpu_seconds: int, file_bytes: int, open_files: int,
                processes: int) -> None:
    limits = {
        resource.RLIMIT_AS: (memory_bytes, memory_bytes),
        # soft < hard: SIGXCPU first, then SIGKILL one second later.
        resource.RLIMIT_CPU: (cpu_seconds, cpu_seconds + 1),
        resource.RLIMIT_FSIZE: (file_bytes, file_bytes),
        resource.RLIMIT_NOFILE: (open_files, open_files),
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_NPROC: (processes, processes),
    }
    for kind, (soft, hard) in limits.items():
        _, current_hard = resource.getrlimit(kind)
        if current_hard != resource.RLIM_INFINITY:  # hard limits can only go down
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(kind, (soft, hard))


def move_fd_out_of_reach(fd: int) -> int:
    """Move ``fd`` to a random number far above the fds the worker can open (RLIMIT_NOFILE is 64).

    Student code cannot find it by opening a few files or trying small numbers; a scan of
    ``/proc/self/fd`` still can, which ``grader.review`` flags.
    """
    ceiling = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 16)
    low = min(256, ceiling - 1)
    target = low + int.from_bytes(os.urandom(4), "big") % max(ceiling - low, 1)
    if target == fd:
        return fd
    os.dup2(fd, target, inheritable=False)
    os.close(fd)
    return target


def private_mounts(*, tmp_bytes: int, hide: list[str], keep_readable: list[str]) -> None:
    """In a fresh mount namespace: a private /tmp, /proc of our pid namespace, and secrets covered.

    ``keep_readable`` are paths under a hidden folder (e.g. the interpreter under /root) that must
    stay usable; they are opened before the folder is covered and bound back read-only.
    """
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode=1777")
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass  # without a pid namespace the host /proc stays; not a secret-bearing path
    for folder in hide:
        if not os.path.isdir(folder):
            continue
        inside = [path for path in keep_readable
                  if path == folder or path.startswith(folder.rstrip("/") + "/")]
        held = [(path, os.open(path, os.O_PATH)) for path in inside if os.path.exists(path)]
        mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=4096,mode=0755")
        for path, fd in held:
            os.makedirs(path, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
            os.close(fd)


def isolate_network_loopback_only() -> None:
    """A new network namespace has only a downed loopback: every connect fails."""
    unshare(CLONE_NEWNET)


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.geteuid() == 0 or os.getegid() == 0:
        raise OSError(errno.EPERM, "privilege drop did not take")


def landlock_abi() -> int:
    result = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                           ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    if result < 0:
        raise LayerUnavailable("Landlock is not supported by this kernel")
    return result


def landlock_restrict(*, read_only: list[str], read_write: list[str]) -> int:
    """Allow reads below ``read_only``, everything below ``read_write``, no TCP, no signals out.

    Returns the ABI used. Paths that do not exist are skipped.
    """
    abi = landlock_abi()
    fs_all = (1 << 13) - 1
    if abi >= 2:
        fs_all |= 1 << 13  # REFER
    if abi >= 3:
        fs_all |= _FS_TRUNCATE
    if abi >= 5:
        fs_all |= _FS_IOCTL_DEV
    file_rights = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | (fs_all & (_FS_TRUNCATE | _FS_IOCTL_DEV))
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("QQQ", fs_all, net, scoped)
    attr_size = 8 if abi < 4 else 16 if abi < 6 else 24
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(_libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, buffer, ctypes.c_size_t(attr_size),
                                   ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for paths, rights in ((read_only, _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR), (read_write, fs_all)):
            for path in paths:
                _landlock_allow(ruleset, path, rights, file_rights)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def _landlock_allow(ruleset: int, path: str, rights: int, file_rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= file_rights
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        _check(_libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset),
                             ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0)),
               f"landlock_add_rule {path}")
    finally:
        os.close(fd)


# Calls a graded submission never needs; denied with EPERM (clone3 with ENOSYS so that
# glibc falls back to clone, where thread creation is told apart from process creation).
SECCOMP_DENIED = (
    "fork", "vfork", "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
    "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key",
    "request_key", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups", "kexec_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "sethostname", "open_by_handle_at",
    # Anonymous memory files are not counted in RLIMIT_AS unless mapped: a worker could hold
    # gigabytes in them beyond its memory limit. Python, numpy and the worker never need one.
    "memfd_create", "memfd_secret",
)


def build_seccomp_program() -> bytes:
    """Compile the deny-list filter once (in the zygote); children only load the bytes."""
    try:
        import pyseccomp as seccomp
    except Exception as exc:  # library or libseccomp missing
        raise LayerUnavailable(f"seccomp library unavailable: {exc}") from None
    import tempfile

    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in SECCOMP_DENIED:
        try:
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):
            continue  # a call this architecture does not have
    rules.add_rule(seccomp.ERRNO(errno.EPERM), "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
    rules.add_rule(seccomp.ERRNO(errno.EPERM), "socketpair", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
    rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


class _SockFprog(ctypes.Structure):
    """``struct sock_fprog``; made once here (making a ctypes structure type in each worker cost 0.3 ms)."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def load_seccomp_program(program: bytes) -> None:
    if not program or len(program) % 8:
        raise LayerUnavailable("no seccomp program")
    code = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(code, ctypes.c_char_p))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    _check(_libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                       ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0)), "seccomp")
