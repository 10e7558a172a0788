"""What a submission may import in the worker (``[packages] allowed`` in assignment.toml).

The standard library, numpy, the assignment's allowed packages and the submission's own package: any
other import made by student code fails at once, naming the module and what is allowed. It fails as a
``ModuleNotFoundError``, so ``try: import cupy / except ImportError`` (the book's own ``cuda.py``) goes
on as it does where CuPy is absent. Imports that allowed packages make themselves (matplotlib's
``dateutil``, pytest's ``pluggy``) are theirs, not the student's, and go through.

Nothing is imported ahead: an allowed package costs a submission nothing until it imports it. The
first import of matplotlib gets the non-GUI Agg backend (``plt.show()`` returns at once, silently) and
the font cache the zygote read once, so no worker scans the machine's fonts.

This module runs in the worker and in the portable runner's child: Python 3.9 and newer.
"""
from __future__ import annotations

import os
import sys
import sysconfig
import warnings
from typing import Callable

from grader.sandbox.watch import POLICY_EVENT

ALWAYS = ("numpy",)
# The kit's own modules are not the policy's business: the worker's run-time watch reports imports of them.
_KIT = ("grader", "grader_probes")
# importlib.util (frozen from 3.11): its find_spec asks "is it there?", answered "no", never raised at.
_UTIL = ("importlib.util>", os.sep + "util.py")


def stdlib_names() -> frozenset:
    """Top-level module names of this interpreter's standard library (``sys.stdlib_module_names`` from 3.10)."""
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return frozenset(names)
    found = set(sys.builtin_module_names)
    paths = sysconfig.get_paths()
    for folder in {paths["stdlib"], paths["platstdlib"], os.path.join(paths["platstdlib"], "lib-dynload")}:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            stem = entry.split(".")[0]
            if entry.endswith((".py", ".so", ".pyd")) or os.path.isfile(os.path.join(folder, entry, "__init__.py")):
                found.add(stem)
    found.discard("site-packages")
    return frozenset(found)


def trusted_folders(extra: tuple = ()) -> tuple:
    """Folders whose code is the interpreter's, an installed package's or the kit's, as path prefixes."""
    paths = sysconfig.get_paths()
    folders = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"],
               os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *extra}
    return tuple(sorted(os.path.abspath(folder).rstrip(os.sep) + os.sep for folder in folders if folder))


class ImportNotAllowed(ModuleNotFoundError):
    """An import student code may not make here. A ModuleNotFoundError to every ``except`` clause, and
    named like one in tracebacks and feedback: to the student it is a module that is not there."""


ImportNotAllowed.__name__ = ImportNotAllowed.__qualname__ = "ModuleNotFoundError"
ImportNotAllowed.__module__ = "builtins"


class Policy:
    """The import policy of one session, prepared in the zygote before any worker exists."""

    def __init__(self, allowed: tuple = (), font_cache: str | None = None, trusted: tuple = ()) -> None:
        self.allowed = tuple(allowed)
        self.names = stdlib_names() | frozenset(ALWAYS) | frozenset(self.allowed) | frozenset(_KIT)
        self.trusted = trusted_folders(trusted)
        self.font_cache = _read_font_cache(font_cache)
        self.shown = ", ".join(("numpy", "the standard library") + self.allowed)


def _read_font_cache(path: str | None) -> tuple | None:
    """(file name, bytes) of matplotlib's font list built for these workers, or None."""
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return os.path.basename(path), handle.read()
    except OSError:
        return None


class AllowedImports:
    """A meta path finder that refuses what the policy does not allow, when student code asks for it."""

    def __init__(self, policy: Policy, own: tuple, config_folder: str) -> None:
        self._names = policy.names | frozenset(own)
        self._trusted = policy.trusted + ("<frozen ",)
        self._shown = policy.shown
        self._first_use: dict[str, Callable[[], None]] = {
            "matplotlib": lambda: _prepare_matplotlib(policy.font_cache, config_folder)}
        importlib_folder = os.path.join(os.path.dirname(os.__file__), "importlib") + os.sep
        self._importlib = (importlib_folder, "<frozen importlib")

    def find_spec(self, fullname: str, path=None, target=None, _getframe=sys._getframe):
        top = fullname.partition(".")[0]
        if top in self._names:
            prepare = self._first_use.pop(top, None)
            if prepare is not None:
                prepare()
            return None
        frame = _getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith(self._importlib):
            if frame.f_code.co_name == "find_spec" and frame.f_code.co_filename.endswith(_UTIL):
                return None  # importlib.util.find_spec("cupy"): a question, answered "not here"
            frame = frame.f_back
        if frame is None or frame.f_code.co_filename.startswith(self._trusted):
            return None  # an installed package's own import (matplotlib's dateutil): not the student's
        raise ImportNotAllowed(f"'{fullname}' is not available for grading (a submission may import "
                               f"{self._shown})", name=fullname)


def install(policy: Policy | None, own: tuple, config_folder: str) -> None:
    """Put the policy in front of every other finder, before the first student line runs."""
    if policy is not None:
        finder = AllowedImports(policy, own, config_folder)
        sys.meta_path.insert(0, finder)
        sys.audit(POLICY_EVENT, finder)  # the run-time watch's reference to the finder


def _prepare_matplotlib(font_cache: tuple | None, config_folder: str) -> None:
    """Before matplotlib's first import: Agg, no "cannot show" warning, and the zygote's font list."""
    os.environ["MPLBACKEND"] = "agg"
    warnings.filterwarnings("ignore", message=r".*(non-interactive|non-GUI backend)", category=UserWarning)
    if font_cache is None:
        return
    name, data = font_cache
    try:
        os.makedirs(config_folder, exist_ok=True)
        with open(os.path.join(config_folder, name), "wb") as handle:
            handle.write(data)
        os.environ["MPLCONFIGDIR"] = config_folder
    except OSError:
        pass  # matplotlib then builds its own, as it would anywhere
