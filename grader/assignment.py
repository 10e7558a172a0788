"""Assignment configuration: where the tests, probes and reference are, points and limits."""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from grader.compat import tomllib
from grader.errors import GraderError
from grader.sandbox import Limits
from grader.submission import PackageShape

CONFIG_NAME = "assignment.toml"
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
LOAD_POLICIES = ("grade_defined", "zero")


@dataclass(frozen=True)
class SelftestSettings:
    """``[selftest]``: how sharp the hidden tests must prove to be (see docs/selftest.md)."""

    mutation_threshold: float = 0.9   # share of non-equivalent mutants the tests must kill
    min_mutants: int = 30             # fewer means the generator or the regions broke
    mutant_test_seconds: float = 2.0  # tighter deadlines for mutants: some loop forever
    mutant_submission_seconds: float = 5.0
    hint_threshold: float = 0.8       # share of the known bugs' wrong-answer fingerprints a hint must name


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    version: str
    root: Path
    reference: Path | None  # the solution; absent in a student handout
    expected: Path | None   # recorded reference answers for the public tests (handouts)
    probes: Path
    template_name: str
    points: dict[str, float]
    submission_seconds: float
    test_seconds: float
    limits: Limits
    visibility: dict[str, str]
    language: str | None  # None: the student's locale decides (i18n.choose_language)
    due: datetime | None
    late_policy: dict | None = None  # percent_per_day, max_percent, grace_hours
    # A probe's deadline: max(floor, factor x the reference's time for the same probe), within test_seconds.
    floor_seconds: float = 1.0
    reference_factor: float = 100.0
    load_on_error: str = "grade_defined"  # or "zero": a .py whose module-level code raises scores 0
    selftest: SelftestSettings = SelftestSettings()
    # [load] package and modules: the package a submission may be ("dezero"; stage 2's "dezero.core_simple"
    # means the package dezero, its probes seeing core_simple) and the modules the probes see.
    package: PackageShape | None = None
    # [load] setup: functions of the probes' namespace the worker calls once it is loaded, as the book's
    # dezero/__init__.py calls setup_variable() (only while is_simple_core is True, so its complete
    # package never calls core_simple's).
    load_setup: tuple[str, ...] = ()
    # [packages] allowed: third-party modules a submission may import besides numpy (and the stdlib).
    allowed_packages: tuple[str, ...] = ()
    # [workers] python: the interpreter workers run student code with ("3.12" or a path); None: the grader's.
    worker_python: str | None = None
    # [parts] everywhere: the parts of the student's code every test relies on (grader.parts).
    parts_everywhere: tuple[str, ...] = ()

    @property
    def public_tests(self) -> Path:
        return self.root / "tests" / "public"

    @property
    def hidden_tests(self) -> Path:
        return self.root / "tests" / "hidden"

    def points_for(self, test_name: str) -> float | None:
        """Points of one test case: by its full id (``test_x[case]``) or its function name."""
        if test_name in self.points:
            return self.points[test_name]
        return self.points.get(test_name.split("[", 1)[0])

    @functools.cached_property
    def _fingerprint(self) -> str:
        return self._hash_inputs()

    def fingerprint(self) -> str:
        """Hash of everything that decides a score; computed once per loaded assignment."""
        return self._fingerprint

    @functools.cached_property
    def api_names(self) -> frozenset[str]:
        """Qualified names of the classes, functions and methods the reference defines ("Variable",
        "Variable.__init__", "square"): the names hidden tests' feedback may show."""
        if self.reference is None:
            return frozenset()
        names: set[str] = set()

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(prefix + child.name)
                    if isinstance(child, ast.ClassDef):
                        visit(child, f"{prefix}{child.name}.")

        visit(ast.parse(self.reference.read_text(encoding="utf-8")), "")
        return frozenset(names)

    def _hash_inputs(self) -> str:
        """Hash of everything that decides a score: config, tests, probes and reference."""
        digest = hashlib.sha256()
        files = [self.root / CONFIG_NAME, self.probes] + [p for p in (self.reference, self.expected) if p]
        files += sorted(p for p in self.root.joinpath("tests").rglob("*.py"))
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()


def find_repo_root(start: Path | None = None) -> Path:
    """The folder holding ``assignments/``: $GRADER_HOME, else the nearest one above the cwd (a kit
    checkout, or an unzipped handout), else the kit this ``grader`` was installed from."""
    if os.environ.get("GRADER_HOME"):
        home = Path(os.environ["GRADER_HOME"]).resolve()
        if not (home / "assignments").is_dir():
            raise GraderError(f"GRADER_HOME={home}: no assignments/ folder there; point it at the kit's folder")
        return home
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "assignments").is_dir():
            return folder
    kit = installed_kit()
    if kit is not None:
        return kit
    raise GraderError("no assignments/ folder here or above, and the installed grader does not know its kit: "
                      "run from the kit's folder or set GRADER_HOME to it")


def installed_kit() -> Path | None:
    """The kit folder ``grader`` runs from (a checkout) or was ``pip install``-ed from; for a handout's
    checker, the handout folder its ``grader-kit/`` was installed from (it holds ``assignments/``).

    pip records a local install's source folder in the distribution's ``direct_url.json``
    (PEP 610), editable or not; a kit installed any other way has none, and GRADER_HOME says.
    """
    candidates = [Path(__file__).resolve().parent.parent]
    for distribution, handout in (("dezero-autograder", False), ("dezero-autograder-check", True)):
        source = _installed_from(distribution)
        if source is not None:
            candidates += [source, source.parent] if handout else [source]
    for folder in candidates:
        if (folder / "assignments").is_dir():
            return folder.resolve()
    return None


def _installed_from(distribution: str) -> Path | None:
    """The local folder pip installed ``distribution`` from, or None."""
    from importlib import metadata

    try:
        record = json.loads(metadata.distribution(distribution).read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError, OSError, TypeError):
        return None
    url = record.get("url", "") if isinstance(record, dict) else ""
    if isinstance(url, str) and url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    return None


def list_assignments(repo_root: Path) -> list[Path]:
    return sorted(p.parent for p in (repo_root / "assignments").glob(f"*/{CONFIG_NAME}"))


def load_assignment(name: str | None = None, repo_root: Path | None = None) -> Assignment:
    """Load by id or folder path; with one assignment in the kit, ``name`` may be omitted."""
    if name and Path(name, CONFIG_NAME).is_file():
        return _parse(Path(name).resolve())
    root = repo_root or find_repo_root()
    folders = list_assignments(root)
    if name is None:
        if len(folders) != 1:
            ids = ", ".join(f.name for f in folders) or "none"
            raise GraderError(f"{root / 'assignments'}: choose one with -a (found: {ids})")
        return _parse(folders[0])
    for folder in folders:
        if folder.name == name:
            return _parse(folder)
    ids = ", ".join(f.name for f in folders) or "none"
    raise GraderError(f"unknown assignment '{name}': known ones are {ids}")


def _parse(folder: Path) -> Assignment:
    path = folder / CONFIG_NAME
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GraderError(f"{path}: not readable TOML ({exc}); fix the file") from None
    try:
        return _build(folder, raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise GraderError(f"{path}: {_describe(exc)}; fix the setting") from None


def _describe(exc: Exception) -> str:
    return f"missing setting {exc}" if isinstance(exc, KeyError) else str(exc)


def _build(folder: Path, raw: dict) -> Assignment:
    limits = raw.get("limits", {})
    visibility = {"public": "visible", "hidden": "after_due_date", **raw.get("visibility", {})}
    for kind, value in visibility.items():
        if value not in VISIBILITIES:
            raise ValueError(f"visibility.{kind} = '{value}' is not one of {', '.join(VISIBILITIES)}")
    memory_mb = int(limits.get("memory_mb", 1024))
    if memory_mb < 256:
        raise ValueError("limits.memory_mb must be at least 256 (numpy misbehaves below that)")
    points = {str(k): float(v) for k, v in raw["points"].items()}
    if any(v <= 0 for v in points.values()):
        raise ValueError("every entry of [points] must be positive")
    submission_seconds = float(limits.get("submission_seconds", 60))
    if "reference" not in raw and "expected" not in raw:
        raise KeyError("reference")
    reference = (folder / raw["reference"]).resolve() if "reference" in raw else None
    expected = (folder / raw["expected"]).resolve() if "expected" in raw else None
    probes = (folder / raw.get("probes", "probes.py")).resolve()
    for what, target in (("reference", reference), ("expected", expected), ("probes", probes)):
        if target is not None and not target.is_file():
            raise ValueError(f"{what} file {target} does not exist")
    due = raw.get("due")
    load_on_error = str(raw.get("load", {}).get("on_error", "grade_defined"))
    if load_on_error not in LOAD_POLICIES:
        raise ValueError(f"load.on_error = '{load_on_error}' is not one of {', '.join(LOAD_POLICIES)}")
    load = raw.get("load", {})
    load_package = load.get("package")
    if load.get("modules") is not None and load_package is None:
        raise ValueError("load.modules is set without load.package: name the package they belong to")
    package = PackageShape.configured(load_package, _names(load, "modules")) if load_package is not None else None
    test_seconds = float(limits.get("test_seconds", 10))
    floor_seconds, factor = float(limits.get("floor_seconds", 1)), float(limits.get("reference_factor", 100))
    if not 0 < floor_seconds <= test_seconds or factor < 1:
        raise ValueError("limits.floor_seconds must be above 0 and at most test_seconds, "
                         "limits.reference_factor at least 1")
    return Assignment(
        id=str(raw["id"]), title=str(raw["title"]), version=str(raw.get("version", "1")),
        root=folder, reference=reference, expected=expected, probes=probes,
        template_name=str(raw.get("template_name", raw["id"])), points=points,
        submission_seconds=submission_seconds, test_seconds=test_seconds,
        limits=Limits(memory_bytes=memory_mb << 20, cpu_seconds=int(submission_seconds) + 1,
                      output_bytes=int(limits.get("output_kb", 64)) << 10),
        visibility=visibility, language=_language(raw.get("language")),
        due=datetime.fromisoformat(due) if isinstance(due, str) else due,
        late_policy=_late_policy(raw.get("late_policy")),
        floor_seconds=floor_seconds, reference_factor=factor, load_on_error=load_on_error,
        selftest=_selftest(raw.get("selftest", {})),
        package=package,
        load_setup=tuple(_names(load, "setup") or ()), allowed_packages=_allowed(raw.get("packages", {})),
        worker_python=_worker_python(raw.get("workers", {})),
        parts_everywhere=_parts_everywhere(raw.get("parts", {})),
    )


_IDENTIFIER = re.compile(r"[A-Za-z_]\w*", re.ASCII)
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)


def _names(table: dict, key: str) -> list[str] | None:
    """A list of module or function names (``load.modules``, ``load.setup``), or None when absent."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and _DOTTED.fullmatch(v) for v in value):
        raise ValueError(f"load.{key} must be a list of names, like [\"dezero\", \"dezero.functions\"]")
    return value


def _allowed(table: dict) -> tuple[str, ...]:
    """``[packages] allowed``: top-level module names ("matplotlib", "PIL"); numpy needs no entry."""
    value = table.get("allowed", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and _IDENTIFIER.fullmatch(v) for v in value):
        raise ValueError("packages.allowed must be a list of top-level module names, like [\"matplotlib\", \"PIL\"]")
    return tuple(dict.fromkeys(v for v in value if v != "numpy"))


def _worker_python(table: dict) -> str | None:
    """``[workers] python``: a version of at least 3.9 ("3.12", "3.12.1") or an interpreter's path."""
    value = table.get("python")
    if value is None:
        return None
    version = re.fullmatch(r"3\.(\d+)(?:\.\d+)?", str(value))
    if isinstance(value, str) and (version and int(version.group(1)) >= 9 or "/" in value or "\\" in value):
        return value
    raise ValueError(f"workers.python = '{value}' must be a Python version of at least 3.9 (\"3.12\") or the path "
                     "of an interpreter")


def _parts_everywhere(raw: dict) -> tuple[str, ...]:
    """``[parts] everywhere = ["Variable.__init__"]``: parts every test relies on, so no test lists them."""
    if not isinstance(raw, dict) or set(raw) - {"everywhere"}:
        raise ValueError("[parts] takes one setting, everywhere = [\"Part.name\", ...]")
    names = raw.get("everywhere", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ValueError("parts.everywhere must be a list of part names such as \"Variable.__init__\"")
    return tuple(names)


def _language(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError("language must be a language code such as \"en\" or \"ko\", or left out")
    return value


def _late_policy(raw: dict | str | None) -> dict | None:
    """``[late_policy]`` (the kit deducts; ``applied_by`` may say "lms" or "none"), or the string
    ``late_policy = "lms"`` / ``"none"``: the LMS deducts by its own policy, or nobody does."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"applied_by": raw, "percent_per_day": 0}
    applied_by = str(raw.get("applied_by", "kit"))
    if applied_by not in ("kit", "lms", "none"):
        raise ValueError(f"late_policy: applied_by = '{applied_by}' is not one of kit, lms, none")
    policy = {"percent_per_day": float(raw.get("percent_per_day", 0)), "max_percent": float(raw.get("max_percent", 100)),
              "grace_hours": float(raw.get("grace_hours", 0)), "applied_by": applied_by}
    if not 0 <= policy["percent_per_day"] <= 100 or not 0 <= policy["max_percent"] <= 100 or policy["grace_hours"] < 0:
        raise ValueError("late_policy: percent_per_day and max_percent must be 0-100, grace_hours >= 0")
    return policy


def _selftest(raw: dict) -> SelftestSettings:
    unknown = sorted(set(raw) - set(SelftestSettings.__dataclass_fields__))
    if unknown:
        raise ValueError(f"[selftest] has unknown setting(s) {', '.join(unknown)}")
    settings = SelftestSettings(**{k: type(getattr(SelftestSettings, k))(v) for k, v in raw.items()})
    if not 0 <= settings.mutation_threshold <= 1 or not 0 <= settings.hint_threshold <= 1 or settings.min_mutants < 0:
        raise ValueError("[selftest] mutation_threshold and hint_threshold must be 0-1 and min_mutants >= 0")
    if settings.mutant_test_seconds <= 0 or settings.mutant_submission_seconds <= 0:
        raise ValueError("[selftest] mutant_test_seconds and mutant_submission_seconds must be positive")
    return settings
