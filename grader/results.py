"""Results in Gradescope's results.json format, with our metadata under ``extra_data``."""
from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import grader
from grader.assignment import Assignment
from grader.errors import SubmissionError
from grader.handles import explained
from grader.i18n import Message
from grader.runner import SubmissionRun
from grader.submission import Submission

_STUDENT_OUTPUT_SHOWN = 4096


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def build_result(assignment: Assignment, run: SubmissionRun, *, label: str, started_at: str,
                 insecure: bool = False, assignment_hash: str, lang: str = "en") -> dict:
    tests = []
    for number, outcome in enumerate(run.outcomes, start=1):
        points = assignment.points_for(outcome.test) or 0.0
        tests.append({
            "name": outcome.title, "number": str(number),
            "score": points if outcome.passed else 0.0, "max_score": points,
            "status": "passed" if outcome.passed else "failed", "output": outcome.feedback,
            "visibility": assignment.visibility["hidden" if outcome.hidden else "public"],
            "tags": ["hidden" if outcome.hidden else "public", outcome.test],
            "extra_data": {"needs": list(outcome.needs), "uses": list(outcome.uses)},
        })
    score = round(sum(t["score"] for t in tests), 6)
    max_score = round(sum(t["max_score"] for t in tests), 6)
    submission = run.submission
    not_gradable = isinstance(submission, SubmissionError)
    # "error": none of the code could run, so its 0 says nothing about its correctness.
    problem = run.load_failure.render(lang) if run.load_failure else None
    return {
        "score": score, "max_score": max_score, "execution_time": round(run.seconds, 3),
        "output": _summary_text(run, tests, score, max_score, problem, lang), "output_format": "text",
        "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
        "extra_data": {
            "status": "error" if problem else "graded", "submission": label,
            "chosen_file": None if not_gradable else submission.chosen,
            "submission_sha256": None if not_gradable else submission.sha256,
            "assignment_id": assignment.id, "assignment_version": assignment.version,
            "assignment_hash": assignment_hash, "grader_version": grader.__version__,
            "started_at": started_at, "finished_at": now(), "sandbox_layers": run.layers,
            "insecure": insecure, "error": problem, "events": run.events, "output_bytes": run.output_total,
            "language": lang,
        },
    }


def _summary_text(run: SubmissionRun, tests: list[dict], score: float, max_score: float, problem: str | None,
                  lang: str) -> str:
    passed = sum(t["status"] == "passed" for t in tests)
    lines = [Message("summary.score", {"score": f"{score:g}", "max": f"{max_score:g}", "passed": passed,
                                       "total": len(tests)}).render(lang)]
    if problem:
        lines.append(Message("summary.not_graded", {"reason": problem}).render(lang))
    for error in run.load_errors if not problem else []:
        lines.append(_load_warning(run.submission, error).render(lang))
    if run.load_output:
        shown = run.load_output[:_STUDENT_OUTPUT_SHOWN].decode("utf-8", "replace")
        more = max(run.output_total, len(run.load_output)) - min(len(run.load_output), _STUDENT_OUTPUT_SHOWN)
        lines.append(Message("summary.printed").render(lang) + "\n" + shown)
        if more > 0:
            lines.append(_more_output(more).render(lang))
    return "\n".join(lines)


def _load_warning(submission: Submission, error: dict) -> Message:
    """A load error that did not stop grading: a notebook cell skipped, or a .py graded on what it defined."""
    if submission.notebook:
        where = Message("summary.cell", {"cell": submission.cell_number(error["cell"])}) if error.get("cell") else ""
        return Message("summary.cell_warning", {"where": where, "line": error.get("line"),
                                                "type": error["type"], "message": explained(error)})
    source, where = submission.cells[0], ""
    if submission.package and error.get("file") in submission.package["files"]:  # which file of the package
        source, where = submission.package["files"][error["file"]], Message("summary.file", {"file": error["file"]})
    advice = error.get("advice")
    return Message("summary.partial_load", {"line": error.get("line") or "?", "type": error["type"], "where": where,
                                            "source": source_line(source, error.get("line")),
                                            "why": Message("summary.why", {"advice": advice}) if advice else ""})


def source_line(source: str, line: object) -> str:
    """The text of ``line`` (1-based) of the student's own file, shortened; '' if out of range."""
    lines = source.splitlines()
    if not isinstance(line, int) or isinstance(line, bool) or not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1].strip()
    return text if len(text) <= 80 else text[:77] + "..."


def _more_output(count: int) -> Message:
    """How much output was not shown, as a magnitude only (over 1 KiB, 1 MiB, 1 GiB).

    ``output_total`` counts what a worker printed during every probe, hidden ones included: an
    exact count would let a submission print N bytes to show a hidden value as N.
    """
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if count >= 1 << shift:
            return Message("summary.more_bytes", {"size": f"1 {unit}"})
    return Message("summary.more_output")


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("grader").joinpath("results_schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator():
    # Compiled once to Python code: about 50x faster than an interpreting validator, which
    # matters because every result of a batch is validated before it is written.
    import fastjsonschema

    return fastjsonschema.compile(schema())


def validate(result: dict) -> None:
    """Raise ``fastjsonschema.JsonSchemaException`` if ``result`` does not match the shipped schema."""
    _validator()(result)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write via a temp file and rename, so a reader never sees half a result.

    Only a regular file is replaced: a link is followed (its target is replaced, the link stays), and
    what is not a regular file (``-o /dev/null``, a pipe) is written to as it is; renaming over it
    replaced the device, as root, with a file. A new file gets the mode ``open`` would give it (0666
    less the umask), an existing one keeps its own.
    """
    path = Path(os.path.realpath(path))
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        status = path.stat()
    except FileNotFoundError:
        status = None
    if status is not None and not stat.S_ISREG(status.st_mode) and not stat.S_ISDIR(status.st_mode):
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, stat.S_IMODE(status.st_mode) if status is not None else 0o666 & ~_UMASK)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _umask() -> int:
    """The process's umask, read once at import (before any thread): setting it is the only way to read it."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()
