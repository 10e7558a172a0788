"""Readable terminal summaries of results."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from grader.i18n import Message


def print_result(result: dict, console: Console | None = None, title: str | None = None) -> None:
    console = console or Console()
    lang = result["extra_data"].get("language", "en")
    passed, failed = (Message(key).render(lang) for key in ("selfcheck.passed", "selfcheck.failed"))
    table = Table(title=title or result["extra_data"]["submission"], title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("test")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("message", overflow="fold")
    for test in result["tests"]:
        ok = test["status"] == "passed"
        table.add_row(test["number"], test["name"], f"{test['score']:g}/{test['max_score']:g}",
                      f"[green]{passed}[/]" if ok else f"[red]{failed}[/]", test["output"])
    console.print(table)
    console.print(result["output"], markup=False, highlight=False)
