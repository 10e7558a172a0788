"""The book's own published code (oreilly-japan/deep-learning-from-scratch-3), read from a local git copy.

The kit never ships or commits the book's code. Tests that grade it read it from a clone on the
machine: ``$DEZERO_BOOK_GIT`` (a git directory or a checkout of the book's repository), else the
copy this machine's repository mirror keeps. Where neither exists, those tests are skipped with a
line that says how to enable them.
"""
from __future__ import annotations

import functools
import io
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

_MIRROR = Path("/work/.mirror/oreilly-japan+deep-learning-from-scratch-3/repo")
REPO_FOLDER = "deep-learning-from-scratch-3-master"  # the folder GitHub's "Download ZIP" holds


def _git(where: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", f"--git-dir={where / '.git'}" if (where / ".git").exists() else
                               f"--git-dir={where}", *args], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def book_git() -> Path | None:
    """The book's git directory (or checkout), or None when this machine has none."""
    for candidate in (os.environ.get("DEZERO_BOOK_GIT"), _MIRROR):
        if candidate and Path(candidate).exists() and _git(Path(candidate), "rev-parse", "HEAD") is not None:
            return Path(candidate)
    return None


requires_book = pytest.mark.skipif(
    book_git() is None,
    reason="the book's repository is not on this machine: set DEZERO_BOOK_GIT to a clone of "
           "oreilly-japan/deep-learning-from-scratch-3 to grade its own code")


def book_file(path: str) -> bytes:
    """One file of the book's repository at its newest commit, e.g. ``steps/step33.py``."""
    where = book_git()
    data = _git(where, "show", f"HEAD:{path}") if where else None
    if data is None:
        raise FileNotFoundError(f"the book's repository has no {path}")
    return data


def book_paths(folder: str) -> list[str]:
    """Every file below ``folder`` (e.g. ``dezero``) in the book's repository."""
    listing = _git(book_git(), "ls-tree", "-r", "--name-only", "HEAD", folder) or b""
    return [line for line in listing.decode().splitlines() if line]


def book_package_files(prefix: str = REPO_FOLDER + "/") -> dict[str, bytes]:
    """The complete ``dezero/`` folder as the book's repository ships it, below ``prefix``."""
    return {prefix + path: book_file(path) for path in book_paths("dezero")}


def book_zip(path: Path, steps: tuple[int, ...] = (), prefix: str = REPO_FOLDER + "/") -> Path:
    """A zip of the book's ``dezero/`` (and ``steps/stepNN.py`` for each of ``steps``), as a student
    who downloaded the repository would hand it in."""
    files = book_package_files(prefix)
    for number in steps:
        files[f"{prefix}steps/step{number:02d}.py"] = book_file(f"steps/step{number:02d}.py")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path
