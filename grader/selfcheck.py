"""``grader check``: a student runs the public tests on their own file, in their language."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from grader.assignment import Assignment
from grader.errors import GraderError
from grader.grading import grade_files, open_session
from grader.i18n import Message, assignment_title
from grader.summary import plain


def default_file(assignment: Assignment, lang: str, folder: Path | None = None) -> Path:
    folder = folder or Path.cwd()
    for suffix in (".py", ".ipynb"):
        candidate = folder / f"{assignment.template_name}{suffix}"
        if candidate.is_file():
            return candidate
    raise GraderError(Message("selfcheck.no_file", {"name": assignment.template_name}).render(lang))


def run_check(assignment: Assignment, path: Path, lang: str, console: Console | None = None) -> bool:
    """Public tests only, same sandbox and result format as grading; True when all pass."""
    console = console or Console()
    title = assignment_title(str(assignment.root), lang, assignment.title)
    console.print(plain(Message("selfcheck.header", {"file": path.name, "title": title}).render(lang)), highlight=False)
    # A student's laptop may lack root-only sandbox layers, or the sandbox altogether (Windows, macOS):
    # public tests are not secret and the code is the student's own, so run anyway, and say how.
    session = open_session(assignment, [str(path.resolve().parent)], insecure=True, public_only=True, lang=lang)
    try:
        if session.portable is not None:
            console.print(plain(session.portable.render(lang), "yellow"), highlight=False, soft_wrap=True)
        result = grade_files(assignment, [path], insecure=True, public_only=True, session=session)[0]
    finally:
        session.close()
    # What grading tells the student besides the tests, before them, since it happened first and can
    # explain them: why nothing ran, a line that stopped loading, notebook cells skipped, what the
    # code printed. Its first line is the score, which the footer says in its own words.
    for line in result["output"].splitlines()[1:]:
        console.print(plain(line), highlight=False)
    console.print(check_table(result, lang))
    passed = sum(t["status"] == "passed" for t in result["tests"])
    console.print(Message("selfcheck.footer", {"passed": passed, "total": len(result["tests"]),
                                               "score": f"{result['score']:g}", "max": f"{result['max_score']:g}"}
                          ).render(lang), markup=False, highlight=False)
    return passed == len(result["tests"])


def check_table(result: dict, lang: str) -> Table:
    """One row per test (mark, title, points), its feedback below a failed one."""
    table = Table(show_header=False, box=None)
    table.add_column()
    # fold: Rich's default word wrap crops a double-width (Korean) word at the edge to "…"
    table.add_column(overflow="fold")
    table.add_column(justify="right")
    for test in result["tests"]:
        ok = test["status"] == "passed"
        mark = Message("selfcheck.passed" if ok else "selfcheck.failed").render(lang)
        # Names and feedback can carry a student's text: never markup, never escape sequences.
        table.add_row(plain(mark, "green" if ok else "red"), plain(test["name"]),
                      f"{test['score']:g}/{test['max_score']:g}")
        if not ok:
            table.add_row("", plain(f"  {test['output']}"), "")
    return table
