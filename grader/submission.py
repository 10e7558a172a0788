"""Loading a submission: a .py, a .ipynb, a folder or a .zip holding one of them.

LMSs rename files, so the gradable file is chosen by a documented rule (see ``choose``), and
every way a submission can be unreadable becomes a one-line ``SubmissionError``.
"""
from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from grader.archives import Unread, first_problem, read_regular, read_zip, walk
from grader.errors import GraderError, SubmissionError
from grader.notebook import numbered_code_cells, read_notebook

GRADABLE = (".py", ".ipynb")
MAX_FILE_BYTES = 5 << 20
MAX_ZIP_BYTES = 50 << 20
_IGNORED_PARTS = ("__MACOSX", "__pycache__", ".ipynb_checkpoints")
MAX_PACKAGE_FILES = 64
# A package file the worker may write and import: identifiers joined by "/", ending in .py
# (no "..", no absolute path, nothing outside the package's folder).
_IMPORTABLE = re.compile(r"^[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*\.py$", re.ASCII)


_MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)


@dataclass(frozen=True)
class PackageShape:
    """What a package submission is (``[load] package`` and ``modules`` in assignment.toml).

    ``name`` is the package's folder ("dezero"); the probes see one namespace of ``modules``'
    public names, an earlier module winning a clash (a single-file submission is that namespace).
    """

    name: str
    modules: tuple[str, ...]

    @classmethod
    def configured(cls, package: str, modules: Sequence[str] | None = None) -> "PackageShape":
        """``package`` as assignment.toml writes it: "dezero" (the probes see ``modules``, by default the
        package itself), or stage 2's dotted "dezero.core_simple" (the package is its first part, and
        the probes see that one module). ValueError, in words, for anything else."""
        package = str(package)
        if not _MODULE.fullmatch(package):
            raise ValueError(f"load.package = '{package}' must name a package ('dezero') or a module of one "
                             "('dezero.core_simple')")
        name = package.split(".")[0]
        if modules is not None and "." in package:
            raise ValueError(f"load.package = '{package}' names a module, and load.modules is set too: write "
                             f"package = '{name}' and list the modules in load.modules")
        modules = [str(m) for m in modules] if modules is not None else [package]
        wrong = [m for m in modules if not _MODULE.fullmatch(m) or m.split(".")[0] != name]
        if not modules or wrong:
            raise ValueError(f"load.modules must list modules of the package '{name}' ('{name}', '{name}.functions'"
                             f"){': not ' + repr(wrong[0]) if wrong else ''}")
        return cls(name, tuple(modules))

    def module_file(self, module: str) -> str:
        """The file of ``module`` relative to the folder holding the package ("dezero/core_simple.py")."""
        if module == self.name:
            return f"{self.name}/__init__.py"
        return module.replace(".", "/") + ".py"


@dataclass(frozen=True)
class Submission:
    """The code to grade, as cells (a .py is one cell), plus where it came from."""

    label: str
    chosen: str
    cells: list[str]
    notebook: bool
    sha256: str
    # The book's package shape: {"name": "dezero", "modules": ["dezero.core_simple"], "files": {relative
    # path: source}}. The worker imports the package; ``cells`` then holds its first module's own source.
    package: dict | None = None
    cell_numbers: tuple[int, ...] = ()  # a notebook's code cells' positions among all its cells (Jupyter's view)

    def cell_number(self, index: object) -> object:
        """Jupyter's position of the ``index``-th graded cell (1-based), or ``index`` if unknown."""
        if isinstance(index, int) and not isinstance(index, bool) and 1 <= index <= len(self.cell_numbers):
            return self.cell_numbers[index - 1]
        return index


def load_submission(path: Path, preferred_stem: str | None = None,
                    package: PackageShape | str | None = None) -> Submission:
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
    return select(files, preferred_stem, str(path), package)


def load_upload(name: str, data: bytes, preferred_stem: str | None = None, package: PackageShape | str | None = None) -> Submission:
    """An uploaded file's bytes, read as ``load_submission`` reads that file from disk: a .zip is
    unzipped with the same bounded reads, a .py or .ipynb is taken as it is, both under the same caps.

    ``name`` is the upload's (already sanitised) file name; it decides zip or not and labels feedback.
    """
    if name.lower().endswith(".zip"):
        if len(data) > MAX_ZIP_BYTES:
            raise SubmissionError("too_large", file=name, mib=MAX_ZIP_BYTES >> 20)
        return select(_unzip(data, name), preferred_stem, name, package)
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionError("too_large", file=name, mib=MAX_FILE_BYTES >> 20)
    return select({name: data}, preferred_stem, name, package)


def select(files: dict[str, bytes], preferred_stem: str | None, label: str,
           package: PackageShape | str | None = None) -> Submission:
    """The submission among ``files``: a file named like the template, else the package (when the
    assignment accepts one), else the file ``choose`` picks."""
    if isinstance(package, str):
        package = PackageShape.configured(package)
    if package and not _named_like(files, preferred_stem) and first_problem(files) is None:
        found = find_package(files, package)
        if found is not None:
            return parse_package(found, package, label)
    name, data = choose(files, preferred_stem, label=label)
    return parse(name, data, label=label)


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


def _is_named(name: str, preferred_stem: str | None) -> bool:
    stem = PurePosixPath(name).stem
    return bool(preferred_stem) and (stem == preferred_stem or stem.endswith("_" + preferred_stem))


def _named_like(files: dict[str, bytes], preferred_stem: str | None) -> bool:
    return any(n.lower().endswith(GRADABLE) and _is_named(n, preferred_stem) for n in files)


def find_package(files: dict[str, bytes], package: PackageShape | str) -> dict[str, bytes] | None:
    """The .py files of the package, relative to the folder that holds it, or None if there is none.

    The package is a folder named ``package.name`` holding ``__init__.py``: one holding the first of
    its modules before one that does not (a stray ``dezero/__init__.py`` beside the real package),
    then the shallowest if a zip nests it (the book's repository). The package folder itself may be
    what was given.
    """
    if isinstance(package, str):
        package = PackageShape.configured(package)
    top, first = package.name, package.module_file(package.modules[0])
    if "__init__.py" in files and first.split("/", 1)[-1] in files:  # the package folder itself was given
        files = {f"{top}/{name}": data for name, data in files.items()}
    marker = f"{top}/__init__.py"
    prefixes = {name[: len(name) - len(marker)] for name in files if name == marker or name.endswith("/" + marker)}
    for prefix in sorted(prefixes, key=lambda p: (f"{p}{first}" not in files, p.count("/"), p)):
        return {name[len(prefix):]: data for name, data in files.items()
                if name.startswith(f"{prefix}{top}/") and _IMPORTABLE.match(name[len(prefix):])}
    return None


def parse_package(files: dict[str, bytes], package: PackageShape, label: str) -> Submission:
    """A package as one submission: every .py decoded, its first module's source as its one cell."""
    unread = next((data for data in files.values() if isinstance(data, Unread)), None)
    if unread is not None:
        raise unread.problem  # a package file too large to read
    if len(files) > MAX_PACKAGE_FILES or sum(map(len, files.values())) > MAX_FILE_BYTES:
        raise SubmissionError("package_too_large", file=label, count=MAX_PACKAGE_FILES, mib=MAX_FILE_BYTES >> 20,
                              package=package.name)
    digest = hashlib.sha256()
    sources = {}
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
        try:
            sources[name] = files[name].decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SubmissionError("not_utf8", file=f"{label} ({name})", byte=f"{files[name][exc.start]:02x}",
                                  offset=exc.start) from None
    chosen = package.module_file(package.modules[0])
    if not any(source.strip() for source in sources.values()):
        raise SubmissionError("empty", file=f"{label} ({package.name}/)")
    return Submission(label=label, chosen=chosen, cells=[sources.get(chosen, "")], notebook=False,
                      sha256=digest.hexdigest(),
                      package={"name": package.name, "modules": list(package.modules), "files": sources})


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
