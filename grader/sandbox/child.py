"""The sandboxed side: runs inside the forked child, after every layer is in place.

It receives the student's source as data, executes it as the module ``submission``, then
answers probe requests. Everything it sends back is plain data (see ``grader.wire``).
"""
from __future__ import annotations

import os
import sys
import traceback
import types
from typing import Any, Callable

from grader import wire

WORKDIR = "/tmp/work"
SUBMISSION_FILE = "submission.py"


def serve(sock, probes: dict[str, Callable[..., Any]], layers: dict[str, str]) -> None:
    """Load the submission, report readiness, then answer probes until the socket closes."""
    request = wire.recv_message(sock)
    if not request or request.get("op") != "load":
        os._exit(0)
    module, load_report = load_submission(request.get("cells") or [], request.get("notebook", False))
    _flush_output()  # output printed while loading belongs before "ready" in the report
    wire.send_message(sock, {"event": "ready", "layers": layers, **load_report})
    while True:
        request = wire.recv_message(sock)
        if request is None:
            os._exit(0)
        reply = answer_probe(module, probes, request)
        _flush_output()
        try:
            wire.send_message(sock, reply)
        except wire.WireError as exc:  # unsendable value or too large: report it as data
            wire.send_message(sock, {"id": reply.get("id"), "ok": False,
                                     "error": {"type": "BadResult", "message": str(exc)}})


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a student may have replaced or closed them
            pass


def load_submission(cells: list[str], notebook: bool) -> tuple[types.ModuleType, dict]:
    """Execute the code as module ``submission``.

    A ``.py`` file is one cell: its first error stops the load, as ``import`` would, but what it
    defined before that error stays in the module (the trusted side decides whether to grade it).
    A notebook runs cell by cell like Jupyter's "run all, continue on error", so a broken demo
    cell does not hide the definitions around it.
    """
    os.makedirs(WORKDIR, exist_ok=True)
    os.chdir(WORKDIR)
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
    return module, {"load_errors": errors, "defined": _own_definitions(module)}


def _own_definitions(module: types.ModuleType) -> list[str]:
    """Functions and classes the submission itself defined (not imported names such as ``np``)."""
    return sorted(name for name, value in vars(module).items()
                  if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__)


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
        return {"id": ident, "ok": False, "error": {
            "type": type(exc).__name__, "message": _first_line(exc),
            "line": _student_line(exc, SUBMISSION_FILE), "where": _student_function(exc)}}


def _first_line(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return ""
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def _student_frames(exc: BaseException, label: str) -> list:
    try:
        return [frame for frame in traceback.extract_tb(exc.__traceback__)
                if frame.filename in (label, SUBMISSION_FILE) or frame.filename.startswith("<cell")]
    except BaseException:  # noqa: BLE001
        return []


def _student_line(exc: BaseException, label: str) -> int | None:
    frames = _student_frames(exc, label)
    return frames[-1].lineno if frames else None


def _top_level_line(exc: BaseException, label: str) -> int | None:
    frames = [frame for frame in _student_frames(exc, label) if frame.name == "<module>"]
    return frames[0].lineno if frames else _student_line(exc, label)


def _student_function(exc: BaseException) -> str | None:
    frames = _student_frames(exc, SUBMISSION_FILE)
    return frames[-1].name if frames else None
