"""Reading student bytes from disk and zips without trusting them.

Shared by ``submission`` (one student) and ``lms.layouts`` (a class): links and special files are
never followed or opened, every read is bounded by what the caller allows (not by what a zip
header claims), and a damaged or refused file becomes an ``Unread`` marker carrying that
student's ``SubmissionError`` instead of an exception that would stop a whole class.
"""
from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from grader.errors import SubmissionError


class Unread(bytes):
    """Stands in for a file the grader refused or failed to read.

    A ``bytes`` subclass so it travels in the same ``{name: bytes}`` maps as real files, yet no
    file's contents can ever be mistaken for one. ``fatal`` problems (a link, a damaged zip)
    make the whole submission an error; others (too large) only matter if the file is chosen.
    """

    problem: SubmissionError
    fatal: bool

    def __new__(cls, problem: SubmissionError, fatal: bool = True) -> "Unread":
        marker = super().__new__(cls, b"")
        marker.problem, marker.fatal = problem, fatal
        return marker


def walk(folder: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every non-directory below ``folder`` as (POSIX relative path, path, lstat), sorted.

    Iterative, so a deep tree cannot exhaust the stack; symlinked folders are listed as links,
    never entered. Names that are not valid UTF-8 are shown with ``\\xNN`` escapes (distinct,
    and safe to hash, print and write into JSON); the path keeps the real bytes for reading.
    """
    stack = [(Path(folder), "")]
    found = []
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                relative = f"{prefix}{_printable(entry.name)}"
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listing
                if stat.S_ISDIR(info.st_mode):
                    stack.append((Path(entry.path), relative + "/"))
                else:
                    found.append((relative, Path(entry.path), info))
    return iter(sorted(found, key=lambda item: item[0]))


def _printable(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


# Windows has none of the last three (a link there was already refused by the lstat above);
# O_BINARY is Windows-only and keeps its CRT from translating line ends.
_READ_FLAGS = os.O_RDONLY | sum(getattr(os, flag, 0) for flag in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_BINARY"))


def read_regular(path: Path, cap: int, label: str, info: os.stat_result | None = None) -> bytes:
    """The bytes of a regular file of at most ``cap`` bytes, never through a link.

    ``O_NOFOLLOW`` plus ``fstat`` on the opened descriptor: a file swapped for a link or a FIFO
    between listing and reading is refused too, and a device or FIFO is never read.
    """
    info = info or os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise not_regular(label, info)
    try:
        handle = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: it became a link
            raise SubmissionError("symlink", file=label) from None
        raise
    with os.fdopen(handle, "rb") as stream:
        opened = os.fstat(stream.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise not_regular(label, opened)
        if opened.st_size > cap:
            raise SubmissionError("too_large", file=label, mib=max(1, cap >> 20))
        data = stream.read(cap + 1)  # bounded even if the file grows while it is read
    if len(data) > cap:
        raise SubmissionError("too_large", file=label, mib=max(1, cap >> 20))
    return data


def not_regular(label: str, info: os.stat_result) -> SubmissionError:
    return SubmissionError("symlink" if stat.S_ISLNK(info.st_mode) else "special_file", file=label)


def read_zip(archive: zipfile.ZipFile, label: str, *, file_cap: int, total_cap: int,
             skip: Callable[[str], bool]) -> dict[str, bytes]:
    """Members of an open zip, each read with a bounded read; problems become ``Unread`` markers.

    The header sizes are checked first (cheap), then every read is capped by the bytes still
    allowed, so a header that lies about sizes cannot make the grader hold more than
    ``total_cap``. Raises SubmissionError only when the zip as a whole is too large.
    """
    try:
        infos = [i for i in archive.infolist() if not i.is_dir() and not skip(i.filename)]
    except Exception:  # noqa: BLE001 - any failure to list a student's zip is that zip's problem
        raise SubmissionError("bad_zip", file=label) from None
    if sum(max(i.file_size, 0) for i in infos) > total_cap:
        raise SubmissionError("zip_too_large", file=label, mib=max(1, total_cap >> 20))
    files: dict[str, bytes] = {}
    left = total_cap
    for info in infos:
        where = f"{label} ({info.filename})"
        if info.file_size > file_cap:
            files[info.filename] = Unread(SubmissionError("too_large", file=where, mib=max(1, file_cap >> 20)),
                                          fatal=False)
            continue
        try:
            with archive.open(info) as member:
                data = member.read(min(file_cap, left) + 1)
        except Exception:  # noqa: BLE001 - zlib.error, bad CRC, encryption, unknown method...
            files[info.filename] = Unread(SubmissionError("damaged_zip", file=where))
            continue
        if len(data) > min(file_cap, left):
            raise SubmissionError("zip_too_large", file=label, mib=max(1, total_cap >> 20))
        left -= len(data)
        files[info.filename] = data
    return files


def first_problem(files: dict[str, bytes]) -> SubmissionError | None:
    """The problem of the first fatal ``Unread`` marker, by name, if any."""
    return next((files[n].problem for n in sorted(files) if isinstance(files[n], Unread) and files[n].fatal), None)
