"""Loading a submission: a .py, a .ipynb, a folder or a .zip holding one of them.

LMSs rename files, so the gradable file is chosen by a documented rule (see ``choose``), and
every way a submission can be unreadable becomes a one-line ``SubmissionError``.
"""
from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.errors import GraderError, SubmissionError
from grader.notebook import code_cells, read_notebook

GRADABLE = (".py", ".ipynb")
MAX_FILE_BYTES = 5 << 20
MAX_ZIP_BYTES = 50 << 20
_IGNORED_PARTS = ("__MACOSX", "__pycache__", ".ipynb_checkpoints")


@dataclass(frozen=True)
class Submission:
    """The code to grade, as cells (a .py is one cell), plus where it came from."""

    label: str
    chosen: str
    cells: list[str]
    notebook: bool
    sha256: str


def load_submission(path: Path, preferred_stem: str | None = None) -> Submission:
    """Read ``path``; GraderError if it cannot be read at all, SubmissionError if it is not gradable."""
    path = Path(path)
    if not path.exists():
        raise GraderError(f"{path}: no such file or folder; check the path")
    try:
        files = _collect(path)
    except OSError as exc:
        raise GraderError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    name, data = choose(files, preferred_stem, label=str(path))
    return parse(name, data, label=str(path))


def parse(name: str, data: bytes, label: str) -> Submission:
    """Turn one chosen file's bytes into cells."""
    shown = label if label.endswith(name) else f"{label} ({name})"
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError("not_utf8", file=shown, byte=f"{data[exc.start]:02x}", offset=exc.start) from None
    if name.endswith(".ipynb"):
        cells, notebook = code_cells(read_notebook(text, shown)), True
    else:
        cells, notebook = [text], False
    if not any(cell.strip() for cell in cells):
        raise SubmissionError("empty", file=shown)
    return Submission(label=label, chosen=name, cells=cells, notebook=notebook, sha256=digest)


def choose(files: dict[str, bytes], preferred_stem: str | None, label: str) -> tuple[str, bytes]:
    """Pick the gradable file among ``files``.

    Rule, in order: the only .py/.ipynb file; else the one named like the template
    (``preferred_stem``); else the ones defining ``class Variable``; then .py before .ipynb;
    then the largest; ties by name.
    """
    candidates = {n: d for n, d in files.items() if n.lower().endswith(GRADABLE)}
    if not candidates:
        found = ", ".join(sorted(files)[:5]) or "nothing"
        raise SubmissionError("no_code_file", file=label, found=found)
    if len(candidates) == 1:
        return next(iter(candidates.items()))

    def rank(item: tuple[str, bytes]) -> tuple:
        name, data = item
        stem = PurePosixPath(name).stem
        named = bool(preferred_stem) and (stem == preferred_stem or stem.endswith("_" + preferred_stem))
        defines = re.search(rb"^class\s+Variable\b", data, re.M) is not None
        return (not named, not defines, not name.endswith(".py"), -len(data), name)

    return min(candidates.items(), key=rank)


def _collect(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {str(p.relative_to(path)): _read_capped(p) for p in sorted(path.rglob("*"))
                if p.is_file() and not _ignored(p.relative_to(path).parts)}
    if path.suffix.lower() == ".zip":
        return _unzip(path.read_bytes(), str(path))
    return {path.name: _read_capped(path)}


def _read_capped(path: Path) -> bytes:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SubmissionError("too_large", file=str(path), mib=MAX_FILE_BYTES >> 20)
    return path.read_bytes()


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(part in _IGNORED_PARTS or part.startswith(".") for part in parts)


def _unzip(data: bytes, label: str) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if not i.is_dir() and not _ignored(PurePosixPath(i.filename).parts)]
    except zipfile.BadZipFile:
        raise SubmissionError("bad_zip", file=label) from None
    if not entries:
        raise SubmissionError("empty_zip", file=label)
    if sum(i.file_size for i in entries) > MAX_ZIP_BYTES:
        raise SubmissionError("zip_too_large", file=label, mib=MAX_ZIP_BYTES >> 20)
    try:
        return {i.filename: archive.read(i) for i in entries}
    except (zipfile.BadZipFile, RuntimeError, OSError):
        raise SubmissionError("damaged_zip", file=label) from None
