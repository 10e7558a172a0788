"""The sandboxed side: runs inside the forked child, after every layer is in place.

It receives the student's source as data, executes it as the module ``submission``, then
answers probe requests. Everything it sends back is plain data (see ``grader.wire``).

``serve`` runs the functions below as private copies made before the first student line (see
``grader.binding.private_copies``; the zygote makes them once, ``prepare``): a function here that
assigned a module global would write the copy's namespace, not this module's, so they keep no
module-level state. The settings here (``WORKDIR``, ``IMPORTS``) are set by the zygote or the portable
runner and read from the copies' snapshot (``serve`` hands a worker's own ``WORKDIR`` to it before any
student line): a student who reaches this module and changes ``IMPORTS`` changes nothing the worker
does (the import policy is installed from the snapshot).
The package loader's finder and loader are classes, whose methods would read this module's live
globals: they are handed the copies' functions instead.
"""
from __future__ import annotations

import _thread
import importlib
import importlib.machinery
import os
import re
import sys
import traceback
import types
from typing import Any, Callable

from grader import wire
from grader.binding import ProbeFile, file_chains, private_copies
from grader.sandbox import imports, watch

WORKDIR = "/tmp/work"
SUBMISSION_FILE = "submission.py"
IMPORTS: imports.Policy | None = None  # the session's import policy, set by the zygote before any fork


def prepare() -> dict[str, Any]:
    """The private copies ``serve`` runs (see there), over this module's settings as they are now.

    The zygote makes them once, before any worker exists, so each worker inherits them as made, with
    no student line run since (making them in every worker cost about 1 ms of its life). The one
    setting a worker may change afterwards, ``WORKDIR``, is handed to the copies by ``serve``.
    """
    # The loaders run after student lines too (the next cell, the package's module after its __init__).
    own: dict[str, Any] = private_copies(sys.modules[__name__], ["_private_channel", "answer_requests",
                                                                 "load_package", "load_submission", "_flush_output"])
    own["install_watch"] = private_copies(watch, ["install"])["install"]
    own["wire"] = private_copies(wire, ["frame", "parse_message"])
    return own


def serve(sock, probes: ProbeFile, layers: dict[str, str], prepared: dict[str, Any] | None = None) -> None:
    """Load the submission, report readiness, then answer probes until the socket closes.

    Student code runs in this process and could replace ``answer_probe``, ``grader.wire``'s
    functions, the socket's methods or the tools a probe measures with, to forge answers. So before
    the first student line runs: the dispatcher and the channel are private copies whose tools are
    bound (``grader.binding``), held only in this frame's locals; the probes were bound when the
    zygote loaded them; the kit's modules leave ``sys.modules`` (importing one again is a fresh copy,
    and a sign); and the run-time watch (``watch``) is installed, sending each sign it sees at once.
    Patching module-level names afterwards changes nothing that is sent. (Reaching into this frame
    or the raw fd is still possible; the watch and the text scan flag submissions that try.)

    ``prepared``: what ``prepare`` made in the zygote; made here when not given (the portable runner).
    """
    own = prepared if prepared is not None else prepare()
    own["load_submission"].__globals__["WORKDIR"] = WORKDIR  # this worker's, set after the copies were made
    send, receive = own["_private_channel"](sock, own["wire"])
    install_watch = own["install_watch"]
    del sock, prepared
    request = receive()
    if not request or request.get("op") != "load":
        os._exit(0)
    # The grader's per-worker secret: every message this loop sends carries it, so a reply written
    # to the socket by other means (student code on the raw fd) is told apart and dropped.
    tag = request.pop("nonce", None)
    setup = [str(name) for name in request.get("setup") or []]
    install_watch(lambda sign: send({"event": "sign", **sign, "tag": tag}), WORKDIR, (SUBMISSION_FILE,),
                  getattr(probes.module, "__file__", None))
    _forget_kit_modules()
    if isinstance(request.get("package"), dict):  # the book's package shape (see load_package)
        module, load_report = own["load_package"](request["package"], setup)
    else:
        module, load_report = own["load_submission"](request.get("cells") or [], request.get("notebook", False),
                                                      setup)
    own["_flush_output"]()  # output printed while loading belongs before "ready" in the report
    send({"event": "ready", "layers": layers, **load_report, "tag": tag})
    own["answer_requests"](send, receive, module, probes, tag)


def answer_requests(send, receive, module: types.ModuleType, probes: ProbeFile, tag) -> None:
    """Answer probe requests until the socket closes (run as a private copy, see ``serve``).

    After every probe the probe file's state is checked: student code handed a probe's function or
    class can reach its globals; if anything changed, that answer is replaced by an error, the state
    is restored for the next probe, and the grader gets a sign.
    """
    functions, intact, restore = probes.functions, probes.guard.intact, probes.guard.restore
    while True:
        request = receive()
        if request is None:
            os._exit(0)
        reply = answer_probe(module, functions, request)
        if not intact():
            restore()
            send({"event": "sign", "kind": "probe_state", "file": None, "line": None, "cell": None, "tag": tag})
            reply = {"id": reply.get("id"), "ok": False,
                     "error": {"type": "BadResult", "message": "the probe's own code was changed while it ran"}}
        _flush_output()
        try:
            send({**reply, "tag": tag})
        except wire.WireError as exc:  # unsendable value or too large: report it as data
            send({"id": reply.get("id"), "ok": False, "error": {"type": "BadResult", "message": str(exc)},
                  "tag": tag})


def _forget_kit_modules() -> None:
    """Take the kit's modules out of ``sys.modules`` (and the zygote's ``__main__``) before student code runs.

    Everything the worker still needs holds them directly; student code that imports ``grader``
    now gets a fresh copy nobody uses, and the import is an audit event the watch reports.
    """
    for name in [name for name in sys.modules if name.partition(".")[0] in ("grader", "grader_probes")]:
        del sys.modules[name]
    sys.modules["__main__"] = types.ModuleType("__main__")


def _private_channel(sock, copies: dict) -> tuple[Callable[[dict], None], Callable[[], dict | None]]:
    """Send and receive closures over the socket's bound methods and private copies of the wire code.

    ``send`` is also the run-time watch's, from whichever thread raised an event: a lock keeps frames
    whole. A send re-entered on the same thread (a signal handler running during ``sendall``) is
    queued and written right after the one it interrupted.
    """
    frame, parse = copies["frame"], copies["parse_message"]
    sendall, recv = sock.sendall, sock.recv
    header, limit, error = wire._HEADER, wire.MAX_MESSAGE_BYTES, wire.WireError
    lock, ident, owner, queued = _thread.allocate_lock(), _thread.get_ident, [None], []

    def exactly(size: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = recv(size - len(chunks))
            if not chunk:
                return None
            chunks.extend(chunk)
        return bytes(chunks)

    def receive() -> dict | None:
        head = exactly(header.size)
        if head is None:
            return None
        (length,) = header.unpack(head)
        if length > limit:
            raise error("request too large")
        payload = exactly(length)
        return None if payload is None else parse(payload)

    def send(message: dict) -> None:
        data = frame(message)
        if owner[0] == ident():
            queued.append(data)
            return
        with lock:
            owner[0] = ident()
            try:
                sendall(data)
                while queued:
                    sendall(queued.pop(0))
            finally:
                owner[0] = None

    return send, receive


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a student may have replaced or closed them
            pass


def load_submission(cells: list[str], notebook: bool, setup: list[str] = ()) -> tuple[types.ModuleType, dict]:
    """Execute the code as module ``submission``, then call its ``setup`` functions (see ``_call_setup``).

    A ``.py`` file is one cell: its first error stops the load, as ``import`` would, but what it
    defined before that error stays in the module (the trusted side decides whether to grade it).
    A notebook runs cell by cell like Jupyter's "run all, continue on error", so a broken demo
    cell does not hide the definitions around it.
    """
    _enter_workdir((), SUBMISSION_FILE)
    path = os.path.join(WORKDIR, SUBMISSION_FILE)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(cells))
    module = types.ModuleType("submission")
    module.__file__ = path
    sys.modules["submission"] = module
    errors = []
    for number, source in enumerate(cells, start=1):
        error = _run_cell(module, source, number if notebook else None)
        if error is not None:
            errors.append(error)
            if not notebook:
                break
    errors += _call_setup(module, setup)
    return module, {"load_errors": errors, "defined": _own_definitions(module, module.__name__)}


def load_package(package: dict, setup: list[str] = ()) -> tuple[types.ModuleType, dict]:
    """Write the package's files below WORKDIR and import it as ``import dezero`` would (its
    ``__init__`` runs first), then each of its ``modules``: the probes get one namespace of their
    public names, an earlier module winning a clash (``_namespace``), and its ``setup`` is called.

    Every module of the package loads as leniently as a .py does: one that raises keeps what it
    defined before the error and stays importable, whatever imported it goes on, and the error names
    that module's own file and line (``_LenientFinder``), not the import line in ``__init__.py``.
    """
    name = str(package.get("name") or "")
    modules = [str(m) for m in package.get("modules") or [name]]
    _enter_workdir((name,), f"{name}/__init__.py")
    for relative, source in (package.get("files") or {}).items():
        if not _IMPORTABLE.match(str(relative)):  # checked by the trusted side too: never write outside WORKDIR
            continue
        path = os.path.join(WORKDIR, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(str(source))
    sys.dont_write_bytecode = True
    sys.path.insert(0, WORKDIR)
    errors: list = []
    sys.meta_path.insert(0, _LenientFinder(name, errors, _relative_to_workdir, _error))
    loaded = []
    for module_name in dict.fromkeys([name] + modules):
        try:
            module = importlib.import_module(module_name)
        except BaseException as exc:  # noqa: BLE001 - a module that is not there, or SystemExit in a finder
            errors.append(_error(exc, None))
            continue
        if module_name in modules:
            loaded.append(module)
    namespace = _namespace(name, loaded)
    errors += _call_setup(namespace, setup)
    return namespace, {"load_errors": errors, "defined": _own_definitions(namespace, name)}


def _enter_workdir(own: tuple, label: str) -> None:
    """The worker's folder as cwd, ``sys.argv`` as if the student ran their file (an unguarded
    ``unittest.main()`` reads it: never the zygote's own arguments), and the import policy in place."""
    os.makedirs(WORKDIR, exist_ok=True)
    os.chdir(WORKDIR)
    sys.argv = [label]
    imports.install(IMPORTS, own, os.path.join(WORKDIR, ".matplotlib"))


class _LenientFinder:
    """Finds the package's own modules (in WORKDIR) and loads each of them leniently (``_LenientLoader``).

    ``relative`` and ``error`` are ``_relative_to_workdir`` and ``_error`` as the caller sees them
    (private copies in the worker: see the module's docstring)."""

    def __init__(self, package: str, errors: list, relative: Callable, error: Callable) -> None:
        self._package, self._errors, self._relative, self._error = package, errors, relative, error
        self._find = importlib.machinery.PathFinder.find_spec

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname.partition(".")[0] != self._package:
            return None
        spec = self._find(fullname, path)
        if spec is not None and spec.loader is not None and self._relative(spec.origin or "") is not None:
            spec.loader = _LenientLoader(spec.loader, self._errors, self._error)
        return spec


class _LenientLoader:
    """Runs a module of the package; an error ends that module's code, as in a .py, and is recorded
    (its own file and line) instead of undoing the import, so what the module defined stays."""

    def __init__(self, loader, errors: list, error: Callable) -> None:
        self._loader, self._errors, self._error = loader, errors, error

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            self._loader.exec_module(module)
        except BaseException as exc:  # noqa: BLE001 - SyntaxError, SystemExit and the rest, as data
            self._errors.append(self._error(exc, getattr(module, "__file__", None)))

    def __getattr__(self, name: str):  # get_source, get_filename...: linecache reads tracebacks' lines with them
        return getattr(self._loader, name)


def _error(exc: BaseException, origin: str | None) -> dict:
    """A load error of the package: its type, first line, and where in its own file (``origin``) it stopped."""
    if isinstance(exc, SyntaxError):
        where, line, text = str(exc.filename or origin or ""), exc.lineno, str(exc.msg)
    else:
        frames = [f for f in _student_frames(exc, SUBMISSION_FILE) if f.filename == origin or origin is None]
        first = next((f for f in frames if f.name == "<module>"), frames[-1] if frames else None)
        where, line = (first.filename, first.lineno) if first else (origin or "", None)
        text = f"exit({exc.code!r}) called while loading" if isinstance(exc, SystemExit) else _first_line(exc)
    return {"type": type(exc).__name__, "message": text, "line": line, "cell": None,
            "file": _relative_to_workdir(where)}


def _namespace(name: str, modules: list) -> types.ModuleType:
    """What the probes see: the one module, or one namespace of several modules' public names, an
    earlier module winning a clash (``__all__`` where a module has one, else every name without _)."""
    if len(modules) == 1:
        return modules[0]
    merged = types.ModuleType(name)
    for module in reversed(modules):
        names = vars(module).get("__all__")
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            names = [n for n in vars(module) if not n.startswith("_")]
        merged.__dict__.update({n: vars(module)[n] for n in names if n in vars(module)})
    return merged


def _call_setup(module: types.ModuleType, setup: list[str]) -> list[dict]:
    """Call the namespace's ``setup`` functions that it defines (stage 2's ``setup_variable``), as the
    book's ``dezero/__init__.py`` does; an error is a load error at the student's line, as data."""
    errors = []
    for name in setup:
        function = getattr(module, name, None)
        if not callable(function):
            continue
        try:
            function()
        except BaseException as exc:  # noqa: BLE001
            frames = _student_frames(exc, SUBMISSION_FILE)
            errors.append({"type": type(exc).__name__, "message": _first_line(exc), "cell": _student_cell(exc),
                           "line": frames[-1].lineno if frames else None,
                           "file": _relative_to_workdir(frames[-1].filename) if frames else None})
    return errors


def _relative_to_workdir(path: str) -> str | None:
    """``path`` below WORKDIR as a "/"-separated relative path, else None (any OS: the portable
    runner's WORKDIR is a Windows folder there)."""
    if not path or not os.path.isabs(path):  # "<cell 1>", "<string>": not files of a package
        return None
    try:
        inside = os.path.commonpath([os.path.abspath(path), os.path.abspath(WORKDIR)]) == os.path.abspath(WORKDIR)
    except ValueError:  # another drive on Windows
        return None
    relative = os.path.relpath(path, WORKDIR) if inside else None
    return None if relative is None or relative == "." else relative.replace(os.sep, "/")


_IMPORTABLE = re.compile(r"^[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*\.py$", re.ASCII)


def _own_definitions(module: types.ModuleType, own: str) -> list[str]:
    """Functions and classes the submission itself defined (not imported names such as ``np``): those
    of the module ``own``, or of a module of the package ``own``."""
    return sorted(name for name, value in vars(module).items() if not name.startswith("_")
                  and str(getattr(value, "__module__", None)).partition(".")[0] == own)


def _run_cell(module: types.ModuleType, source: str, cell: int | None) -> dict | None:
    label = f"<cell {cell}>" if cell is not None else SUBMISSION_FILE
    try:
        code = compile(source, label, "exec")
        exec(code, module.__dict__)  # noqa: S102 - this is the sandbox
    except SystemExit as exc:
        return {"type": "SystemExit", "message": f"exit({exc.code!r}) called while loading",
                "line": _top_level_line(exc, label), "cell": cell}
    except BaseException as exc:  # noqa: BLE001 - report every failure as data
        if isinstance(exc, SyntaxError):
            return {"type": type(exc).__name__, "message": str(exc.msg), "line": exc.lineno, "cell": cell}
        # The module-level line is where loading stopped: `x = Variable(1.0)`, not the raise inside __init__.
        return {"type": type(exc).__name__, "message": _first_line(exc), "line": _top_level_line(exc, label),
                "cell": cell}
    return None


def answer_probe(module: types.ModuleType, probes: dict[str, Callable[..., Any]], request: dict) -> dict:
    name, args, ident = request.get("probe"), request.get("args") or {}, request.get("id")
    probe = probes.get(name)
    if probe is None:
        return {"id": ident, "ok": False, "error": {"type": "UnknownProbe", "message": str(name)}}
    try:
        return {"id": ident, "ok": True, "value": probe(module, **args)}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
        where, caller, received = _student_context(exc)
        return {"id": ident, "ok": False, "error": {
            "type": type(exc).__name__, "message": _first_line(exc),
            "line": _student_line(exc, SUBMISSION_FILE), "where": where, "caller": caller, "received": received,
            "cell": _student_cell(exc)}}


def _student_cell(exc: BaseException) -> int | None:
    """The notebook cell (``<cell k>``) of the innermost student frame; None for a .py."""
    frames = _student_frames(exc, SUBMISSION_FILE)
    match = re.fullmatch(r"<cell (\d+)>", frames[-1].filename) if frames else None
    return int(match.group(1)) if match else None


def _first_line(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return ""
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def _student_frames(exc: BaseException, label: str) -> list:
    try:
        return [frame for frame in traceback.extract_tb(exc.__traceback__)
                if frame.filename == label or _is_student_file(frame.filename)]  # a package's modules too
    except BaseException:  # noqa: BLE001
        return []


def _student_line(exc: BaseException, label: str) -> int | None:
    frames = _student_frames(exc, label)
    return frames[-1].lineno if frames else None


def _top_level_line(exc: BaseException, label: str) -> int | None:
    frames = [frame for frame in _student_frames(exc, label) if frame.name == "<module>"]
    return frames[0].lineno if frames else _student_line(exc, label)


def _student_context(exc: BaseException) -> tuple[str | None, str | None, str | None]:
    """Where in the student's code ``exc`` was raised, as evidence for a hint: the qualified name of the
    innermost student function ("Variable.__init__"), of the student function that called it
    ("Function.__call__"), and what kind of value the innermost one was given (see ``_kind``).

    Comprehensions and lambdas count as the function around them. Only names and a fixed set of
    kinds are sent; the trusted side shows a name only where it may (``grader.replies.shown_where``).
    """
    try:
        frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)
                  if _is_student_file(frame.f_code.co_filename) and not frame.f_code.co_name.startswith("<")]
        if not frames:
            return None, None, None
        caller = _qualified_name(frames[-2]) if len(frames) > 1 else None
        return _qualified_name(frames[-1]), caller, _first_argument_kind(frames[-1])
    except BaseException:  # noqa: BLE001 - a hostile object on the way; the evidence is a bonus
        return None, None, None


def _is_student_file(filename: str) -> bool:
    return filename == SUBMISSION_FILE or filename.startswith("<cell") or _relative_to_workdir(filename) is not None


def _qualified_name(frame) -> str:
    """"Variable.__init__" rather than "__init__": ``co_qualname`` (3.11+) without its ``<locals>``
    parts; before 3.11, the class of the frame's module whose attribute runs this code, if any."""
    code = frame.f_code
    qualname = getattr(code, "co_qualname", None)
    if qualname is None:
        return _owner_of(code, frame.f_globals) + code.co_name
    return ".".join(part for part in qualname.split(".") if not part.startswith("<")) or code.co_name


def _owner_of(code, scope: dict) -> str:
    """"Variable." when a class of the module ``scope`` holds ``code`` as a method (or property, or
    static or class method); "" otherwise."""
    for value in list(scope.values()):
        if not isinstance(value, type):
            continue
        attribute = type.__dict__["__dict__"].__get__(value).get(code.co_name)  # no metaclass in the way
        function = getattr(attribute, "__func__", None) or getattr(attribute, "fget", None) or attribute
        if getattr(function, "__code__", None) is code:
            return f"{value.__name__}."
    return ""


def _first_argument_kind(frame) -> str | None:
    """What the function's first argument (after self) holds: "None", "ndarray", "numpy scalar",
    "number" (a Python int, float, bool or complex) or "other"; None when it takes no argument."""
    code = frame.f_code
    names = code.co_varnames[:code.co_argcount]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    if not names or names[0] not in frame.f_locals:
        return None
    value, numpy = frame.f_locals[names[0]], sys.modules.get("numpy")
    if value is None:
        return "None"
    if numpy is not None and isinstance(value, numpy.ndarray):
        return "ndarray"
    if numpy is not None and isinstance(value, numpy.generic):
        return "numpy scalar"
    return "number" if type(value) in (int, float, bool, complex) else "other"


# Parsed once, here in the zygote (or the portable runner's child), before any worker exists.
for _source in (__file__, wire.__file__, watch.__file__):
    file_chains(_source)
watch.trusted_roots()
