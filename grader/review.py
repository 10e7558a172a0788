"""The review flag: signs that a submission reaches for the grader instead of solving the assignment.

Student code runs in the same process as the worker's probe dispatcher, so it can always undo
in-process protections (frames, the garbage collector, raw fds). Those tricks need tools a DeZero
solution never uses; this scan, run on the trusted side over the source text, lists them. A flag
changes no score: the instructor reads the code and decides. ``sys.setrecursionlimit`` is not a
sign (students raise it for a recursive backward).
"""
from __future__ import annotations

import ast
import re

from grader.i18n import Message

# Modules whose import is itself the sign.
_MODULES = {"grader": "kit", "grader_probes": "kit", "gc": "gc", "inspect": "frames", "ctypes": "ctypes",
            "cffi": "ctypes", "socket": "raw_io", "_socket": "raw_io", "importlib": "importlib"}
# module.attribute uses that are signs.
_CALLS = {("sys", "modules"): "sys_modules", ("sys", "_getframe"): "frames", ("sys", "_current_frames"): "frames",
          ("sys", "settrace"): "frames", ("sys", "setprofile"): "frames",
          ("os", "write"): "raw_io", ("os", "dup"): "raw_io", ("os", "dup2"): "raw_io", ("os", "fdopen"): "raw_io",
          ("os", "sendfile"): "raw_io", ("os", "read"): "raw_io"}
# Attribute names (or the same text in a string, as for ``getattr(x, "f_back")``) that reach frames or code.
_ATTRIBUTES = {"f_back": "frames", "f_globals": "frames", "f_locals": "frames", "tb_frame": "frames",
               "gi_frame": "frames", "cr_frame": "frames", "_getframe": "frames", "__code__": "code_objects",
               "__globals__": "code_objects", "__closure__": "code_objects"}
_STRINGS = re.compile(r"/proc/(self|\d+|thread-self)/(fd|mem|maps)|\bgrader\.(sandbox|wire)\b")
_DYNAMIC = {"exec": "exec", "eval": "exec", "__import__": "importlib"}
# When the source cannot be parsed (a broken file still gets graded), a plain text search.
_FALLBACK = [(re.compile(r"\b(import|from)\s+grader\b|\bgrader\.(sandbox|wire)\b"), "kit"),
             (re.compile(r"\bsys\.modules\b"), "sys_modules"), (re.compile(r"\bimport\s+(gc|inspect)\b"), "frames"),
             (re.compile(r"\b_getframe\b|\bf_back\b|\bf_globals\b"), "frames"), (re.compile(r"\bctypes\b"), "ctypes"),
             (re.compile(r"\bimport\s+socket\b|\bos\.(write|dup2?)\b|/proc/self/fd"), "raw_io")]
# Every sign above needs one of these in the source text: a word from the tables (module.attribute
# pairs only as "os.write"-like text, since the tree scan matches them only so), or /proc/. A file
# holding none of them, as nearly every submission does, is not parsed (about 1 ms a file).
# "grader check" (the template's own docstring says it) is the one use of the word that is no sign.
_ANY_SIGN = re.compile(r"/proc/|\b(" + "|".join(sorted(
    (set(_MODULES) - {"grader"}) | set(_ATTRIBUTES) | set(_DYNAMIC) | {"modules", "sandbox", "wire"})) + r")\b"
    r"|\bgrader\b(?![ \t]+check\b)|\b(import|from)\s+grader\b|\b(os|sys)\s*\.|\bfrom\s+sys\b")
MAX_REASONS = 40
_PLACES = 5  # lines shown per kind of sign


def scan_cells(cells: list[str]) -> list[tuple[str, int | None, int | None]]:
    """``(kind, cell, line)`` for each sign found, one per kind and place, in source order."""
    found: list[tuple[str, int | None, int | None]] = []
    for number, source in enumerate(cells, start=1):
        if not _ANY_SIGN.search(source):
            continue
        cell = number if len(cells) > 1 else None
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            found += [(kind, cell, line) for kind, line in _scan_text(source)]
            continue
        found += [(kind, cell, line) for kind, line in _scan_tree(tree)]
    unique = list(dict.fromkeys(found))
    return unique[:MAX_REASONS]


def review_reasons(cells: list[str], lang: str, untagged_replies: int = 0, signs: list[dict] | None = None,
                   files: list[str] | None = None) -> list[str]:
    """One sentence per kind of sign, with where it was seen, in ``lang``; empty when nothing was found.

    ``untagged_replies`` is the first runtime sign: messages that reached the grader without the worker's
    secret nonce, so not from its dispatcher (they were dropped, see ``Worker.untagged``). ``signs`` are the
    worker's run-time watch's (``grader.sandbox.watch``): what the code did while it ran, with the file and
    line where it did it; a kind the text scan found too gets one sentence with both scans' places.
    With a watch (``signs`` not None), ``exec``/``eval`` text is no sign by itself: every dynamic code that
    ran was seen running, and code that never runs (the book's ``ImageNet.labels``) hides nothing.
    ``files`` names the sources of a package (``cells`` are then its files), so places name the file.
    """
    runtime = [Message("review.untagged", {"count": untagged_replies}).render(lang)] if untagged_replies else []
    places: dict[str, list[str]] = {}
    for kind, cell, line in scan_cells(cells):
        if kind == "exec" and signs is not None:
            continue
        file = files[(cell or 1) - 1] if files and (cell or 1) <= len(files) else None
        _add(places, kind, _where(file, None if file else cell, line).render(lang))
    ran = set()
    for sign in signs or ():
        kind = sign.get("kind")
        if kind not in RUNTIME_KINDS:
            continue
        ran.add(kind)
        places.setdefault(kind, [])
        if sign.get("line"):
            _add(places, kind, _where(sign.get("file"), sign.get("cell"), sign["line"]).render(lang))
    reasons = []
    for kind, wheres in places.items():
        key = ("review.reason_ran" if wheres else "review.reason_ran_nowhere") if kind in ran else "review.reason"
        reasons.append(Message(key, {"what": Message(f"review.{kind}"), "where": ", ".join(wheres[:_PLACES])})
                       .render(lang))
    return runtime + reasons


# The kinds of sign the worker's watch sends (the text scan's, plus two only the run time can see).
RUNTIME_KINDS = frozenset({"exec", "frames", "gc", "code_objects", "ctypes", "raw_io", "kit", "hooks",
                           "probe_state"})


def _where(file: str | None, cell: int | None, line: int | None) -> Message:
    if file:
        return Message("review.where_file", {"file": file, "line": line})
    return Message("review.where_cell" if cell else "review.where", {"cell": cell, "line": line})


def _add(places: dict[str, list[str]], kind: str, where: str) -> None:
    found = places.setdefault(kind, [])
    if where not in found:
        found.append(where)


def _scan_tree(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [(_MODULES[a.name.split(".")[0]], line) for a in node.names if a.name.split(".")[0] in _MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root in _MODULES:
                found.append((_MODULES[root], line))
            if root == "sys":
                found += [(kind, line) for (module, name), kind in _CALLS.items()
                          if module == "sys" and any(a.name == name for a in node.names)]
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in _CALLS:
                found.append((_CALLS[(node.value.id, node.attr)], line))
            elif _ATTRIBUTES.get(node.attr):
                found.append((_ATTRIBUTES[node.attr], line))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _ATTRIBUTES.get(node.value):
                found.append((_ATTRIBUTES[node.value], line))
            elif node.value == "modules" or node.value.split(".")[0] in ("grader", "grader_probes"):
                found.append(("sys_modules" if node.value == "modules" else "kit", line))
            elif _STRINGS.search(node.value):
                found.append(("raw_io" if node.value.startswith("/proc") else "kit", line))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _DYNAMIC:
            found.append((_DYNAMIC[node.func.id], line))
    return sorted(found, key=lambda item: item[1])


def _scan_text(source: str) -> list[tuple[str, int]]:
    found = []
    for number, text in enumerate(source.splitlines(), start=1):
        found += [(kind, number) for pattern, kind in _FALLBACK if pattern.search(text)]
    return found
