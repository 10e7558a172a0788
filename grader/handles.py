"""What tests talk to: the student's submission (in a sandboxed worker) and the reference.

Both expose ``probe(name, **args)`` and return the same plain data, so a test is written
once as "run this probe on both, compare in the trusted process".
"""
from __future__ import annotations

import importlib.util
import json
import time
from types import ModuleType
from typing import Any

from grader import advice, wire
from grader.assignment import Assignment
from grader.binding import load_probes
from grader.errors import SubmissionError
from grader.i18n import Message
from grader.layout import PathMask, kit_paths
from grader.portable import new_worker
from grader.replies import Uncheckable, check_value, error_cell, error_evidence, error_fields
from grader.sandbox import Worker, WorkerFailure, Zygote  # noqa: F401 - Worker: the type of _worker
from grader.submission import Submission


class StudentError(Exception):
    """A probe raised inside the student's code; ``kind`` is the exception's type name."""

    def __init__(self, kind: str, message: str, where: str | None, line: int | None, probe: str = "",
                 cell: object = None, caller: str | None = None, received: str | None = None,
                 advice: Message | None = None) -> None:
        super().__init__(f"{where or 'your code'} raised {kind}")
        self.kind, self.message, self.where, self.line, self.probe = kind, message, where, line, probe
        self.cell = cell  # the notebook cell as Jupyter numbers it, or None
        # Evidence for a hint (grader.plugin.likely_bug), never shown: the student function that called
        # ``where``, and the kind of value ``where`` was given ("None", "numpy scalar", ...).
        self.caller, self.received = caller, received
        self.advice = advice  # what to do about it (grader.advice), shown in place of the message


class LoadFailure(Exception):
    """The submission could not be loaded at all; every test fails with this one reason."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


def probe_key(name: str, args: dict) -> str:
    """Identity of a probe call: its name and its arguments in wire form."""
    return name + json.dumps(wire.encode_value(args), sort_keys=True)


class ProbePlan:
    """The probe calls the tests make, in order, learnt from the submissions graded so far.

    Probe arguments come from the tests, never from a student's answers, so the calls one
    submission made predict the next one's; a call not seen before is simply made live.
    With ``ahead`` off, the worker gets one probe at a time and the next submission's worker
    is not launched early: grading then keeps one core busy instead of about two.

    A call any public test makes is public (its inputs are in the handout); every other call
    holds a hidden input and is sent ahead only once a hidden test has begun (see
    ``StudentHandle._queue_from``).
    """

    def __init__(self, ahead: bool = True) -> None:
        self.ahead = ahead
        self.keys: list[str] = []
        self.calls: dict[str, tuple[str, dict]] = {}
        self.public: set[str] = set()

    def learn(self, key: str, name: str, args: dict, hidden: bool) -> None:
        if key not in self.calls:
            self.calls[key] = (name, args)
            self.keys.append(key)
        if not hidden:
            self.public.add(key)

    def from_(self, key: str) -> list[str]:
        return self.keys[self.keys.index(key):]


def load_module(path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ReferenceHandle:
    """Runs probes on the reference in the trusted process, once per distinct input.

    Without a reference (a student handout) it answers from recorded answers instead, which
    exist only for the public tests' probes.
    """

    def __init__(self, reference_path, probes_path, recorded: dict[str, str] | None = None) -> None:
        self._module = load_module(reference_path, "grader_reference") if reference_path else None
        self._probes = load_probes(probes_path, "grader_probes_trusted").functions  # bound as the worker binds them
        self._cache: dict[str, str] = dict(recorded or {})
        self._decoded: dict[str, Any] = {}
        self._seconds: dict[str, float] = {}

    @classmethod
    def for_assignment(cls, assignment) -> "ReferenceHandle":
        recorded = json.loads(assignment.expected.read_text(encoding="utf-8")) if assignment.expected else None
        return cls(assignment.reference, assignment.probes, recorded)

    @property
    def recorded(self) -> dict[str, str]:
        """Every answer computed so far, in wire form (what a handout ships)."""
        return dict(self._cache)

    def probe(self, name: str, **args: Any) -> Any:
        key = probe_key(name, args)
        self._compute(key, name, args)
        if key not in self._decoded:
            self._decoded[key] = wire.decode_value(json.loads(self._cache[key]))
        # Every caller gets its own copy: a test that mutates its expected value affects no other student.
        return wire.copy_value(self._decoded[key])

    def _compute(self, key: str, name: str, args: dict) -> None:
        """Run the probe on the reference once per distinct call, keeping its answer and its time."""
        if key in self._cache:
            return
        if self._module is None:
            raise KeyError(f"no recorded reference answer for probe {name}")
        answer, self._seconds[key] = self._timed_probe(name, args)
        # Stored in wire form, so both sides are compared in the same form.
        self._cache[key] = json.dumps(wire.encode_value(answer))

    def _timed_probe(self, name: str, args: dict) -> tuple[Any, float]:
        """The reference's answer and its time. A first run pays cold caches and allocator growth
        (a 2,000-function chain measured 3x its usual time under load); a slow one is timed twice
        and the faster run counts, since deadlines are a multiple of it."""
        started = time.perf_counter()
        answer = self._probes[name](self._module, **args)
        seconds = time.perf_counter() - started
        if seconds > _RETIME_ABOVE:
            started = time.perf_counter()
            self._probes[name](self._module, **args)
            seconds = min(seconds, time.perf_counter() - started)
        return answer, seconds

    def seconds(self, key: str, name: str, args: dict) -> float | None:
        """How long the reference took for the probe call ``key`` (run now if need be); None if unknown."""
        if self._module is not None and key not in self._cache:
            try:
                self._compute(key, name, args)
            except Exception:  # noqa: BLE001 - a broken probe fails loudly where the test calls it
                return None
        return self._seconds.get(key)


HANGING_AFTER = 2  # probe timeouts after which a submission's later deadlines shrink (see _probe_deadline)
_RETIME_ABOVE = 0.002  # seconds: reference probes slower than this are timed a second time


class StudentHandle:
    """One submission's worker, restarted after a crash, within per-probe, per-test and total deadlines.

    A probe's deadline is max(floor, factor x the reference's time for the same call), so a
    ``backward`` that never returns costs about a second per test instead of the whole test
    limit, while code far slower than the reference still passes. Loading keeps the test limit.
    """

    def __init__(self, submission: Submission | SubmissionError, zygote: Zygote, slot: int,
                 assignment: Assignment, plan: ProbePlan | None = None,
                 reference: ReferenceHandle | None = None) -> None:
        self.submission = submission
        self._plan = plan or ProbePlan()
        self._queued: dict[str, int] = {}   # probe key -> request id, for the current worker
        self._answered: set[str] = set()
        self.next: "StudentHandle | None" = None  # the submission graded after this one
        self._zygote, self._slot, self._limits = zygote, slot, assignment.limits
        self._test_seconds, self._submission_seconds = assignment.test_seconds, assignment.submission_seconds
        self._floor, self._factor = assignment.floor_seconds, assignment.reference_factor
        self._grade_defined = assignment.load_on_error == "grade_defined"
        self._setup = assignment.load_setup
        self._package, self._allowed = assignment.package, assignment.allowed_packages
        # No path of ours in feedback. No zygote: nothing will run (a submission that could not be read).
        self._mask = PathMask(kit_paths(assignment), zygote.runtime.paths if zygote is not None else ())
        self._reference = reference
        self._timeouts = 0
        self._hidden_test = False  # until told otherwise, a test's inputs may reach the student
        self._worker: Worker | None = None
        self._fatal: Exception | None = (LoadFailure(submission.message) if isinstance(submission, SubmissionError)
                                         else None)
        self._spent = 0.0
        self._test_started = time.monotonic()
        self.events: list[str] = []
        self.load_output = b""
        self.output_total = 0
        self._loaded = False
        self.load_errors: list[dict] = []
        self.answers: list[tuple[str, Any]] = []  # this test's (probe key, answer), in order: see grader/hints
        self.tests: dict[str, tuple[str, list]] = {}  # case id -> (how it ended, its answers): see GradingPlugin
        self.untagged_replies = 0  # replies not sent by the worker's dispatcher (see Worker.untagged)
        self.signs: list[dict] = []  # what the workers' run-time watch saw (see grader.sandbox.watch)

    @property
    def seconds(self) -> float:
        return self._spent

    def begin_test(self, hidden: bool) -> None:
        self._test_started = time.monotonic()
        self._hidden_test = hidden
        self.answers = []

    def probe(self, name: str, **args: Any) -> Any:
        if self._fatal is not None:
            raise self._fatal
        key = probe_key(name, args)
        self._plan.learn(key, name, args, self._hidden_test)
        if self._worker is None or not self._worker.alive or self._worker.ready is None:
            self._start()
        if key not in self._queued:
            self._queue_from(key)
        ident = self._queued.pop(key)
        self._answered.add(key)
        deadline = self._probe_deadline(key, name, args)
        reply = self._timed(lambda budget: self._worker.result(ident, min(budget, deadline)))
        if reply.get("ok"):
            value = reply.get("value")
            check_value(value)  # a malformed answer is the student's (Uncheckable), never the grader's
            # A copy: the test may change what it was given; the known-bug match needs what the code answered.
            self.answers.append((key, wire.copy_value(value)))
            return value
        cell = error_cell(reply.get("error"))
        kind, message, where, line = error_fields(reply.get("error"))
        message = self._mask.text(message)
        caller, received = error_evidence(reply.get("error"))
        raise StudentError(kind, message, where, line, name,
                           self.submission.cell_number(cell) if cell is not None else None, caller, received,
                           advice=self._advice({"type": kind, "message": message}))

    def _probe_deadline(self, key: str, name: str, args: dict) -> float:
        reference = self._reference.seconds(key, name, args) if self._reference is not None else None
        if reference is None:  # a handout without recorded timings: the test limit alone
            return self._test_seconds
        deadline = max(self._floor, self._factor * reference)
        # A submission that has already run out of time twice is hanging, not slow: a correct one,
        # however slow, never does. Its later probes get a quarter of the deadline, so ten tests
        # that call a backward that never returns cost about 3 s instead of 10.
        return deadline if self._timeouts < HANGING_AFTER else deadline / 4

    def _queue_from(self, key: str | None) -> None:
        """Queue this probe and every later planned one: the worker computes ahead while we check.

        Student code can read what is queued on its socket, and public feedback shows its load
        output, exception texts and wrong values: so until a hidden test begins, only public
        calls are sent ahead, and no hidden input is ever in the worker while anything it does
        can still reach the student. ``key`` None (a worker launched early) queues public calls only.
        """
        if not self._plan.ahead:
            self._queued[key] = self._worker.submit(*self._plan.calls[key])
            return
        later_keys = self._plan.from_(key) if key is not None else self._plan.keys
        for later in later_keys:
            if later == key or (later not in self._queued and later not in self._answered
                                and (self._hidden_test or later in self._plan.public)):
                name, args = self._plan.calls[later]
                self._queued[later] = self._worker.submit(name, args)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self.output_total += self._worker.output_total
            self.untagged_replies += self._worker.untagged
            self.signs += [sign for sign in self._worker.signs if sign not in self.signs]
            self._worker = None

    def _budget(self) -> float:
        left_total = self._submission_seconds - self._spent
        if left_total <= 0:
            self._fatal = WorkerFailure("timeout", Message("worker.total_timeout",
                                                           {"seconds": f"{self._submission_seconds:.0f}"}))
            raise self._fatal
        return min(self._test_seconds - (time.monotonic() - self._test_started), left_total)

    def _timed(self, action):
        budget = self._budget()
        started = time.monotonic()
        try:
            return action(budget)
        except WorkerFailure as failure:
            self.events.append(str(failure.message))
            self._timeouts += failure.kind == "timeout"
            raise
        except Exception as exc:  # noqa: BLE001 - the worker's bytes broke the client: this student's problem
            self.close()
            raise Uncheckable(f"reading the worker failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._spent += time.monotonic() - started

    def prestart(self) -> None:
        """Launch this submission's worker and queue its whole plan while the previous one is checked.

        Only waiting is charged to a submission's time limits; a worker that loops while launched
        early is still bounded by its CPU limit and killed when its turn comes and it does not answer.
        """
        if not self._plan.ahead or self._fatal is not None or self._worker is not None or not self._plan.keys:
            return
        self._worker = new_worker(self._zygote, self._slot, self._limits)
        try:
            self._worker.launch(self.submission.cells, self.submission.notebook, self.submission.package, self._setup)
            self._queued = {}
            self._queue_from(None)
        except WorkerFailure:
            self._worker = None  # the normal start will try again and report

    def _start(self) -> None:
        launched = self._worker is not None and self._worker.alive and self._worker.ready is None
        if not launched:
            self.close()
            self._queued = {}
            self._worker = new_worker(self._zygote, self._slot, self._limits)
            self._worker.launch(self.submission.cells, self.submission.notebook, self.submission.package, self._setup)
        if self.next is not None:
            self.next.prestart()
            self.next = None
        submission = self.submission
        try:
            ready = self._timed(lambda budget: self._worker.wait_ready(budget))
        except WorkerFailure as failure:
            # Loading is deterministic: a submission that hangs or dies while loading always will.
            self._fatal = LoadFailure(Message("load.failed", {"reason": failure.message}))
            self._keep_load_output()
            raise self._fatal from None
        # The worker's claimed "layers" are ignored: it can forge them (the runner records the session's).
        first_start, self._loaded = not self._loaded, True
        if first_start:
            self._keep_load_output()
            self.load_errors = [dict(error, message=self._mask.text(error["message"]), advice=self._advice(error))
                                for error in ready.get("load_errors") or []]
        if self.load_errors and not submission.notebook and not self.graded_partially(ready):
            self._fatal = LoadFailure(Message("load.failed", {"reason": load_error_message(self.load_errors[0])}))
            raise self._fatal

    def graded_partially(self, ready: dict) -> bool:
        """A .py that stopped loading is graded on what it defined first, if the policy says so.

        Like a teacher reading the file: the book's own demo lines end with one that raises on
        purpose. A file that defined no function or class before failing has nothing to grade.
        """
        defined = ready.get("defined")
        return self._grade_defined and isinstance(defined, list) and len(defined) > 0

    def _keep_load_output(self) -> None:
        """What the worker printed while loading, its paths masked (see ``grader.layout``). The bytes the
        masks removed are taken off the count too (``close`` adds the worker's raw count), so a shorter
        text is not reported as output left unshown."""
        raw = bytes(self._worker.output)
        self.load_output = self._mask.data(raw)
        self.output_total -= len(raw) - len(self.load_output)

    def _advice(self, error: dict) -> Message | None:
        """What the student can do about a load error (see ``grader.advice``); None when it speaks for itself."""
        submission, runtime = self.submission, self._zygote.runtime
        if error.get("type") == "SyntaxError":
            return advice.for_syntax(_source_of(submission, error), runtime)
        package = self._package.name if self._package else None
        return advice.for_error(str(error.get("type")), str(error.get("message") or ""), runtime, self._allowed,
                                package, submission.package is not None, submission.chosen)

    @property
    def load_failure(self) -> Message | None:
        return self._fatal.message if isinstance(self._fatal, LoadFailure) else None


def load_error_message(error: dict) -> Message:
    """One error the worker reported while loading (type, file, line, message) as a message."""
    line = Message("load.line", {"line": error["line"]}) if error.get("line") else ""
    if error.get("file"):
        line = Message("load.in_file", {"file": error["file"], "line": line})
    text = explained(error)
    return Message("load.error", {"type": str(error.get("type")), "line": line,
                                  "message": Message("load.text", {"text": text}) if text else ""})


def explained(error: dict) -> str | Message:
    """A load error's own text with its advice (see ``StudentHandle._advice``): after the text for a
    syntax error, in its place for an import the grader refuses or a NumPy 2 removal."""
    text = "" if error.get("type") == "SystemExit" else str(error.get("message") or "")
    hint = error.get("advice")
    if hint is None:
        return text
    return Message("load.with_advice", {"text": text, "advice": hint}) if error.get("type") == "SyntaxError" else hint


def _source_of(submission: Submission, error: dict) -> str:
    """The source the error is in: the package's file, the notebook's cell, or the .py."""
    if submission.package and error.get("file") in submission.package["files"]:
        return submission.package["files"][error["file"]]
    cell = error.get("cell")
    if submission.notebook and isinstance(cell, int) and 1 <= cell <= len(submission.cells):
        return submission.cells[cell - 1]
    return submission.cells[0] if submission.cells else ""
