"""Readable terminal summaries of results.

The terminal is an edge where student bytes (output, exception text, names) meet an
interpreter of escape sequences and of Rich markup: every such string goes through ``safe``
(control characters shown as visible ``\\xNN`` escapes) and is handed to Rich as ``Text``,
which is never parsed for markup.
"""
from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.i18n import Message

# C0 controls but newline and tab, DEL, C1 controls (0x9b alone is a CSI on some terminals), and
# the bidirectional overrides that can make shown text read differently from what it is.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """``text`` with every terminal control character made visible, so it cannot drive the terminal."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], str(text))


def plain(text: object, style: str = "") -> Text:
    """Terminal-safe ``Text`` for Rich: no escape sequences, no markup interpretation."""
    return Text(safe(text), style=style)


def print_result(result: dict, console: Console | None = None, title: str | None = None) -> None:
    console = console or Console()
    lang = result["extra_data"].get("language", "en")
    passed, failed = (Message(key).render(lang) for key in ("selfcheck.passed", "selfcheck.failed"))
    table = Table(title=plain(title or result["extra_data"]["submission"]), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("test", overflow="fold")  # the default crops double-width words to "…"
    table.add_column("points", justify="right")
    table.add_column("result")
    table.add_column("message", overflow="fold")
    for test in result["tests"]:
        ok = test["status"] == "passed"
        table.add_row(plain(test["number"]), plain(test["name"]), f"{test['score']:g}/{test['max_score']:g}",
                      plain(passed, "green") if ok else plain(failed, "red"), plain(test["output"]))
    console.print(table)
    console.print(plain(result["output"]), highlight=False)
