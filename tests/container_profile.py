"""Run a command as Gradescope's container would: root, but no CAP_SYS_ADMIN and namespaces refused.

Docker's default profile refuses unshare/mount/setns and namespace flags on clone to a process
without CAP_SYS_ADMIN. This does the same with a seccomp filter, drops CAP_SYS_ADMIN from the
bounding set (so the exec'd command never has it), and with NO_LANDLOCK=1 also refuses the
Landlock calls (ENOSYS, as an older kernel or a stricter profile would). Usage:
``python container_profile.py COMMAND ARGS...``
"""
import ctypes
import errno
import os
import sys

import pyseccomp as seccomp

PR_CAPBSET_DROP, CAP_SYS_ADMIN = 24, 21
NAMESPACE_FLAGS = (0x00020000, 0x04000000, 0x08000000, 0x40000000, 0x20000000, 0x10000000, 0x02000000)


def enter() -> None:
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in ("unshare", "mount", "umount2", "setns", "pivot_root"):
        rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for flag in NAMESPACE_FLAGS:
        rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    if os.environ.get("NO_LANDLOCK"):
        for name in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
            rules.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
    rules.load()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop CAP_SYS_ADMIN")


if __name__ == "__main__":
    enter()
    os.execvp(sys.argv[1], sys.argv[1:])
