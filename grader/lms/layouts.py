"""Recognising class-wide downloads: Canvas, Moodle, Gradescope exports and plain folders.

Each layout turns a tree of files into ``Entry`` objects: one student, the ids the LMS uses
for them, a late flag, and that student's files. Nothing here runs or parses student code.
"""
from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.archives import Unread, read_regular, read_zip, walk
from grader.errors import GraderError, SubmissionError
from grader.submission import MAX_ZIP_BYTES

MAX_TOTAL_BYTES = 2 << 30
MAX_FILE_BYTES = 20 << 20
# What all the students' own zips inside a plain class folder may unzip to, together: each is
# capped at MAX_ZIP_BYTES, and this bounds a class of small zips that each inflate to the cap.
MAX_NESTED_ZIP_BYTES = 256 << 20
_PERSON_IDS = ("canvas_user_id", "canvas_anonymous_id", "moodle_participant", "moodle_group", "sid", "email")
_JUNK = ("__MACOSX", ".DS_Store", "__pycache__", ".ipynb_checkpoints", "Thumbs.db")

# Canvas (content_zipper.rb get_filename): [<sortable name>_][LATE_]<user id | anon_<id>>_ then
# <attachment id>_<file>, or text.html / link.html. The name keeps every [[:word:]] character, so
# underscores and combining marks (Thai, Devanagari, NFD Latin) too; "_<digits>_" is collapsed out
# of it, so the first all-digit part (or "anon_") is the id. "LATE" is upper case, names are not.
_CANVAS = re.compile(r"^(?:(?P<name>.+?)_)??(?:(?P<late>LATE)_)?(?P<uid>\d+|anon_[^\W_]+)_"
                     r"(?:(?P<attachment>\d+)_(?P<file>.+)|(?P<kind>text|link)\.html)$")
# Moodle: "<Full Name>_<participant>_assignsubmission_<plugin>" folders (3.1-4.0 add a trailing "_"),
# or the flat "..._<file>" form. The full name is the student's to choose, so a folder is split at
# its *last* marker (greedy name): a name that embeds another participant's marker stays a name.
# Team downloads (downloader.php get_student_prefix) use "<group>_<group id>" or "Default group".
_MOODLE_FOLDER = re.compile(r"^(?:(?P<name>.+)_(?P<pid>\d+)|(?P<nogroup>Default group))"
                            r"_assignsubmission_(?P<plugin>[a-z]+)_?$")
_MOODLE = re.compile(r"^(?:(?P<name>.+)_(?P<pid>\d+)|(?P<nogroup>Default group))"
                     r"_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<file>.+))?$")


@dataclass
class Entry:
    """One student's submission as found in a download."""

    student: str
    name: str
    ids: dict[str, str] = field(default_factory=dict)
    late: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    submitted_at: str | None = None  # ISO time, when the download says
    warnings: list[str] = field(default_factory=list)  # for the instructor: printed and kept in the result
    # Other members of a group submission (Gradescope submitters, ...): each gets this entry's grade.
    members: list[dict] = field(default_factory=list)

    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return digest.hexdigest()


def read_tree(path: Path) -> dict[str, bytes]:
    """All files below a folder or inside a zip, keyed by POSIX relative path; junk skipped.

    The top folder or zip is the instructor's; everything below it is the students': links and
    special files are never followed, each file read is bounded, and a file that cannot be read
    becomes an ``Unread`` marker, so it is its student's error row rather than the class's.
    """
    path = Path(path)
    if not path.exists():
        raise GraderError(f"{path}: no such file or folder; give the unzipped download or the .zip")
    if path.is_dir():
        tree = _read_folder(path)
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                tree = read_zip(archive, str(path), file_cap=MAX_FILE_BYTES, total_cap=MAX_TOTAL_BYTES, skip=_junk)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise GraderError(f"{path}: not a valid zip file; download it again from the LMS") from None
        except SubmissionError as problem:
            if problem.message.key != "submission.zip_too_large":
                raise GraderError(f"{path}: not a valid zip file; download it again from the LMS") from None
            raise GraderError(f"{path}: unzips to more than {MAX_TOTAL_BYTES >> 30} GiB; split the download") from None
    else:
        raise GraderError(f"{path}: give a folder or a .zip of submissions (use 'grader grade' for one file)")
    if not tree:
        raise GraderError(f"{path}: contains no files; check that the download finished")
    return _unwrap(tree)


def _read_folder(path: Path) -> dict[str, bytes]:
    tree: dict[str, bytes] = {}
    total = 0
    for name, member, info in walk(path):
        if _junk(name):
            continue
        total += info.st_size
        if total > MAX_TOTAL_BYTES:
            raise GraderError(f"{path}: holds more than {MAX_TOTAL_BYTES >> 30} GiB; split the download")
        try:
            tree[name] = read_regular(member, MAX_FILE_BYTES, name, info)
        except SubmissionError as problem:
            # Oversized files are kept as a marker so the student is reported, not silently dropped.
            tree[name] = Unread(problem, fatal=problem.message.key != "submission.too_large")
        except OSError as exc:
            tree[name] = Unread(SubmissionError("unreadable", file=name, problem=exc.strerror or type(exc).__name__))
    return tree


def _junk(name: str) -> bool:
    return any(part in _JUNK or part.startswith(".") for part in PurePosixPath(name).parts)


def _unwrap(tree: dict[str, bytes]) -> dict[str, bytes]:
    """Drop a single top folder that wraps everything (as zips made from a folder have)."""
    tops = {PurePosixPath(name).parts[0] for name in tree}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in tree):
        top = tops.pop()
        if not top.startswith("submission_") and not _MOODLE.match(top) and not _MOODLE_FOLDER.match(top):
            return {name[len(top) + 1:]: data for name, data in tree.items()}
    return tree


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
    for layout, finder in (("gradescope", _gradescope), ("canvas", _canvas), ("moodle", _moodle), ("plain", _plain)):
        unattributed: list[str] = []
        entries = (finder(tree, unattributed, moodle_teams) if finder is _moodle else finder(tree, unattributed))
        if entries:
            return Discovery(layout, sorted(entries, key=lambda e: e.student), sorted(unattributed))
    raise GraderError("no submissions recognised: expected a Canvas, Moodle or Gradescope download, "
                      "or one .py/.ipynb/folder per student")


class _Students:
    """Entries by key, where a key is never shared by two different LMS identities.

    ``identity`` is exactly what the download says about a student (name and id as written);
    the key is a file-name-safe slug of it, so two identities can slug alike ("Alice Smith" and
    "Alice_Smith", or a name crafted to look like another's folder). Files of one identity are
    merged; a second identity with the same key (compared case-insensitively, as some file
    systems do) is never merged: both get a key suffixed with a hash of their identity, and
    both carry a warning for the instructor.
    """

    def __init__(self) -> None:
        self.entries: dict[tuple, Entry] = {}
        self._by_key: dict[str, list[tuple]] = {}

    def get(self, identity: tuple, key: str, make) -> Entry:
        entry = self.entries.get(identity)
        if entry is None:
            entry = self.entries[identity] = make(key)
            self._by_key.setdefault(key.casefold(), []).append(identity)
        return entry

    def finish(self) -> list[Entry]:
        self._same_lms_id()
        for identities in self._by_key.values():
            if len(identities) < 2:
                continue
            clash = [self.entries[i] for i in identities]
            original = ", ".join(sorted(repr(e.name) for e in clash))
            for identity, entry in zip(identities, clash):
                suffix = hashlib.sha256(repr(identity).encode()).hexdigest()[:8]
                entry.student = f"{entry.student}~{suffix}"
                entry.warnings.append(f"student key collision: {original} would share one key; kept apart as "
                                      f"{entry.student} (check which student this is)")
        return list(self.entries.values())

    def _same_lms_id(self) -> None:
        # An LMS id belongs to one person: two identities claiming one (a file name crafted to
        # parse as another participant's) would both reach that person's row in an LMS import.
        claims: dict[tuple[str, str], list[Entry]] = {}
        for entry in self.entries.values():
            for key, value in entry.ids.items():
                if key in _PERSON_IDS:
                    claims.setdefault((key, value), []).append(entry)
        for (key, value), entries in claims.items():
            if len(entries) > 1:
                names = ", ".join(sorted(repr(e.name) for e in entries))
                for entry in entries:
                    entry.warnings.append(f"{key} {value} is claimed by {names}; check which submission is whose "
                                          "before exporting grades")


def _gradescope(tree: dict[str, bytes], unattributed: list[str]) -> list[Entry]:
    # Only the export's own metadata, at its root: a student's file of the same name inside
    # their submission folder must never turn a class into a Gradescope export.
    meta_name = "submission_metadata.yml"
    if meta_name not in tree or isinstance(tree[meta_name], Unread):
        return []
    import yaml

    try:
        metadata = yaml.safe_load(tree[meta_name]) or {}
    except yaml.YAMLError as exc:
        raise GraderError(f"{meta_name}: not valid YAML ({str(exc).splitlines()[0]}); export again from Gradescope") from None
    if not isinstance(metadata, dict):
        raise GraderError(f"{meta_name}: not a Gradescope export's metadata (no submission map); export again")
    students = _Students()
    claimed: set[str] = {meta_name}
    for folder, info in metadata.items():
        info = info if isinstance(info, dict) else {}
        people = info.get(":submitters") or info.get("submitters") or [{}]
        people = [p for p in people if isinstance(p, dict)] if isinstance(people, list) else []
        person, others = (people[0], people[1:]) if people else ({}, [])
        prefix = f"{folder}/"
        files = {name[len(prefix):]: data for name, data in tree.items() if name.startswith(prefix)}
        claimed.update(prefix + name for name in files)
        name = str(person.get(":name") or person.get("name") or folder)
        ids = {"gradescope_submission": str(folder).removeprefix("submission_"), **_gradescope_ids(person)}
        created = info.get(":created_at") or info.get("created_at")
        entry = students.get((str(folder),), _slug(f"{name}_{ids['gradescope_submission']}"),
                             lambda key: Entry(student=key, name=name, ids=ids))
        entry.late = bool(info.get(":late") or info.get("late"))
        entry.files.update(files)
        entry.submitted_at = str(created) if created else None
        # A group submission lists every member: each of them gets the grade, not only the first.
        entry.members = [{"name": str(p.get(":name") or p.get("name") or ""), **_gradescope_ids(p)} for p in others]
    unattributed.extend(name for name in tree if name not in claimed)
    return students.finish()


def _gradescope_ids(person: dict) -> dict[str, str]:
    ids = {}
    for key in ("sid", "email"):
        value = person.get(f":{key}") or person.get(key)
        if value:
            ids[key] = str(value)
    return ids


def _canvas(tree: dict[str, bytes], unattributed: list[str]) -> list[Entry]:
    # A macOS unzip writes names in NFD; Canvas wrote them in NFC (and Ruby's [[:word:]] keeps marks).
    matches = {name: _canvas_match(PurePosixPath(name).name) for name in tree}
    if not tree or sum(m is not None for m in matches.values()) < max(1, len(tree) // 2):
        return []
    students = _Students()
    for name, match in matches.items():
        if match is None:
            unattributed.append(name)
            continue
        uid = match["uid"]
        entry = students.get((match["name"], uid), _slug(f"{match['name']}_{uid}" if match["name"] else uid),
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


def _moodle(tree: dict[str, bytes], unattributed: list[str], teams: bool | None = None) -> list[Entry]:
    students = _Students()
    matches = {}
    for name in tree:
        parts = PurePosixPath(name).parts
        matches[name] = (_MOODLE_FOLDER if len(parts) > 1 else _MOODLE).match(unicodedata.normalize("NFC", parts[0]))
    if teams is None:
        teams = any(m is not None and m["nogroup"] for m in matches.values())
    for name, data in tree.items():
        match, parts = matches[name], PurePosixPath(name).parts
        if match is None or (match["nogroup"] and not teams):
            unattributed.append(name)
            continue
        if match["plugin"] not in ("file", "onlinetext"):
            unattributed.append(name)  # e.g. submission comments: not the student's code
            continue
        inner = "/".join(parts[1:]) or match["file"] or f"{match['plugin']}.html"
        display = (match["name"] or match["nogroup"]).replace("_", " ")
        ids = ({"moodle_group": match["pid"]} if match["pid"] else {}) if teams else {"moodle_participant": match["pid"]}
        label = match["nogroup"] or f"{match['name']}_{match['pid']}"
        # The online-text folder belongs to the same person as the file folder: one identity.
        entry = students.get((teams, match["name"], match["pid"]), _slug(("team_" if teams else "") + label),
                             lambda key: Entry(student=key, name=display, ids=dict(ids)))
        entry.files[inner] = data
    entries = students.finish()
    return entries if len(entries) * 2 >= len({PurePosixPath(n).parts[0] for n in tree}) else []


def _plain(tree: dict[str, bytes], unattributed: list[str]) -> list[Entry]:
    """``<student>.py``, ``<student>.ipynb``, ``<student>.zip`` or ``<student>/...`` at the top."""
    students = _Students()
    budget = [MAX_NESTED_ZIP_BYTES]
    for name, data in tree.items():
        parts = PurePosixPath(name).parts
        if len(parts) == 1:
            stem = PurePosixPath(name).stem
            files = _unzip_entry(data, name, budget) if name.lower().endswith(".zip") else {name: data}
        else:
            stem, files = parts[0], {"/".join(parts[1:]): data}
        entry = students.get((stem,), _slug(stem), lambda key: Entry(student=key, name=stem))
        entry.files.update(files)
    return students.finish()


def _unzip_entry(data: bytes, name: str, budget: list[int]) -> dict[str, bytes]:
    """A student's own zip in a plain class folder, within its cap and the class's shared budget."""
    if isinstance(data, Unread):
        return {name: data}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        cap = min(MAX_ZIP_BYTES, budget[0])
        if sum(i.file_size for i in archive.infolist()) > cap and cap < MAX_ZIP_BYTES:
            return {name: Unread(SubmissionError("class_zip_budget", file=name, mib=MAX_NESTED_ZIP_BYTES >> 20))}
        files = read_zip(archive, name, file_cap=MAX_FILE_BYTES, total_cap=cap, skip=_junk)
    except SubmissionError as problem:
        return {name: Unread(problem)}
    except Exception:  # noqa: BLE001 - a forged zip is its student's problem, never the class's
        return {name: Unread(SubmissionError("bad_zip", file=name))}
    budget[0] -= sum(len(d) for d in files.values())
    return files


def _slug(text: str) -> str:
    """A file-name-safe student key; keeps letters of any script, so Korean names survive."""
    slug = re.sub(r"[^\w.-]+", "_", text.strip(), flags=re.UNICODE).strip("._")
    return slug[:120] or "student"
