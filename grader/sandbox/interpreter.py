"""The workers' Python: which interpreter runs student code, what it has, and how the kit starts under it.

An assignment may choose the interpreter (``[workers] python = "3.12"``): the Python its students
write for, not necessarily the grader's own. The zygote, its workers and the probes then run under
that interpreter, with nothing of the grader's environment but the ``grader`` package itself (loaded
from its folder: the grader's site-packages hold modules compiled for another Python). What the
interpreter lacks (numpy, an allowed package) is said in one line when a session starts, with the
command that installs it.

This module runs under the grader's Python and, to describe itself, under the workers' (3.9+).
"""
from __future__ import annotations

import functools
import glob
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass

import grader
from grader.errors import GraderError

OLDEST = (3, 9)
# Starts a kit module's ``main`` under any interpreter: the ``grader`` package is loaded from its own
# folder (argv[1]), so no other module of the grader's environment is on the workers' path.
_BOOT = """import importlib.util, os, sys
del sys.path[0]  # "-c" puts the current folder first: a worker's own files are no modules of the kit's
folder = sys.argv.pop(1)
spec = importlib.util.spec_from_file_location("grader", os.path.join(folder, "__init__.py"),
                                              submodule_search_locations=[folder])
package = importlib.util.module_from_spec(spec)
sys.modules["grader"] = package
spec.loader.exec_module(package)
importlib.import_module(sys.argv.pop(1)).main({call})
"""


@dataclass(frozen=True)
class Runtime:
    """The interpreter workers run, and what student code may import there."""

    executable: str
    version: tuple[int, ...]
    numpy: str
    paths: tuple[str, ...]        # what workers must read: the interpreter, its stdlib and packages
    allowed: tuple[str, ...] = ()
    font_cache: str | None = None  # matplotlib's font list, built once for this interpreter

    @property
    def python(self) -> str:
        """"3.12": what students are told the grader runs."""
        return ".".join(map(str, self.version[:2]))


def command(executable: str, module: str, *args: str, with_argv: bool = False) -> list[str]:
    """The command that runs ``module.main()`` (or ``main(sys.argv[1:])``) of this kit under ``executable``."""
    boot = _BOOT.format(call="sys.argv[1:]" if with_argv else "")
    return [executable, "-s", "-c", boot, os.path.dirname(os.path.abspath(grader.__file__)), module, *args]


def find_python(wanted: str | None) -> str:
    """The interpreter ``[workers] python`` names: None (the grader's own), a path, or a version
    ("3.12", "3.12.1") found on PATH, in pyenv or in the usual folders. GraderError when absent."""
    if wanted is None:
        return sys.executable
    if "/" in wanted or "\\" in wanted:
        path = os.path.expanduser(wanted)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise GraderError(f"workers.python = '{wanted}': no such interpreter; install it or fix the path")
    if ".".join(map(str, sys.version_info[:len(wanted.split("."))])) == wanted:
        return sys.executable
    for candidate in _candidates(wanted):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise GraderError(f"workers.python = '{wanted}': no Python {wanted} on this machine (looked on PATH and in "
                      f"pyenv); install it, or choose an installed version")


def _candidates(version: str) -> list[str]:
    """Where Python ``version`` may be: pyenv's own folders (never its shims, which need pyenv's
    environment), then PATH, then the usual folders."""
    minor = ".".join(version.split(".")[:2])
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    pattern = os.path.join(root, "versions", f"{version}.*" if version == minor else version, "bin", f"python{minor}")
    found = sorted(glob.glob(pattern), key=_patch_level, reverse=True)
    if version == minor:
        found += [shutil.which(f"python{minor}") or "", f"/usr/local/bin/python{minor}", f"/usr/bin/python{minor}"]
    return [path for path in found if path and os.sep + "shims" + os.sep not in path]


def _patch_level(path: str) -> tuple:
    match = re.search(r"/versions/3\.\d+\.(\d+)/", path)
    return (int(match.group(1)),) if match else (-1,)


@functools.lru_cache(maxsize=1)
def installed_pythons() -> dict[int, str]:
    """{minor: interpreter} for every Python 3.9+ this machine has (the newest patch of each), and the grader's."""
    found = {sys.version_info[1]: sys.executable}
    for minor in range(OLDEST[1], 30):
        for candidate in _candidates(f"3.{minor}"):
            if minor not in found and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                found[minor] = candidate
    return dict(sorted(found.items()))


def syntax_needs(source: str, running: tuple) -> str | None:
    """The oldest installed Python newer than ``running`` that compiles ``source`` ("3.12"), or None.

    Asked only when the workers' Python could not parse a submission: one compile per newer version.
    """
    for minor, executable in installed_pythons().items():
        if minor > running[1] and _compiles(executable, source):
            return f"3.{minor}"
    return None


def _compiles(executable: str, source: str) -> bool:
    if executable == sys.executable:
        try:
            compile(source, "<submission>", "exec", dont_inherit=True)
            return True
        except (SyntaxError, ValueError):
            return False
    try:
        # -I -S: compiling needs no site packages, and starting without them takes a third less time
        done = subprocess.run([executable, "-I", "-S", "-c", "import sys; compile(sys.stdin.buffer.read(), 's', 'exec')"],
                              input=source.encode("utf-8", "replace"), capture_output=True, timeout=60,
                              env=_plain_environment())
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def describe_here(wanted: list[str]) -> dict:
    """This interpreter: version, numpy's version, paths workers read, and which of ``wanted`` it lacks."""
    from importlib import metadata

    def version_of(name: str) -> str | None:
        try:
            return metadata.version(name) if importlib.util.find_spec(name) is not None else None
        except (metadata.PackageNotFoundError, ImportError, ValueError):
            return None

    paths = sysconfig.get_paths()
    return {"version": list(sys.version_info[:3]), "numpy": version_of("numpy"),
            "matplotlib": version_of("matplotlib") if "matplotlib" in wanted else None,
            "missing": [name for name in ["numpy", *wanted] if importlib.util.find_spec(name) is None],
            "paths": sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, paths["stdlib"],
                             paths["platstdlib"], paths["purelib"], paths["platlib"]) if p and os.path.exists(p)})}


def main(argv: list[str]) -> None:
    """Run under the workers' interpreter (``command``): print ``describe_here`` as JSON."""
    print(json.dumps(describe_here(json.loads(argv[0]))))


@functools.lru_cache(maxsize=None)
def _describe(executable: str, wanted: tuple[str, ...]) -> dict:
    if executable == sys.executable:  # not by real path: a venv's python is a link to another environment's
        return describe_here(list(wanted))
    try:
        done = subprocess.run(command(executable, "grader.sandbox.interpreter", json.dumps(list(wanted)),
                                      with_argv=True),
                              capture_output=True, text=True, timeout=120, env=_plain_environment())
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        detail = (locals().get("done") and done.stderr.strip().splitlines()[-1:]) or ["it did not start"]
        raise GraderError(f"the workers' Python {executable} cannot run the grader's worker ({detail[0]}); it must be "
                          "Python 3.9 or newer") from None


def _plain_environment() -> dict:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def prepare(wanted_python: str | None, allowed: tuple[str, ...] = (), cache: str | None = None) -> Runtime:
    """The workers' runtime for a session: found, described, checked, with matplotlib's font list ready.

    GraderError, in one line naming what to install and how, when the interpreter is older than 3.9 or
    lacks numpy or an allowed package.
    """
    executable = find_python(wanted_python)
    facts = _describe(executable, tuple(allowed))
    version = tuple(facts["version"])
    shown = ".".join(map(str, version[:2]))
    if version[:2] < OLDEST:
        raise GraderError(f"the workers' Python {executable} is {shown}; the worker needs Python 3.9 or newer")
    if facts["missing"]:
        names = " ".join(dict.fromkeys(_distribution(name) for name in facts["missing"]))
        raise GraderError(f"the workers' Python {shown} ({executable}) lacks {', '.join(facts['missing'])}, which "
                          f"the assignment's workers import: install with {executable} -m pip install {names}")
    font_cache = _font_cache(executable, version, facts.get("matplotlib"), cache) if "matplotlib" in allowed else None
    return Runtime(executable=executable, version=version, numpy=facts["numpy"] or "?", paths=tuple(facts["paths"]),
                   allowed=tuple(allowed), font_cache=font_cache)


# Import names whose distribution is named otherwise (what `pip install` needs).
_DISTRIBUTIONS = {"PIL": "Pillow", "mpl_toolkits": "matplotlib", "sklearn": "scikit-learn", "yaml": "pyyaml"}


def _distribution(name: str) -> str:
    return _DISTRIBUTIONS.get(name, name)


def _font_cache(executable: str, version: tuple, matplotlib: str | None, cache: str | None) -> str | None:
    """matplotlib's font list for this interpreter, built once per machine (a worker building its own
    scans every font on the machine: a second or more, for every submission that imports matplotlib)."""
    if matplotlib is None:
        return None
    folder = os.path.join(cache or _cache_root(), f"python{version[0]}.{version[1]}-matplotlib-{matplotlib}")
    built = sorted(glob.glob(os.path.join(folder, "fontlist-*.json")))
    if not built:
        try:
            os.makedirs(folder, exist_ok=True)
            subprocess.run([executable, "-s", "-c", "import matplotlib.font_manager"], capture_output=True, timeout=900,
                           env={**_plain_environment(), "MPLCONFIGDIR": folder, "MPLBACKEND": "agg"})
        except (OSError, subprocess.TimeoutExpired):
            return None
        built = sorted(glob.glob(os.path.join(folder, "fontlist-*.json")))
    return built[-1] if built else None


def _cache_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.environ.get("LOCALAPPDATA") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dezero-autograder")
