from pathlib import Path

import pytest

from grader.assignment import load_assignment

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "submissions"


@pytest.fixture(scope="session")
def assignment():
    return load_assignment("stage1_autodiff", repo_root=ROOT)


@pytest.fixture(scope="session")
def session(assignment):
    """One sandbox session (zygote + reference) shared by the end-to-end tests."""
    from grader.grading import answer_book
    from grader.runner import Session

    grading = Session(assignment, hide=[str(ROOT)], book=answer_book(assignment))
    yield grading
    grading.close()


@pytest.fixture
def grade(assignment, session):
    """Grade one path (or source text written to a temp file) and return its result dict."""
    from grader.grading import grade_files

    def run(path_or_source, name="submission.py", tmp=None):
        path = Path(path_or_source) if not isinstance(path_or_source, str) else None
        if path is None:
            path = tmp / name
            path.write_text(path_or_source, encoding="utf-8")
        return grade_files(assignment, [path], session=session)[0]

    return run
