"""Recognising class-wide downloads: Canvas, Moodle, Gradescope exports and plain folders.

Each layout turns a tree of files into ``Entry`` objects: one student, the ids the LMS uses
for them, a late flag, and that student's files. Nothing here runs or parses student code.
"""
from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.errors import GraderError

MAX_TOTAL_BYTES = 2 << 30
MAX_FILE_BYTES = 20 << 20
_JUNK = ("__MACOSX", ".DS_Store", "__pycache__", ".ipynb_checkpoints", "Thumbs.db")

# Canvas: <sortablename>[_LATE]_<userid|anon_id>_<attachmentid>_<filename>; name omitted when anonymous.
_CANVAS = re.compile(r"^(?:(?P<name>[^\W_]+)_)?(?:(?P<late>LATE)_)?(?P<uid>\d+|anon_[A-Za-z0-9]+)_"
                     r"(?:(?P<attachment>\d+)_(?P<file>.+)|(?P<kind>text|link)\.html)$")
# Moodle: "<Full Name>_<participant>_assignsubmission_<plugin>" folders, or the flat "..._<file>" form.
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>file|onlinetext)(?:_(?P<file>.+))?$")


@dataclass
class Entry:
    """One student's submission as found in a download."""

    student: str
    name: str
    ids: dict[str, str] = field(default_factory=dict)
    late: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    submitted_at: str | None = None  # ISO time, when the download says

    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return digest.hexdigest()


def read_tree(path: Path) -> dict[str, bytes]:
    """All files below a folder or inside a zip, keyed by POSIX relative path; junk skipped."""
    path = Path(path)
    if not path.exists():
        raise GraderError(f"{path}: no such file or folder; give the unzipped download or the .zip")
    if path.is_dir():
        files = {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*")) if p.is_file()}
        tree = {name: _capped(p.read_bytes, p.stat().st_size, name) for name, p in files.items() if not _junk(name)}
    elif path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
            infos = [i for i in archive.infolist() if not i.is_dir() and not _junk(i.filename)]
            if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
                raise GraderError(f"{path}: unzips to more than {MAX_TOTAL_BYTES >> 30} GiB; split the download")
            tree = {i.filename: _capped(lambda i=i: archive.read(i), i.file_size, i.filename) for i in infos}
        except zipfile.BadZipFile:
            raise GraderError(f"{path}: not a valid zip file; download it again from the LMS") from None
    else:
        raise GraderError(f"{path}: give a folder or a .zip of submissions (use 'grader grade' for one file)")
    if not tree:
        raise GraderError(f"{path}: contains no files; check that the download finished")
    return _unwrap(tree)


def _capped(read, size: int, name: str) -> bytes:
    # Oversized files are kept as a marker so the student is reported, not silently dropped.
    return read() if size <= MAX_FILE_BYTES else b"\0oversized\0"


def _junk(name: str) -> bool:
    return any(part in _JUNK or part.startswith(".") for part in PurePosixPath(name).parts)


def _unwrap(tree: dict[str, bytes]) -> dict[str, bytes]:
    """Drop a single top folder that wraps everything (as zips made from a folder have)."""
    tops = {PurePosixPath(name).parts[0] for name in tree}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in tree):
        top = tops.pop()
        if not top.startswith("submission_") and not _MOODLE.match(top):
            return {name[len(top) + 1:]: data for name, data in tree.items()}
    return tree


def discover(tree: dict[str, bytes]) -> tuple[str, list[Entry]]:
    """Name the layout and split the tree into entries, sorted by student key."""
    for layout, finder in (("gradescope", _gradescope), ("canvas", _canvas), ("moodle", _moodle), ("plain", _plain)):
        entries = finder(tree)
        if entries:
            return layout, sorted(entries, key=lambda e: e.student)
    raise GraderError("no submissions recognised: expected a Canvas, Moodle or Gradescope download, "
                      "or one .py/.ipynb/folder per student")


def _gradescope(tree: dict[str, bytes]) -> list[Entry]:
    meta_name = next((n for n in tree if PurePosixPath(n).name == "submission_metadata.yml"), None)
    if meta_name is None:
        return []
    import yaml

    try:
        metadata = yaml.safe_load(tree[meta_name]) or {}
    except yaml.YAMLError as exc:
        raise GraderError(f"{meta_name}: not valid YAML ({str(exc).splitlines()[0]}); export again from Gradescope") from None
    root = str(PurePosixPath(meta_name).parent)
    root = "" if root == "." else root + "/"
    entries = []
    for folder, info in metadata.items():
        info = info if isinstance(info, dict) else {}
        people = info.get(":submitters") or info.get("submitters") or [{}]
        person = people[0] if isinstance(people[0], dict) else {}
        prefix = f"{root}{folder}/"
        files = {name[len(prefix):]: data for name, data in tree.items() if name.startswith(prefix)}
        name = str(person.get(":name") or person.get("name") or folder)
        ids = {"gradescope_submission": str(folder).removeprefix("submission_")}
        for key in ("sid", "email"):
            value = person.get(f":{key}") or person.get(key)
            if value:
                ids[key] = str(value)
        created = info.get(":created_at") or info.get("created_at")
        entries.append(Entry(student=_slug(f"{name}_{ids['gradescope_submission']}"), name=name, ids=ids,
                             late=bool(info.get(":late") or info.get("late")), files=files,
                             submitted_at=str(created) if created else None))
    return entries


def _canvas(tree: dict[str, bytes]) -> list[Entry]:
    matches = {name: _CANVAS.match(PurePosixPath(name).name) for name in tree}
    if not tree or sum(m is not None for m in matches.values()) < max(1, len(tree) // 2):
        return []
    entries: dict[str, Entry] = {}
    for name, match in matches.items():
        if match is None:
            continue
        uid = match["uid"]
        key = _slug(f"{match['name']}_{uid}" if match["name"] else uid)
        entry = entries.setdefault(key, Entry(student=key, name=match["name"] or uid, ids=_canvas_ids(uid)))
        entry.late = entry.late or bool(match["late"])
        entry.files[match["file"] or f"{match['kind']}.html"] = tree[name]
    return list(entries.values())


def _canvas_ids(uid: str) -> dict[str, str]:
    return {"canvas_anonymous_id": uid.removeprefix("anon_")} if uid.startswith("anon_") else {"canvas_user_id": uid}


def _moodle(tree: dict[str, bytes]) -> list[Entry]:
    entries: dict[str, Entry] = {}
    for name, data in tree.items():
        parts = PurePosixPath(name).parts
        match = _MOODLE.match(parts[0])
        if match is None:
            continue
        inner = "/".join(parts[1:]) or match["file"] or f"{match['plugin']}.html"
        key = _slug(f"{match['name']}_{match['pid']}")
        entry = entries.setdefault(key, Entry(student=key, name=match["name"].replace("_", " "),
                                              ids={"moodle_participant": match["pid"]}))
        entry.files[inner] = data
    return list(entries.values()) if len(entries) * 2 >= len({PurePosixPath(n).parts[0] for n in tree}) else []


def _plain(tree: dict[str, bytes]) -> list[Entry]:
    """``<student>.py``, ``<student>.ipynb``, ``<student>.zip`` or ``<student>/...`` at the top."""
    entries: dict[str, Entry] = {}
    for name, data in tree.items():
        parts = PurePosixPath(name).parts
        if len(parts) == 1:
            stem = PurePosixPath(name).stem
            files = _unzip_entry(data, name) if name.lower().endswith(".zip") else {name: data}
        else:
            stem, files = parts[0], {"/".join(parts[1:]): data}
        entry = entries.setdefault(_slug(stem), Entry(student=_slug(stem), name=stem))
        entry.files.update(files)
    return list(entries.values())


def _unzip_entry(data: bytes, name: str) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        return {i.filename: archive.read(i) for i in archive.infolist()
                if not i.is_dir() and not _junk(i.filename) and i.file_size <= MAX_FILE_BYTES}
    except (zipfile.BadZipFile, RuntimeError, OSError):
        return {name: data}  # choose() will report that nothing inside is gradable


def _slug(text: str) -> str:
    """A file-name-safe student key; keeps letters of any script, so Korean names survive."""
    slug = re.sub(r"[^\w.-]+", "_", text.strip(), flags=re.UNICODE).strip("._")
    return slug[:120] or "student"
