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


# Run in a child process (no sandbox; the book's code is trusted here): import the book's package from a
# folder, gather one namespace from the given modules' public names, earlier modules winning a clash (as
# the worker does for [load] modules), and run every public and hidden test of the assignment with its
# probes on that namespace against the reference. Prints the failed tests and what the asked names are.
_THROUGH_MODULES = """
import importlib, json, sys, types
from pathlib import Path

package, root, assignment_id, modules, names = sys.argv[1], Path(sys.argv[2]), sys.argv[3], \\
    json.loads(sys.argv[4]), json.loads(sys.argv[5])
sys.path.insert(0, package)
import matplotlib
matplotlib.use("Agg")
from grader import wire
from grader.assignment import load_assignment
from grader.handles import ReferenceHandle, load_module

assignment = load_assignment(assignment_id, repo_root=root)
namespace = types.ModuleType("dezero_namespace")
for name in reversed(modules):
    for key, value in vars(importlib.import_module(name)).items():
        if not key.startswith("_"):
            setattr(namespace, key, value)
probes = load_module(assignment.probes, "book_probes").PROBES
reference = ReferenceHandle.for_assignment(assignment)


class Book:
    def probe(self, name, **args):
        args = wire.decode_value(json.loads(json.dumps(wire.encode_value(args))))
        return wire.decode_value(json.loads(json.dumps(wire.encode_value(probes[name](namespace, **args)))))


failed = []
for folder in (assignment.public_tests, assignment.hidden_tests):
    for path in sorted(folder.glob("test_*.py")):
        tests = load_module(path, "book_" + path.stem)
        for name in sorted(n for n in dir(tests) if n.startswith("test_")):
            try:
                getattr(tests, name)(Book(), reference)
            except Exception as exc:
                failed.append(name)
found = {name: (getattr(getattr(namespace, name), "__module__", None)) for name in names}
print(json.dumps({"failed": failed, "modules": found}))
"""


def through_modules(assignment_id: str, modules: list[str], names: list[str], folder: Path,
                    kit: Path) -> dict:
    """The book's ``dezero/`` (written below ``folder``) seen through ``modules`` as one namespace:
    ``{"failed": [test names], "modules": {name: the module that defines what the namespace calls name}}``."""
    import json
    import sys

    for path, data in book_package_files(prefix="").items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    done = subprocess.run([sys.executable, "-c", _THROUGH_MODULES, str(folder), str(kit), assignment_id,
                           json.dumps(modules), json.dumps(names)], capture_output=True, text=True, timeout=600,
                          cwd=folder)
    if done.returncode != 0:
        raise AssertionError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])
