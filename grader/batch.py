"""``grader batch``: a whole class, in parallel, resumable, one result file per student.

Submissions are graded in chunks: one pytest session per chunk (start-up paid once), in up to
one grading process per core (see ``processes_for``), each with its own zygote and sandbox
slot uid. Every result is written atomically as soon as its chunk is done, and keyed by
content + assignment + grader version, so a re-run (even after a kill) grades only what is
new or changed.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import grader
from grader.assignment import Assignment
from grader.errors import GraderError
from grader.grading import Loaded, answer_book, contained, grade_loaded, open_session
from grader.lms.discover import discover_all
from grader.lms.layouts import Entry, read_tree
from grader.results import write_json_atomic
from grader.runner import Session
from grader.sandbox.client import missing_essential_layers
from grader.sandbox.layers import die_with_parent
from grader.submission import select


@dataclass
class BatchPlan:
    layout: str
    entries: list[Entry]
    todo: list[tuple[Entry, Loaded, str]]
    skipped: int
    unattributed: list[str] = field(default_factory=list)  # files no student was found for


def plan_batch(input_path: Path, assignment: Assignment, outdir: Path, force: bool, *,
               moodle_teams: bool | None = None) -> BatchPlan:
    """Find every student's submission and decide which ones need grading."""
    found = discover_all(read_tree(input_path), moodle_teams=moodle_teams)
    layout, entries = found.layout, found.entries
    assignment_hash = assignment.fingerprint()
    todo, skipped = [], 0
    for entry in entries:
        key = hashlib.sha256(f"{entry.content_hash()}|{assignment_hash}|{grader.__version__}".encode()).hexdigest()
        if not force and _cached_key(result_path(outdir, entry)) == key:
            skipped += 1
            continue
        todo.append((entry, load_entry(entry, assignment), key))
    return BatchPlan(layout, entries, todo, skipped, found.unattributed)


def load_entry(entry: Entry, assignment: Assignment) -> Loaded:
    """The entry's submission, or the SubmissionError that makes it this student's error row."""
    return contained(lambda: select(entry.files, assignment.template_name, entry.student, assignment.package),
                     entry.student)


def result_path(outdir: Path, entry: Entry) -> Path:
    return outdir / "results" / f"{entry.student}.json"


def _cached_key(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["extra_data"].get("cache_key")
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or half-written: grade again


# An extra grading process costs about 1.5 s of CPU to start (interpreter, zygote, reference,
# pytest); measured on 2 cores, a second one paid off from about 300 submissions on.
SUBMISSIONS_PER_PROCESS = 150


def processes_for(cores: int, submissions: int) -> tuple[int, bool]:
    """How many grading processes ``cores`` cores get, and whether their workers compute ahead.

    With compute-ahead, one grading process keeps about 1.6 cores busy: pytest checks one answer
    while the sandboxed worker computes the next ones and the next submission loads. One core
    gets one process whose worker and checker take turns, so ``-j 1`` uses one core. More cores
    get one process per core, but no more than the class can repay the start-up of.
    """
    if cores <= 1:
        return 1, False
    return max(1, min(cores, submissions // SUBMISSIONS_PER_PROCESS)), True


def run_batch(plan: BatchPlan, assignment: Assignment, outdir: Path, *, jobs: int, hide: list[str],
              insecure: bool = False, on_done=None, lang: str | None = None, on_start=None) -> None:
    """Grade ``plan.todo`` on ``jobs`` cores, writing each result as soon as it exists.

    ``on_start(missing)`` is called once a grading session is up, before anything is graded, with the
    essential sandbox layers its workers lack (``--insecure`` only: a secure session that lacks one
    raises GraderError instead). The session's own check is the only one: a throwaway zygote to check
    first cost every batch about a quarter of a second. ``on_done(n)`` reports progress.
    """
    processes, ahead = processes_for(jobs, len(plan.todo))
    chunks = _chunks(plan.todo, processes)
    if not chunks:
        return
    book = answer_book(assignment)  # once, here: every grading process gets this one
    if processes <= 1 or len(chunks) <= 1:
        session = open_session(assignment, hide, insecure=insecure, lang=lang, compute_ahead=ahead, book=book)
        try:
            if on_start:
                on_start(missing_essential_layers(session.layers))
            for chunk in chunks:
                _store(chunk, grade_loaded(assignment, [(e.student, s) for e, s, _ in chunk], session,
                                           insecure=insecure), plan.layout, outdir, on_done)
        finally:
            session.close()
        return
    context = get_context("spawn")  # a clean interpreter per grading process; no inherited threads
    slots = context.Queue()
    for slot in range(processes):
        slots.put(slot)
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker,
                             initargs=(assignment, hide, insecure, slots, lang, os.getpid(), book)) as pool:
        missing = pool.submit(_missing_layers).result()  # GraderError, as one line, if a session could not start
        if on_start:
            on_start(missing)
        futures = {pool.submit(_grade_chunk, [(e.student, s) for e, s, _ in chunk]): chunk for chunk in chunks}
        for future in as_completed(futures):
            _store(futures[future], future.result(), plan.layout, outdir, on_done)


def _chunks(todo: list, processes: int) -> list[list]:
    """Big enough to amortise a pytest session, small enough to balance processes and show progress."""
    if not todo:
        return []
    size = max(1, min(50, math.ceil(len(todo) / (max(processes, 1) * 3))))
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def _store(chunk: list, results: list[dict], layout: str, outdir: Path, on_done) -> None:
    for (entry, _, key), result in zip(chunk, results):
        result["extra_data"].update({"student": entry.student, "name": entry.name, "lms_ids": entry.ids,
                                     "late": entry.late, "submitted_at": entry.submitted_at, "layout": layout,
                                     "cache_key": key, "warnings": entry.warnings,
                                     "group_members": entry.members})
        write_json_atomic(result_path(outdir, entry), result)
        if on_done:
            on_done(1)


_SESSION = None
_SETTINGS: tuple = ()
_SESSION_ERROR: GraderError | None = None  # why this process's session did not start (said by its first task)


def _init_worker(assignment: Assignment, hide: list[str], insecure: bool, slots, lang: str | None,
                 parent: int, book) -> None:
    global _SESSION, _SETTINGS, _SESSION_ERROR
    # A pool process outlives a SIGKILLed batch (it waits on a queue whose pipe it holds itself),
    # and so would its zygote and workers: die with the batch process, before starting a sandbox.
    die_with_parent(parent)
    _SETTINGS = (assignment, insecure)
    try:
        _SESSION = open_session(assignment, hide, insecure=insecure, slot=slots.get(), lang=lang, book=book)
    except GraderError as error:  # raised from an initializer it would break the pool, with a traceback
        _SESSION_ERROR = GraderError(str(error))
        return
    import atexit

    atexit.register(_SESSION.close)


def _session() -> Session:
    if _SESSION is None:
        raise _SESSION_ERROR or GraderError("the grading process has no session")
    return _SESSION


def _missing_layers() -> list[str]:
    return missing_essential_layers(_session().layers)


def _grade_chunk(submissions: list[tuple[str, Loaded]]) -> list[dict]:
    assignment, insecure = _SETTINGS
    return grade_loaded(assignment, submissions, _session(), insecure=insecure)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def progress_printer(total: int):
    """A rich progress bar with rate and ETA when there is a terminal; a line per 10 % otherwise."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if sys.stderr.isatty():
        progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), transient=False)
        return progress, _RichTicker(progress, total)
    return None, _LineTicker(total)


class _RichTicker:
    def __init__(self, progress, total: int) -> None:
        self._start = time.monotonic()
        self._progress, self._task, self._done = progress, progress.add_task("grading", total=total, rate=""), 0

    def __call__(self, count: int) -> None:
        self._done += count
        elapsed = max(time.monotonic() - self._start, 1e-6)
        self._progress.update(self._task, advance=count, rate=f"{self._done / elapsed:.1f} subm/s")


class _LineTicker:
    def __init__(self, total: int) -> None:
        self._start, self._total, self._done, self._next = time.monotonic(), total, 0, 0.1

    def __call__(self, count: int) -> None:
        self._done += count
        if self._total and (self._done / self._total >= self._next or self._done == self._total):
            elapsed = max(time.monotonic() - self._start, 1e-6)
            rate = self._done / elapsed
            eta = (self._total - self._done) / rate if rate else 0
            print(f"graded {self._done}/{self._total} ({rate:.1f} subm/s, ETA {eta:.0f} s)", file=sys.stderr)
            self._next = math.floor(self._done / self._total * 10 + 1) / 10
