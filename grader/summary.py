"""Readable terminal summaries of results."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_result(result: dict, console: Console | None = None, title: str | None = None) -> None:
    console = console or Console()
    table = Table(title=title or result["extra_data"]["submission"], title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("test")
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("message", overflow="fold")
    for test in result["tests"]:
        ok = test["status"] == "passed"
        table.add_row(test["number"], test["name"], f"{test['score']:g}/{test['max_score']:g}",
                      "[green]pass[/]" if ok else "[red]fail[/]", test["output"])
    console.print(table)
    console.print(result["output"], markup=False, highlight=False)
