"""Which platform a class download comes from, and its students: ``discover`` / ``discover_all``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from grader.errors import GraderError
from grader.lms.canvas_download import canvas_entries
from grader.lms.gradescope import gradescope_entries
from grader.lms.layouts import Entry, plain_entries
from grader.lms.moodle import is_moodle_folder, moodle_entries


@dataclass
class Discovery:
    """A download split into entries, plus every file that could not be given to a student."""

    layout: str
    entries: list[Entry]
    unattributed: list[str] = field(default_factory=list)


def discover(tree: dict[str, bytes]) -> tuple[str, list[Entry]]:
    """Name the layout and split the tree into entries, sorted by student key."""
    found = discover_all(tree)
    return found.layout, found.entries


def discover_all(tree: dict[str, bytes], *, moodle_teams: bool | None = None) -> Discovery:
    """Like ``discover``, and list the files no student was found for (never dropped silently).

    ``moodle_teams``: a Moodle download of a team assignment, whose folder numbers are group ids;
    ``None`` detects it from a "Default group" folder, which only team downloads have.
    """
    tree = _unwrap(tree)
    for layout, finder in (("gradescope", gradescope_entries), ("canvas", canvas_entries), ("moodle", moodle_entries),
                           ("plain", plain_entries)):
        unattributed: list[str] = []
        entries = (finder(tree, unattributed, moodle_teams) if finder is moodle_entries
                   else finder(tree, unattributed))
        if entries:
            return Discovery(layout, sorted(entries, key=lambda e: e.student), sorted(unattributed))
    raise GraderError("no submissions recognised: expected a Canvas, Moodle or Gradescope download, "
                      "or one .py/.ipynb/folder per student")


def _unwrap(tree: dict[str, bytes]) -> dict[str, bytes]:
    """Drop a single top folder that wraps everything (as zips made from a folder have)."""
    tops = {PurePosixPath(name).parts[0] for name in tree}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in tree):
        top = tops.pop()
        # ... unless that folder is itself one student's (a Gradescope or Moodle submission folder).
        if not top.startswith("submission_") and not is_moodle_folder(top):
            return {name[len(top) + 1:]: data for name, data in tree.items()}
    return tree
