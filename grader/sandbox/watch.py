"""The worker's run-time watch: an audit hook (PEP 578) that reports what student code does.

The review flag's text scan misses code it cannot read (``getattr(builtins, "ex" + "ec")(bytes.fromhex(...))``
runs a frame walk it never sees). ``child.serve`` therefore installs this hook before the first student line
runs. Python has no way to remove an audit hook, and the hook runs before the operation it is told about, so
each sign it finds is sent to the grader at once, through the dispatcher's private channel and with the
worker's nonce: nothing the student's code does afterwards can recall it, and a sign without the nonce is
not the worker's (the trusted side drops it and counts it as forged).

A sign is raised only by code the student wrote or built at run time (a frame whose file is not the
interpreter's, an installed package's or the kit's), for the operation itself, not for what a library
does on its behalf: ``collections.namedtuple`` calls ``sys._getframe`` and ``dataclasses`` calls ``exec``
for every honest submission that uses them. Functions whose purpose is to hand out frames
(``inspect``'s, ``logging.currentframe``, ``traceback.walk_stack``) are looked through to their caller.

Everything the hook uses is bound when it is made (default arguments), and it never calls a method of
an object the event carries (a student's ``__str__`` would run inside it).
"""
from __future__ import annotations

import functools
import os
import re
import sys
import _thread
from typing import Callable

# Raised by grader.sandbox.imports with the import policy's finder, before any student line runs: the hook
# keeps the first one it is told of (a later one is the student's), and an import student code makes
# while that finder is not on sys.meta_path is a sign.
POLICY_EVENT = "grader.import_policy"
# Event -> kind of sign (the kinds of grader.review, so one sentence covers both scans).
_EVENTS = {
    "compile": "exec", "exec": "exec",
    "sys._getframe": "frames", "sys._current_frames": "frames", "sys._current_exceptions": "frames",
    "sys.settrace": "frames", "sys.setprofile": "frames", "sys._settraceallthreads": "frames",
    "sys._setprofileallthreads": "frames", "sys.monitoring.register_callback": "frames",
    "object.__getattr__": "frames",   # refined by attribute name below
    "gc.get_objects": "gc", "gc.get_referrers": "gc", "gc.get_referents": "gc",
    "function.__new__": "code_objects", "code.__new__": "code_objects", "object.__setattr__": "code_objects",
    "import": "kit", "sys.addaudithook": "hooks", POLICY_EVENT: "hooks",
    "socket.__new__": "raw_io", "open": "raw_io", "os.listdir": "raw_io", "os.scandir": "raw_io",
    **{f"ctypes.{name}": "ctypes" for name in (
        "dlopen", "dlsym", "dlsym/handle", "addressof", "call_function", "cdata", "cdata/buffer",
        "create_string_buffer", "create_unicode_buffer", "string_at", "wstring_at", "PyObj_FromPtr",
        "get_errno", "set_errno", "get_last_error", "set_last_error", "set_exception", "seh_exception")},
}
_ATTRIBUTES = {"tb_frame": "frames", "gi_frame": "frames", "cr_frame": "frames", "ag_frame": "frames",
               "f_code": "frames", "__code__": "code_objects", "gi_code": "code_objects",
               "cr_code": "code_objects", "ag_code": "code_objects"}
_FUNCTION_PARTS = ("__code__", "__defaults__", "__kwdefaults__", "__globals__", "__closure__")
_KIT_MODULES = ("grader", "grader_probes")
_RAW_PATHS = re.compile(r"/proc/(?:self|thread-self|\d+)/(?:fd|fdinfo|mem|maps|task)\b")
MAX_PLACES = 8  # places sent per kind: flooding one kind (40 evals) must not silence another (the gc walk)


@functools.lru_cache(maxsize=None)
def kit_folder() -> str:
    import grader

    return os.path.dirname(os.path.abspath(grader.__file__))


@functools.lru_cache(maxsize=None)
def trusted_roots() -> tuple[str, ...]:
    """Folders whose code is the interpreter's, an installed package's or the kit's (found once, in the zygote)."""
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {os.path.dirname(os.__file__), paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"],
             kit_folder()}
    return tuple(sorted(root for root in roots if root))


def install(report: Callable[[dict], None], workdir: str, labels: tuple[str, ...], probes_file: str | None) -> None:
    """Add the hook; ``report(sign)`` sends ``{"kind", "file", "line", "cell"}`` to the grader.

    ``labels`` are the file names a single-file submission's code carries (``submission.py``).
    Call it through ``grader.binding.private_copies``: the hook then reads private builtins too.
    """
    sys.addaudithook(make_hook(report, workdir, labels, probes_file))


def make_hook(report: Callable[[dict], None], workdir: str, labels: tuple[str, ...], probes_file: str | None = None):
    kit = kit_folder() + os.sep
    kit_files = frozenset([os.path.abspath(probes_file)] if probes_file else [])
    roots = [*trusted_roots(), *kit_files]
    stdlib = os.path.dirname(os.__file__)
    looked_through = {os.path.join(stdlib, "inspect.py"): None,  # None: every function of the file
                      os.path.join(stdlib, "logging", "__init__.py"): ("currentframe",),
                      os.path.join(stdlib, "traceback.py"): ("walk_stack", "walk_tb")}
    ctypes_folder = os.path.join(stdlib, "ctypes") + os.sep
    importlib_init = os.path.join(stdlib, "importlib", "__init__.py")
    prefixes = tuple(root.rstrip(os.sep) + os.sep for root in roots) + ("<frozen ",)
    files = frozenset(roots)
    workdir = workdir.rstrip(os.sep) + os.sep
    labels = frozenset(labels)
    origins: dict[int, bool] = {}  # id of an import hook -> whether its code is the student's
    policy: list = []  # the import policy's finder, as the kit announced it
    sent: set = set()
    per_kind: dict[str, int] = {}
    busy: set = set()
    meta_path, path_hooks = sys.meta_path, sys.path_hooks
    mro_of, dict_of = type.__dict__["__mro__"].__get__, type.__dict__["__dict__"].__get__
    function, wrappers = type(make_hook), (classmethod, staticmethod)

    # Every name below is checked to be an exact str before it is hashed or compared: a code object's
    # file name or an event's argument can be a str subclass whose __hash__ is the student's.
    def trusted(name) -> bool:
        if type(name) is not str or name in labels or name.startswith(workdir):
            return False
        return name in files or name.startswith(prefixes)

    def where(frame) -> tuple:
        """(file, line, cell) of the innermost frame of a submission file, walking outward from ``frame``."""
        while frame is not None:
            name = frame.f_code.co_filename
            if type(name) is str:
                if name in labels:
                    return None, frame.f_lineno, None
                if name.startswith("<cell ") and name.endswith(">") and name[6:-1].isdigit():
                    return None, frame.f_lineno, int(name[6:-1])
                if name.startswith(workdir) and len(name) < 300:
                    return name[len(workdir):], frame.f_lineno, None
            frame = frame.f_back
        return None, None, None

    def caller(frame, skip_ctypes: bool):
        """The frame that asked for the operation: the event's caller, looking through frame-handing tools."""
        while frame is not None:
            code = frame.f_code
            name = code.co_filename
            if type(name) is not str:
                return frame
            through = looked_through.get(name, ())
            if through is None or code.co_name in through or (skip_ctypes and name.startswith(ctypes_folder)):
                frame = frame.f_back
                continue
            return frame
        return None

    def blame(frame):
        """``frame`` when its code is not trusted, else None."""
        return frame if frame is not None and not trusted(frame.f_code.co_filename) else None

    def past_imports(frame):
        """The first frame outside the import machinery (importlib's, frozen or not)."""
        while frame is not None:
            name = frame.f_code.co_filename
            if type(name) is not str or not (name.startswith("<frozen importlib") or name == importlib_init):
                return frame
            frame = frame.f_back
        return None

    def untrusted_on_stack(frame):
        while frame is not None:
            if not trusted(frame.f_code.co_filename):
                return frame
            frame = frame.f_back
        return None

    def students_code(entry, names: tuple[str, ...]) -> bool:
        """Whether an import hook (a function, class or instance) runs code the student wrote.

        Reads class dictionaries directly: a student's class could answer ``getattr`` with code.
        """
        key = id(entry)
        if key not in origins:
            target = entry
            if type(entry) is not function:
                cls = entry if issubclass(type(entry), type) else type(entry)
                target = None
                for klass in mro_of(cls):
                    raw = dict_of(klass).get(names[0]) or dict_of(klass).get(names[1])
                    if raw is not None:
                        target = raw.__func__ if type(raw) in wrappers else raw
                        break
            origins[key] = type(target) is function and not trusted(target.__code__.co_filename)
        return origins[key]

    def judge(event: str, kind: str, args: tuple, frame):
        """The frame to blame for this event, or None when it is not a sign."""
        first = args[0] if args else None
        if event == POLICY_EVENT:
            if policy:
                return kind, untrusted_on_stack(frame) or frame  # announced twice: not by the kit
            policy.append(first)
            return kind, None
        if event == "import":
            finders = args[3] if len(args) > 3 else None  # None when an extension module found earlier loads
            if policy and type(finders) is list and not any(f is policy[0] for f in finders):
                return "hooks", untrusted_on_stack(frame)  # the policy taken away (compared by identity only)
            if any(students_code(f, ("find_spec", "find_module")) for f in meta_path) or any(
                    students_code(f, ("__init__", "__call__")) for f in path_hooks):
                return "hooks", untrusted_on_stack(frame) or frame
            if type(first) is str and first.partition(".")[0] in ("grader", "grader_probes"):
                return kind, untrusted_on_stack(frame) or frame  # the kit is gone from sys.modules: a real import
            return kind, None
        if event in ("open", "os.listdir", "os.scandir"):
            path = first.decode("utf-8", "replace") if type(first) is bytes else first
            if type(path) is not str:
                return kind, None
            if path.startswith(kit) or path in kit_files:
                # importlib.import_module raises no "import" event: the kit's files being read is the sign.
                # Read by linecache (a warning or traceback naming a kit frame) it is none.
                return "kit", blame(past_imports(frame))
            return kind, untrusted_on_stack(frame) if _RAW_PATHS.search(path) else None
        if event == "compile" and len(args) > 1 and type(args[1]) is str and args[1].startswith("<frozen "):
            return kind, untrusted_on_stack(frame)  # code made to look like the interpreter's own
        if event == "object.__setattr__" and not (len(args) > 1 and type(args[1]) is str
                                                 and args[1] in _FUNCTION_PARTS):
            return kind, None
        return kind, blame(caller(frame, kind == "ctypes"))

    def hook(event, args, _events=_EVENTS, _attributes=_ATTRIBUTES, _ident=_thread.get_ident,
             _getframe=sys._getframe, _report=report):
        if type(event) is not str:  # sys.audit() can be called with any str subclass
            return
        kind = _events.get(event)
        if kind is None:
            return
        if event == "object.__getattr__":
            name = args[1] if len(args) > 1 else None
            kind = _attributes.get(name) if type(name) is str else None
            if kind is None:
                return
        thread = _ident()
        if thread in busy:
            return  # an event raised by this hook's own work
        busy.add(thread)
        try:
            kind, blamed = judge(event, kind, args, _getframe(1))
            if blamed is None:
                return
            file, line, cell = where(blamed)
            key = (kind, file, line, cell)
            if key in sent or per_kind.get(kind, 0) >= MAX_PLACES:
                return
            sent.add(key)
            per_kind[kind] = per_kind.get(kind, 0) + 1
            _report({"kind": kind, "file": file, "line": line, "cell": cell})
        except BaseException:  # noqa: BLE001 - a hook that raises would abort the student's operation
            pass
        finally:
            busy.discard(thread)

    return hook
