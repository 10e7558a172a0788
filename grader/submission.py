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

from grader.archives import Unread, first_problem, read_regular, read_zip, walk
from grader.errors import GraderError, SubmissionError
from grader.notebook import numbered_code_cells, read_notebook

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
    cell_numbers: tuple[int, ...] = ()  # a notebook's code cells' positions among all its cells (Jupyter's view)

    def cell_number(self, index: object) -> object:
        """Jupyter's position of the ``index``-th graded cell (1-based), or ``index`` if unknown."""
        if isinstance(index, int) and not isinstance(index, bool) and 1 <= index <= len(self.cell_numbers):
            return self.cell_numbers[index - 1]
        return index


def load_submission(path: Path, preferred_stem: str | None = None) -> Submission:
    """Read ``path``; GraderError if it cannot be read at all, SubmissionError if it is not gradable.

    ``path`` itself is the instructor's (or Gradescope's) choice and may be a link; nothing
    below it is followed: a link or special file inside a submission makes it an error.
    """
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
    numbers: tuple[int, ...] = ()
    if name.endswith(".ipynb"):
        numbered = numbered_code_cells(read_notebook(text, shown))
        cells, notebook, numbers = [source for _, source in numbered], True, tuple(n for n, _ in numbered)
    else:
        cells, notebook = [text], False
    if not any(cell.strip() for cell in cells):
        raise SubmissionError("empty", file=shown)
    return Submission(label=label, chosen=name, cells=cells, notebook=notebook, sha256=digest, cell_numbers=numbers)


def choose(files: dict[str, bytes], preferred_stem: str | None, label: str) -> tuple[str, bytes]:
    """Pick the gradable file among ``files``.

    Rule, in order: the only .py/.ipynb file; else the one named like the template
    (``preferred_stem``); else the ones defining ``class Variable``; then .py before .ipynb;
    then the largest; ties by name.
    """
    problem = first_problem(files)
    if problem is not None:
        raise problem
    candidates = {n: d for n, d in files.items() if n.lower().endswith(GRADABLE)}
    if not candidates:
        found = ", ".join(sorted(files)[:5]) or "nothing"
        raise SubmissionError("no_code_file", file=label, found=found)
    if len(candidates) == 1:
        return _readable(next(iter(candidates.items())))

    def rank(item: tuple[str, bytes]) -> tuple:
        name, data = item
        stem = PurePosixPath(name).stem
        named = bool(preferred_stem) and (stem == preferred_stem or stem.endswith("_" + preferred_stem))
        defines = re.search(rb"^class\s+Variable\b", data, re.M) is not None
        return (not named, not defines, not name.endswith(".py"), -len(data), name)

    return _readable(min(candidates.items(), key=rank))


def _readable(item: tuple[str, bytes]) -> tuple[str, bytes]:
    if isinstance(item[1], Unread):
        raise item[1].problem  # the chosen file was too large to read
    return item


def _collect(path: Path) -> dict[str, bytes]:
    label, path = str(path), path.resolve()  # the given path may be a link; nothing inside it is followed
    if path.is_dir():
        files = {}
        for name, member, info in walk(path):
            if not _ignored(PurePosixPath(name).parts):
                files[name] = read_regular(member, MAX_FILE_BYTES, f"{label}/{name}", info)
        return files
    if path.suffix.lower() == ".zip":
        return _unzip(read_regular(path, MAX_ZIP_BYTES, label, path.stat()), label)
    return {path.name: read_regular(path, MAX_FILE_BYTES, label, path.stat())}


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(part in _IGNORED_PARTS or part.startswith(".") for part in parts)


def _unzip(data: bytes, label: str) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - BadZipFile, but also ValueError/EOFError on forged headers
        raise SubmissionError("bad_zip", file=label) from None
    files = read_zip(archive, label, file_cap=MAX_FILE_BYTES, total_cap=MAX_ZIP_BYTES,
                     skip=lambda name: _ignored(PurePosixPath(name).parts))
    if not files:
        raise SubmissionError("empty_zip", file=label)
    return files
