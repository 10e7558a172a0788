"""Canvas's "Download Submissions" zip: which student each file belongs to.

Sources for each rule are the Canvas files named beside it (content_zipper.rb); the table in docs/lms.md
lists them. Apart from ``grader.lms.canvas`` (grade upload) so that reading a class, which every batch
does, does not load an HTTP client.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

from grader.lms.layouts import Entry, Students, slug

# Canvas (content_zipper.rb get_filename): [<sortable name>_][LATE_]<user id | anon_<id>>_ then
# <attachment id>_<file>, or text.html / link.html. The name keeps every [[:word:]] character, so
# underscores and combining marks (Thai, Devanagari, NFD Latin) too; "_<digits>_" is collapsed out
# of it, so the first all-digit part (or "anon_") is the id. "LATE" is upper case, names are not.
_CANVAS = re.compile(r"^(?:(?P<name>.+?)_)??(?:(?P<late>LATE)_)?(?P<uid>\d+|anon_[^\W_]+)_"
                     r"(?:(?P<attachment>\d+)_(?P<file>.+)|(?P<kind>text|link)\.html)$")


def canvas_entries(tree: dict[str, bytes], unattributed: list[str]) -> list[Entry]:
    # A macOS unzip writes names in NFD; Canvas wrote them in NFC (and Ruby's [[:word:]] keeps marks).
    matches = {name: _canvas_match(PurePosixPath(name).name) for name in tree}
    if not tree or sum(m is not None for m in matches.values()) < max(1, len(tree) // 2):
        return []
    students = Students()
    for name, match in matches.items():
        if match is None:
            unattributed.append(name)
            continue
        uid = match["uid"]
        entry = students.get((match["name"], uid), slug(f"{match['name']}_{uid}" if match["name"] else uid),
                             lambda key: Entry(student=key, name=match["name"] or uid, ids=_canvas_ids(uid)))
        entry.late = entry.late or bool(match["late"])
        entry.files[match["file"] or f"{match['kind']}.html"] = tree[name]
    return students.finish()


def _canvas_match(file_name: str) -> re.Match | None:
    match = _CANVAS.match(unicodedata.normalize("NFC", file_name))
    if match is None or (match["name"] and not all(_word_char(c) for c in match["name"])):
        return None
    return match


def _word_char(char: str) -> bool:
    """Ruby's [[:word:]]: letters, marks, digits and the underscore (Python's \\w lacks the marks)."""
    return char == "_" or char.isalnum() or unicodedata.category(char).startswith("M")


def _canvas_ids(uid: str) -> dict[str, str]:
    return {"canvas_anonymous_id": uid.removeprefix("anon_")} if uid.startswith("anon_") else {"canvas_user_id": uid}
