"""Running an assignment's tests over submissions: one pytest session per process.

The zygote is started before any test or reference code is imported, so workers are
forked from a process that never saw them. Outcomes are recorded by the grading plugin.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.assignment import Assignment
from grader.errors import GraderError, SubmissionError
from grader.handles import ProbePlan, ReferenceHandle
from grader.hints.book import AnswerBook, hint_text
from grader.i18n import Message
from grader import plugin as fixtures
from grader.plugin import GradingPlugin
from grader import portable
from grader.sandbox import WorkerFailure, Zygote, missing_essential_layers, probe_layers
from grader.sandbox.interpreter import Runtime
from grader.sandbox.interpreter import prepare as prepare_runtime
from grader.submission import Submission


@dataclass
class TestOutcome:
    test: str
    title: str
    hidden: bool
    passed: bool
    feedback: str
    needs: tuple[str, ...] = ()  # the parts of the student's code the test measures (grader.plugin.MARKERS)
    uses: tuple[str, ...] = ()   # other parts it relies on


@dataclass
class SubmissionRun:
    """Everything the trusted side learned about one submission."""

    submission: Submission | SubmissionError
    outcomes: list[TestOutcome] = field(default_factory=list)
    layers: dict = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    load_output: bytes = b""
    output_total: int = 0
    load_errors: list[dict] = field(default_factory=list)
    load_failure: Message | None = None
    seconds: float = 0.0
    untagged_replies: int = 0
    signs: list[dict] = field(default_factory=list)
    # Recording known bugs only (Session.record): case id -> (how it ended, the answers, in order).
    tests: dict = field(default_factory=dict)


@dataclass
class Session:
    """A zygote plus the reference, reused for every batch of submissions this process grades."""

    assignment: Assignment
    hide: list[str]
    secure: bool = True
    slot: int = 0
    public_only: bool = False
    lang: str = "en"
    compute_ahead: bool = True  # the worker computes while pytest checks: about two cores busy
    book: AnswerBook | None = None  # the known bugs' answers, for hints (grader.hints); None: no hints
    record: bool = False            # keep every test's answers in SubmissionRun.tests (known bugs only)

    def __post_init__(self) -> None:
        # Order matters: the zygote must exist before the reference or any test is imported.
        self.portable: Message | None = None  # why the portable runner is used, when it is
        self.zygote, self.layers = self._start_runner()
        missing = missing_essential_layers(self.layers)
        if missing and self.secure:
            self.zygote.close()
            raise GraderError(f"sandbox layers {', '.join(missing)} are not available on this machine; "
                              "grade as root on Linux, or pass --insecure to grade anyway (results marked)")
        self.reference = ReferenceHandle.for_assignment(self.assignment)
        self.book = self.book or AnswerBook.empty()
        if self.public_only:
            self.book = self.book.public_part()
        self.plan = ProbePlan(self.compute_ahead)  # learnt from every submission this session grades

    def _start_runner(self) -> tuple:
        """The Linux sandbox when it starts; for a student's own check only, a plain child process otherwise."""
        secrets = [self.assignment.root.parent] + ([self.assignment.reference.parent] if self.assignment.reference else [])
        checking = self.public_only and not self.secure
        reason = None
        self.runtime = workers_runtime(self.assignment)
        if sys.platform.startswith("linux") and not (checking and portable.forced()):
            zygote = None
            try:
                zygote = Zygote(str(self.assignment.probes), self.hide + [str(p) for p in secrets], self.runtime)
                return zygote, probe_layers(zygote, self.assignment.limits)
            except (WorkerFailure, OSError, AttributeError) as failure:
                if zygote is not None:
                    zygote.close()
                detail = failure.message.render(self.lang) if isinstance(failure, WorkerFailure) else str(failure)
                if not checking:
                    raise GraderError(f"the Linux sandbox could not start on this machine ({detail}); grading "
                                      "needs it: grade on Linux (as root for every layer)") from None
                reason = "runner.sandbox_failed"
        if not checking:
            raise GraderError(f"grading needs the Linux sandbox, which this machine ({sys.platform}) does not "
                              "have; grade on Linux (as root for every layer)")
        self.portable = Message(reason or ("runner.forced" if portable.forced() else "runner.no_sandbox"),
                                {"platform": sys.platform})
        zygote = portable.PortableZygote(str(self.assignment.probes), self.runtime)
        return zygote, portable.probe_layers(zygote, self.assignment.limits)

    def close(self) -> None:
        self.zygote.close()

    def run(self, submissions: list[Submission | SubmissionError]) -> list[SubmissionRun]:
        plugin = GradingPlugin(self.assignment, submissions, self.zygote, self.slot, self.reference, self.lang,
                               self.plan, keep_answers=self.record)
        _run_pytest(self.assignment, plugin, self.public_only)
        runs = [SubmissionRun(submission=s) for s in submissions]
        for meta in plugin.outcomes:
            runs[meta["submission"]].outcomes.append(TestOutcome(
                test=meta["test"], title=meta["title"], hidden=bool(meta["hidden"]),
                passed=meta["outcome"] == "passed", feedback=meta.get("feedback", ""),
                needs=tuple(meta.get("needs", ())), uses=tuple(meta.get("uses", ()))))
        for run, handle in zip(runs, plugin.handles):
            # The layers probe_layers saw in a worker running no student code, never a worker's own claim.
            run.layers, run.events = dict(self.layers), handle.events
            run.load_output, run.output_total = handle.load_output, handle.output_total
            run.load_errors, run.seconds = handle.load_errors, handle.seconds
            run.load_failure = handle.load_failure
            run.untagged_replies, run.signs = handle.untagged_replies, handle.signs
            self._add_hints(run, handle.tests)
            if self.record:
                run.tests = handle.tests
        if plugin.internal_errors:
            raise GraderError("assignment tests failed inside the grader: " + "; ".join(plugin.internal_errors[:3]))
        return runs


    def _add_hints(self, run: SubmissionRun, tests: dict) -> None:
        """Name the bug where the submission's wrong answers are a known bug's (see grader.hints.book).

        Decided once every test has run, since the whole submission is better evidence than one test.
        """
        try:
            hints = self.book.hints_for(tests)
        except Exception:  # noqa: BLE001 - a hint is a bonus: it must never cost a student their feedback
            return
        for outcome in run.outcomes:
            hint = hints.get(outcome.test)
            if hint is not None and not outcome.passed:
                outcome.feedback = Message("student.raised_with_message", {"text": outcome.feedback, "message": Message(
                    "hint.known_bug", {"hint": hint_text(hint, self.lang)})}).render(self.lang)


def missing_layers_here(assignment: Assignment) -> list[str]:
    """The essential layers a worker on this machine lacks (one throwaway zygote and worker);
    GraderError, in one line, where the sandbox cannot start at all."""
    if not sys.platform.startswith("linux"):
        raise GraderError(f"grading needs the Linux sandbox, which this machine ({sys.platform}) does not "
                          "have; grade on Linux (as root for every layer)")
    try:
        zygote = Zygote(str(assignment.probes), [], workers_runtime(assignment))
    except OSError as exc:
        raise GraderError(f"the Linux sandbox could not start on this machine ({exc}); grade on Linux "
                          "(as root for every layer)") from None
    try:
        return missing_essential_layers(probe_layers(zygote, assignment.limits))
    except WorkerFailure as failure:
        raise GraderError(f"the Linux sandbox could not start on this machine ({failure.message}); grade on "
                          "Linux (as root for every layer)") from None
    finally:
        zygote.close()


def workers_runtime(assignment: Assignment) -> Runtime:
    """The interpreter the assignment's workers run (``[workers] python``) with its allowed packages,
    checked: GraderError, in one line saying what to install, before anything is graded."""
    return prepare_runtime(assignment.worker_python, assignment.allowed_packages)


@contextlib.contextmanager
def _environment(**values: str):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _forget_other_tests(assignment: Assignment) -> None:
    """Drop test modules another assignment folder left in ``sys.modules``.

    pytest's importlib mode names a test file by its path below the rootdir (the assignment folder:
    ``tests.hidden.test_x``) and reuses a module already imported under that name, so a second
    folder with the same layout (a copy of the kit being changed) would silently run the first
    one's tests. This folder's own modules stay: the next chunk of a batch reuses them.
    """
    root = assignment.root.resolve()
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if (name == "tests" or name.startswith("tests.")) and where and not Path(where).resolve().is_relative_to(root):
            del sys.modules[name]


def _run_pytest(assignment: Assignment, plugin: GradingPlugin, public_only: bool) -> None:
    folders = [assignment.public_tests] + ([] if public_only else [assignment.hidden_tests])
    args = [str(f) for f in folders if f.is_dir()] + [
        "-c", os.devnull, "--rootdir", str(assignment.root), "--import-mode=importlib",
        # Per-test plugins that cost a millisecond or more per test and that trusted tests do not need.
        "-p", "no:cacheprovider", "-p", "no:logging", "-p", "no:warnings", "-p", "no:faulthandler",
        "-p", "no:doctest", "-p", "no:unraisableexception", "-p", "no:threadexception",
        "-p", "no:stepwise", "-p", "no:junitxml", "-p", "no:pastebin", "-p", "no:nose", "--capture=no", "--assert=plain", "--tb=no", "-q", "--no-header"]
    _forget_other_tests(assignment)
    sink = io.StringIO()
    # Third-party plugins installed on the machine have no business in a grading session.
    with contextlib.redirect_stdout(sink), _environment(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a reference computation is not news
        code = pytest.main(args, plugins=[plugin, fixtures])
    if plugin.ungraded:
        raise GraderError(f"{plugin.ungraded[0]}: test does not use the 'student' fixture; every graded test must")
    broken = plugin.broken_collectors
    if broken or code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        where = broken[0] if broken else str(assignment.root / "tests")
        raise GraderError(f"{where}: the assignment's tests could not be collected (pytest exit {int(code)}); "
                          "run pytest on that folder to see why")
