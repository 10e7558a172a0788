"""The pytest plugin that runs assignment tests against sandboxed submissions.

One pytest session grades many submissions: every test that asks for ``student`` is
parametrized over them at session scope, so pytest groups the tests per submission and
pays its start-up and collection cost once. Feedback for each test is attached to the
JSON report as metadata, written here so that hidden tests never show their source,
inputs or expected values.
"""
from __future__ import annotations

import functools
import inspect
import re
from pathlib import Path

import pytest

from grader.assignment import Assignment
from grader.checks import CheckFailure
from grader.hints.book import ERROR, PASSED, WRONG
from grader.handles import LoadFailure, ProbePlan, ReferenceHandle, StudentError, StudentHandle
from grader.i18n import Message, assignment_catalogue
from grader.replies import Uncheckable, shown_exception, shown_where
from grader.sandbox import WorkerFailure, Zygote

_PARAM_ID = "sub{}"
PLUGIN = pytest.StashKey["GradingPlugin"]()
_FEEDBACK = pytest.StashKey[str]()
_DESCRIBED = pytest.StashKey[dict]()
_SKIP = pytest.skip.Exception


@pytest.fixture(scope="session")
def student(request: pytest.FixtureRequest):
    """The submission under test (parametrized per submission by ``GradingPlugin``)."""
    handle = request.config.stash[PLUGIN].handles[request.param]
    yield handle
    handle.close()


@pytest.fixture(scope="session")
def reference(request: pytest.FixtureRequest) -> ReferenceHandle:
    """The reference solution, run in this trusted process."""
    return request.config.stash[PLUGIN].reference_handle


class GradingPlugin:
    def __init__(self, assignment: Assignment, submissions: list, zygote: Zygote, slot: int,
                 reference: ReferenceHandle, lang: str = "en", plan: ProbePlan | None = None,
                 keep_answers: bool = False) -> None:
        self.assignment = assignment
        self.lang = lang
        # Every test's answers (recording known bugs), or only those of tests failed on a wrong
        # answer: the ones grader.hints matches against the known bugs' after the session.
        self.keep_answers = keep_answers
        plan = plan or ProbePlan()
        # Consecutive students get two uids of the slot in turn: the next one's worker starts while this
        # one's is still answering (compute-ahead), and where there are no namespaces (a container) both
        # would share /tmp, so under one uid this one could read the next one's file or kill its worker.
        self.handles = [StudentHandle(s, zygote, 2 * slot + index % 2, assignment, plan, reference)
                        for index, s in enumerate(submissions)]
        for current, following in zip(self.handles, self.handles[1:]):
            current.next = following
        self.reference_handle = reference
        self.internal_errors: list[str] = []
        self.broken_collectors: list[str] = []  # test files that failed to import or collect
        self.outcomes: list[dict] = []  # one per graded item run: see _record
        self.ungraded: list[str] = []   # collected tests that do not use ``student``: a broken assignment
        self._hidden_folder = str(assignment.hidden_tests)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "student" in metafunc.fixturenames:
            indices = list(range(len(self.handles)))
            metafunc.parametrize("student", indices, indirect=True, scope="session",
                                 ids=[_PARAM_ID.format(i) for i in indices])

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[PLUGIN] = self
        for line in MARKERS:
            config.addinivalue_line("markers", line)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.ungraded = [item.nodeid for item in items if not _is_graded(item)]
        if self.ungraded:
            items[:] = []  # nothing is graded against a broken assignment (runner.Session.run says why)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # Recorded here rather than in the JSON report's "collectors", which lists every item
        # collected (1,450 per 50 submissions) only for us to look for the failed ones.
        if report.failed:
            self.broken_collectors.append(report.nodeid or "(the test folders)")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Nobody reads the terminal in a grading session (its output goes to a sink), and the
        # terminal reporter handles several hooks per test; outcomes are recorded here (_record).
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            session.config.pluginmanager.unregister(reporter)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        handle = getattr(item, "funcargs", {}).get("student")
        if isinstance(handle, StudentHandle):
            handle.begin_test(self.is_hidden(item))

    def whose(self, item: pytest.Item, error: BaseException) -> BaseException:
        """``error`` as the student's ``Uncheckable`` (logged in their events) or unchanged.

        Whose fault is an unexpected exception while checking? See ``_reference_passes``.
        """
        handle = (getattr(item, "funcargs", None) or {}).get("student")
        if isinstance(error, _EXPECTED) or not isinstance(error, Exception) or not isinstance(handle, StudentHandle):
            return error
        if not isinstance(error, Uncheckable):
            if not self._reference_passes(item):
                return error  # a bug in the test: feedback() records it as an internal error
            error = Uncheckable(f"{type(error).__name__} while checking: {error}")
        handle.events.append(f"{case_id(item)}: the grader could not check this answer: {error.reason}"[:400])
        return error

    def _reference_passes(self, item: pytest.Item) -> bool:
        """Run the test again with the reference answering in the student's place.

        The rule that tells a student's bad answer from a bug in a test: an exception while
        checking student X is X's ("the grader could not check this answer", X's test only)
        when X's reply did not validate (``Uncheckable``, raised before this point) or when the
        very same test passes on the reference's answers; if the test also breaks on the
        reference's answers, the test itself is wrong and stays a loud internal error. Tests
        are trusted code and the reference is deterministic, so the rerun is safe; it costs time
        only when something already went wrong. Without a recorded reference answer (a student
        handout) the rerun cannot tell, and the student's side gets the benefit of the doubt.
        """
        saved = item.funcargs["student"]
        item.funcargs["student"] = _ReferenceAsStudent(self.reference_handle)
        try:
            item.runtest()
        except (CheckFailure, _NoReferenceAnswer):
            return True
        except Exception:  # noqa: BLE001 - the reference breaks the test too
            return False
        finally:
            item.funcargs["student"] = saved
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        """Run a graded item in one call, recording its outcome here.

        pytest's own protocol runs three phases per item, each with its report, hook calls and
        fixture bookkeeping: about 1 ms per item, 30-45 items per submission, more than the
        student's code costs. A graded item needs none of it: its fixtures are ``student``,
        ``reference`` and its own parameters, it has no setup or teardown of its own, and nobody
        reads the terminal. Every other item (ungraded, another fixture, a skip or xfail mark)
        keeps pytest's protocol, and is recorded by ``pytest_runtest_makereport``.
        """
        funcargs = self._lean_funcargs(item)
        if funcargs is None:
            return None
        index = item.callspec.params["student"]
        item.funcargs = {**funcargs, "student": self.handles[index]}
        self.pytest_runtest_call(item)
        try:
            item.runtest()
        except _SKIP:
            self._record(item, None, skipped=True)
        except (Exception, pytest.fail.Exception) as error:  # noqa: BLE001 - a failed test, whatever raised
            self._keep_answers(item, error)
            self._record(item, error)
        else:
            self._keep_answers(item, None)
            self._record(item, None)
        if nextitem is None or getattr(nextitem, "callspec", None) is None \
                or nextitem.callspec.params.get("student") != index:
            self.handles[index].close()  # as the session fixture's teardown does
        return True

    def _lean_funcargs(self, item: pytest.Item) -> dict | None:
        """The item's arguments other than ``student``, if it can run without pytest's protocol."""
        if not _is_graded(item) or any(True for _ in item.iter_markers("skip")) or \
                any(True for _ in item.iter_markers("skipif")) or any(True for _ in item.iter_markers("xfail")):
            return None
        params = item.callspec.params
        funcargs = {}
        for name in _argument_names(item.function):
            if name == "student":
                continue
            if name == "reference":
                funcargs[name] = self.reference_handle
            elif name in params:
                funcargs[name] = params[name]
            else:
                return None  # a fixture of its own: pytest sets it up
        return funcargs

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport | None:
        """A graded test's report (pytest's protocol only), with its one-line feedback as the failure text.

        pytest's own report renders a full traceback for every failure and copies the item's
        keywords for every phase; a batch has thousands of graded items and shows neither.
        Skips (and anything not graded) keep pytest's own report.
        """
        excinfo = call.excinfo
        if not _is_graded(item):
            return None
        skipped = excinfo is not None and isinstance(excinfo.value, _SKIP)
        if call.when == "call" or (call.when == "setup" and excinfo is not None):
            self._record(item, None if skipped or excinfo is None else excinfo.value, skipped=skipped)
        if skipped:
            return None
        if call.when == "call":
            self._keep_answers(item, excinfo.value if excinfo is not None else None)
        longrepr = None
        if excinfo is not None:
            longrepr = f"{excinfo.typename}: {self.feedback_text(item, excinfo.value)}"
        return pytest.TestReport(item.nodeid, item.location, {}, "passed" if excinfo is None else "failed", longrepr,
                                 call.when, duration=call.duration, start=call.start, stop=call.stop,
                                 user_properties=item.user_properties)

    def _record(self, item: pytest.Item, error: BaseException | None, skipped: bool = False) -> None:
        """One graded item's outcome, as the runner reads it (see ``grader.runner.Session.run``)."""
        outcome = dict(self.describe(item), outcome="skipped" if skipped else "passed" if error is None else "failed")
        if error is not None:
            outcome["feedback"] = self.feedback_text(item, error)
        self.outcomes.append(outcome)

    def _keep_answers(self, item: pytest.Item, error: BaseException | None) -> None:
        """How the test ended (passed, a wrong answer, or anything else) and what the student's code
        answered, for the known-bug hints that the session adds once every test has run."""
        handle = getattr(item, "funcargs", {}).get("student")
        if not isinstance(handle, StudentHandle):
            return
        ended = PASSED if error is None else WRONG if isinstance(error, CheckFailure) else ERROR
        if ended == WRONG or self.keep_answers:
            handle.tests[case_id(item)] = (ended, handle.answers)

    def feedback_text(self, item: pytest.Item, error: BaseException) -> str:
        """The rendered feedback for the error that failed ``item``; worked out once, since an error
        the grader does not expect is recorded as an internal error each time it is looked at."""
        text = item.stash.get(_FEEDBACK, None)
        if text is None:
            error = self.whose(item, error)
            message = self.feedback(error, self.is_hidden(item), item.nodeid)
            relied_on = declared_parts(item)["uses"]
            if relied_on and not isinstance(error, LoadFailure):  # names from the trusted test file, never an input
                # (a file that did not load fails every test for that one reason: no other part is to blame)
                message = Message("parts.also_relies_on", {"text": message, "parts": ", ".join(relied_on)})
            text = message.render(self.lang)
            item.stash[_FEEDBACK] = text
        return text

    def describe(self, item: pytest.Item) -> dict:
        """What the report says of a graded item besides its outcome; worked out once per item."""
        described = item.stash.get(_DESCRIBED, None)
        if described is None:
            described = {"submission": item.callspec.params["student"], "test": case_id(item),
                         "title": self.title(item), "hidden": self.is_hidden(item), **declared_parts(item)}
            item.stash[_DESCRIBED] = described
        return described

    def is_hidden(self, item: pytest.Item) -> bool:
        return _is_below(str(item.path), self._hidden_folder)

    def title(self, item: pytest.Item) -> str:
        """The test's title from the assignment's catalogue, plus its own parameters."""
        name = getattr(item, "originalname", item.name)
        titles = assignment_catalogue(str(self.assignment.root), self.lang)
        title = titles.get(f"tests.{name}") or assignment_catalogue(str(self.assignment.root), "en").get(
            f"tests.{name}", name)
        own = case_id(item)
        return f"{title} [{own.split('[', 1)[1]}" if "[" in own else title

    def feedback(self, error: BaseException, hidden: bool, nodeid: str) -> Message:
        """The one message a student sees for a failed test."""
        if isinstance(error, CheckFailure):
            if hidden or error.detail is None:
                return error.prop
            return Message("student.raised_with_message", {"text": error.prop, "message": error.detail})
        if isinstance(error, StudentError):
            return student_error_message(error, hidden, self.assignment.api_names)
        if isinstance(error, (WorkerFailure, LoadFailure)):
            return error.message
        if isinstance(error, Uncheckable):
            return Message("check.could_not_check")
        self.internal_errors.append(f"{nodeid}: {type(error).__name__}: {error}")
        return Message("summary.grader_error")


def student_error_message(error: StudentError, hidden: bool, api: frozenset[str] = frozenset()) -> Message:
    """"Square.backward (line 12) raised TypeError", its text for public tests, and a hint.

    ``api``: the qualified names the reference defines, the only ones a hidden test's feedback shows.
    """
    if error.line and error.cell is not None:
        line = Message("student.at_cell_line", {"cell": error.cell, "line": error.line})
    else:
        line = Message("student.at_line", {"line": error.line}) if error.line else ""
    # Names the student chose could encode a hidden input: see grader.replies.
    where = shown_where(error.where, hidden, api)
    text = Message("student.raised", {"where": where or Message("student.your_code"),
                                      "line": line, "kind": shown_exception(error.kind)})
    # A student's exception text may echo hidden inputs; only public tests show it.
    # NotImplementedError carries the template's TODO text; its hint says the same in the chosen language.
    if not hidden and error.message and error.kind != "NotImplementedError":
        # The worker loads a file as module "submission": the student knows it as their file.
        message = error.advice or error.message.replace("module 'submission' has", "your file has", 1)
        text = Message("student.raised_with_message", {"text": text, "message": message})
    hint = likely_bug(error)
    if hint is not None:
        text = Message("student.raised_with_message", {"text": text, "message": Message(hint)})
    return text


# Probes that set a function's input and output themselves: a missing attribute there is not __call__'s fault.
_PROBES_WITHOUT_CALL = {"backward_alone"}
# "'Square' object has no attribute 'input'": the object's type name, and the attribute.
_MISSING_ATTRIBUTE = re.compile(r"^'([\w.]+)' object has no attribute '(\w+)'")
# A plain number reached the graph (or, for ``generation``, which only stage 2's __call__ reads, an
# ndarray did): the operand was never wrapped with as_variable.
_PLAIN_OPERAND = re.compile(r"^'(?:(?:float|int)' object has no attribute '(?:data|grad|creator|generation)'"
                            r"|numpy\.\w+' object has no attribute 'generation')")
# attribute -> (the hint, the type of object whose missing attribute it explains; None: any but a Variable)
_ATTRIBUTE_HINTS = {"input": ("hint.call_links", None), "output": ("hint.call_links", None),
                    "creator": ("hint.creator", "Variable"), "grad": ("hint.grad_attribute", "Variable")}
_VARIABLE_INIT, _CALL, _BACKWARD = "Variable.__init__", "Function.__call__", "Variable.backward"


def likely_bug(error: StudentError) -> str | None:
    """The hint key for the bug the evidence points to, or None when it points nowhere in particular.

    The exception type alone is not evidence: an AttributeError for ``output`` inside a backward
    that a probe set up by hand is not a broken ``__call__``, and a TypeError from Variable is not
    a missing ``as_array`` unless what Variable was given is a numpy scalar that ``__call__``
    passed. A hint names the part the evidence points to, and is silent rather than wrong. Only a
    fixed set of names is matched, so nothing the student chose is echoed.
    """
    if error.kind == "NotImplementedError":
        return "hint.NotImplementedError"
    if error.kind == "RecursionError" and _BACKWARD in (error.where, error.caller):
        return "hint.RecursionError"
    if error.kind == "TypeError" and error.where == _VARIABLE_INIT:
        return _rejected_value_hint(error)
    if error.kind != "AttributeError":
        return None
    if error.message.startswith("module "):
        # The student's module lacks the name; numpy's lacking one (np.float in NumPy 2) is advice's business.
        missing = "has no attribute" in error.message and not error.message.startswith("module 'numpy")
        return "hint.not_defined" if missing else None
    match = _MISSING_ATTRIBUTE.match(error.message)
    if match is None:
        return None
    owner, attribute = match.groups()
    if owner == "NoneType" and attribute in ("input", "output", "backward"):
        return "hint.none_creator"  # backward took None for a function: a leaf's creator, or one never set
    if _PLAIN_OPERAND.match(error.message):
        return "hint.as_variable"
    hint, explained = _ATTRIBUTE_HINTS.get(attribute, (None, None))
    if hint is None or (explained is not None and owner != explained) or (explained is None and owner == "Variable"):
        return None
    if hint == "hint.call_links" and error.probe in _PROBES_WITHOUT_CALL:
        return None
    return hint


def _rejected_value_hint(error: StudentError) -> str | None:
    """Variable.__init__ raised TypeError: which part gave it what, if the evidence says."""
    if error.received == "numpy scalar" and error.caller == _CALL:
        return "hint.TypeError"       # forward's 0-d result became a numpy scalar and was not wrapped
    if error.received == "None":
        return "hint.call_gave_none" if error.caller == _CALL else "hint.rejects_none"
    return None


class _NoReferenceAnswer(Exception):
    """The reference has no recorded answer for a probe (a handout): the rerun cannot decide."""


class _ReferenceAsStudent:
    """Stands in for a ``StudentHandle`` in a rerun: the reference answers every probe."""

    def __init__(self, reference: ReferenceHandle) -> None:
        self._reference = reference

    def begin_test(self, hidden: bool) -> None:
        pass

    def probe(self, name: str, **args):
        try:
            return self._reference.probe(name, **args)
        except KeyError as exc:
            if getattr(self._reference, "_module", True) is not None:
                raise  # the reference computes answers: a KeyError is a real error
            raise _NoReferenceAnswer(str(exc)) from None


_EXPECTED = (CheckFailure, StudentError, WorkerFailure, LoadFailure)

# A test names the parts of the student's code it measures and the others it relies on (docs/authoring.md);
# ``grader selftest`` proves the declarations by grading the reference with each part removed.
MARKERS = ("needs(*parts): the parts of the student's code this test measures (its title names them), "
           "e.g. needs(\"Exp.forward\")",
           "uses(*parts): other parts of the student's code this test relies on; its feedback names them")


def declared_parts(item: pytest.Item) -> dict[str, list[str]]:
    """``{"needs": [...], "uses": [...]}``: the test's markers (a parameter's own marks included), in order."""
    found: dict[str, list[str]] = {"needs": [], "uses": []}
    for kind, names in found.items():
        for marker in item.iter_markers(kind):
            for name in map(str, marker.args):
                if name not in names:
                    names.append(name)
    return found


@functools.lru_cache(maxsize=1024)
def _argument_names(function) -> tuple[str, ...]:
    """The test function's own parameters (``item.fixturenames`` also holds what its fixtures use)."""
    return tuple(inspect.signature(function).parameters)


@functools.lru_cache(maxsize=256)
def _is_below(path: str, folder: str) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def _is_graded(item: pytest.Item) -> bool:
    """Graded items are the ones parametrized over submissions (they use the ``student`` fixture)."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "student" in callspec.params


def case_id(item: pytest.Item) -> str:
    """The test's own id: function name plus its own parameters, without the submission's."""
    name = getattr(item, "originalname", item.name)
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return name
    student = callspec.params.get("student")
    own = re.sub(rf"(^|-){_PARAM_ID.format(student)}(?=-|$)", "", callspec.id).strip("-")
    return f"{name}[{own}]" if own else name
