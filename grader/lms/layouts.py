"""What every class download shares: reading it safely, ``Entry``, student keys, plain folders.

Each platform's module (``canvas``, ``moodle``, ``gradescope``) turns its own download into
``Entry`` objects: one student, the ids the LMS uses for them, a late flag, and that student's
files; ``discover`` picks the platform. Nothing here runs or parses student code.
"""
from __future__ import annotations

import hashlib
import io
import re
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
    return tree


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


class Students:
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


def plain_entries(tree: dict[str, bytes], unattributed: list[str]) -> list[Entry]:
    """``<student>.py``, ``<student>.ipynb``, ``<student>.zip`` or ``<student>/...`` at the top."""
    students = Students()
    budget = [MAX_NESTED_ZIP_BYTES]
    for name, data in tree.items():
        parts = PurePosixPath(name).parts
        if len(parts) == 1:
            stem = PurePosixPath(name).stem
            files = _unzip_entry(data, name, budget) if name.lower().endswith(".zip") else {name: data}
        else:
            stem, files = parts[0], {"/".join(parts[1:]): data}
        entry = students.get((stem,), slug(stem), lambda key: Entry(student=key, name=stem))
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


def slug(text: str) -> str:
    """A file-name-safe student key; keeps letters of any script, so Korean names survive."""
    slug = re.sub(r"[^\w.-]+", "_", text.strip(), flags=re.UNICODE).strip("._")
    return slug[:120] or "student"
