"""The pytest plugin that runs assignment tests against sandboxed submissions.

One pytest session grades many submissions: every test that asks for ``student`` is
parametrized over them at session scope, so pytest groups the tests per submission and
pays its start-up and collection cost once. Feedback for each test is attached to the
JSON report as metadata, written here so that hidden tests never show their source,
inputs or expected values.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from grader.assignment import Assignment
from grader.checks import CheckFailure
from grader.handles import LoadFailure, ReferenceHandle, StudentError, StudentHandle
from grader.sandbox import WorkerFailure, Zygote

_PARAM_ID = "sub{}"


class GradingPlugin:
    def __init__(self, assignment: Assignment, submissions: list, zygote: Zygote, slot: int,
                 reference: ReferenceHandle) -> None:
        self.assignment = assignment
        self.handles = [StudentHandle(s, zygote, slot, assignment.limits, assignment.test_seconds,
                                      assignment.submission_seconds) for s in submissions]
        self.reference_handle = reference
        self.internal_errors: list[str] = []

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "student" in metafunc.fixturenames:
            indices = list(range(len(self.handles)))
            metafunc.parametrize("student", indices, indirect=True, scope="session",
                                 ids=[_PARAM_ID.format(i) for i in indices])

    @pytest.fixture(scope="session")
    def student(self, request: pytest.FixtureRequest) -> StudentHandle:
        handle = self.handles[request.param]
        yield handle
        handle.close()

    @pytest.fixture(scope="session")
    def reference(self) -> ReferenceHandle:
        return self.reference_handle

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        handle = getattr(item, "funcargs", {}).get("student")
        if isinstance(handle, StudentHandle):
            handle.begin_test()

    def pytest_json_runtest_metadata(self, item: pytest.Item, call: pytest.CallInfo) -> dict:
        if call.when == "teardown":
            return {}
        hidden = self.is_hidden(item)
        meta = {"submission": item.callspec.params.get("student") if hasattr(item, "callspec") else None,
                "test": case_id(item), "title": case_title(item), "hidden": hidden}
        if call.excinfo is not None:
            meta["feedback"] = self.feedback(call.excinfo.value, hidden, item.nodeid)
        return meta

    def is_hidden(self, item: pytest.Item) -> bool:
        return _is_below(str(item.path), str(self.assignment.hidden_tests))

    def feedback(self, error: BaseException, hidden: bool, nodeid: str) -> str:
        """The one message a student sees for a failed test."""
        if isinstance(error, CheckFailure):
            return error.prop if hidden or not error.detail else f"{error.prop}: {error.detail}"
        if isinstance(error, StudentError):
            line = f" (line {error.line})" if error.line else ""
            text = f"{error.where or 'your code'}{line} raised {error.kind}"
            # A student's exception text may echo hidden inputs; only public tests show it.
            return text if hidden or not error.message else f"{text}: {error.message}"
        if isinstance(error, (WorkerFailure, LoadFailure)):
            text = str(error)
            return text if isinstance(error, LoadFailure) else f"your code {text}"
        self.internal_errors.append(f"{nodeid}: {type(error).__name__}: {error}")
        return "this test could not be run because of a grader error; your instructor has been told"


@functools.lru_cache(maxsize=256)
def _is_below(path: str, folder: str) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def case_id(item: pytest.Item) -> str:
    """The test's own id: function name plus its own parameters, without the submission's."""
    name = getattr(item, "originalname", item.name)
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return name
    student = callspec.params.get("student")
    own = re.sub(rf"(^|-){_PARAM_ID.format(student)}(?=-|$)", "", callspec.id).strip("-")
    return f"{name}[{own}]" if own else name


def case_title(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    title = doc.strip().splitlines()[0] if doc.strip() else getattr(item, "originalname", item.name)
    own = case_id(item)
    return f"{title} [{own.split('[', 1)[1]}" if "[" in own else title
