"""``grader handout``: what students download, proven to hold no hidden test and no solution.

The handout holds the template (.py and .ipynb), the public tests and probes, an assignment
config reduced to the public tests, the reference's recorded answers for those tests only,
a bilingual README, and the grader itself (``pip install ./grader-kit``). Before the zip is
written, ``find_leaks`` checks every text file in it; a leaky handout is never written.
"""
from __future__ import annotations

import io
import json
import re
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import grader
from grader.assignment import CONFIG_NAME, Assignment
from grader.errors import GraderError
from grader.grading import grade_files, open_session
from grader.template import template_files

_SOLUTION = re.compile(r"^\s*# BEGIN SOLUTION\s*$(.*?)^\s*# END SOLUTION\s*$", re.S | re.M)
_TEST_NAME = re.compile(r"^def (test_\w+)", re.M)

STUDENT_README = """# {title}

## English
1. Install the checker once: `python3 -m pip install ./grader-kit`
2. Fill in every body that raises `NotImplementedError` in `{name}.py` (or `{name}.ipynb`).
3. Check yourself: `grader check` (or `grader check {name}.ipynb`; add `--lang ko` for Korean).
   It runs the public tests only; hidden tests are also run at grading.
4. Submit `{name}.py` or `{name}.ipynb` to your course's LMS.

## 한국어
1. 검사 도구를 한 번 설치합니다: `python3 -m pip install ./grader-kit`
2. `{name}.py`(또는 `{name}.ipynb`)에서 `NotImplementedError`를 내는 부분을 모두 채웁니다.
3. 스스로 확인합니다: `grader check --lang ko` (노트북은 `grader check {name}.ipynb --lang ko`).
   공개 테스트만 실행합니다. 채점 때는 숨은 테스트도 실행됩니다.
4. `{name}.py` 또는 `{name}.ipynb`를 강의의 LMS에 제출합니다.
"""


def handout_files(assignment: Assignment) -> dict[str, bytes]:
    """Relative path inside the handout -> content."""
    if assignment.reference is None:
        raise GraderError(f"{assignment.root / CONFIG_NAME}: a handout is built from the instructor's kit "
                          "(it needs the reference); run this in the kit, not in a handout")
    files: dict[str, bytes] = {}
    for path, text in template_files(assignment).items():
        files[path.name] = text.encode()
    files["README.md"] = STUDENT_README.format(title=assignment.title, name=assignment.template_name).encode()
    base = f"assignments/{assignment.root.name}"
    public_names = set()
    for test in sorted(assignment.public_tests.glob("*.py")):
        source = test.read_text(encoding="utf-8")
        files[f"{base}/tests/public/{test.name}"] = source.encode()
        public_names |= set(_TEST_NAME.findall(source))
    files[f"{base}/probes.py"] = assignment.probes.read_bytes()
    files[f"{base}/{CONFIG_NAME}"] = _public_config(assignment, public_names).encode()
    files[f"{base}/public_expected.json"] = json.dumps(_public_answers(assignment), indent=1, sort_keys=True).encode()
    for lang_file in sorted((assignment.root / "messages").glob("*.toml")):
        titles = tomllib.loads(lang_file.read_text(encoding="utf-8")).get("tests", {})
        kept = "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in titles.items() if k in public_names)
        files[f"{base}/messages/{lang_file.name}"] = f"[tests]\n{kept}\n".encode()
    files.update(grader_kit_files())
    return files


def _public_config(assignment: Assignment, public_names: set[str]) -> str:
    raw = tomllib.loads((assignment.root / CONFIG_NAME).read_text(encoding="utf-8"))
    limits = raw.get("limits", {})
    lines = [f"id = {json.dumps(assignment.id)}", f"title = {json.dumps(assignment.title, ensure_ascii=False)}",
             f"version = {json.dumps(assignment.version)}", 'expected = "public_expected.json"',
             'probes = "probes.py"', f"template_name = {json.dumps(assignment.template_name)}",
             f"language = {json.dumps(assignment.language)}", "", "[limits]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in limits.items()]
    lines += ["", "[load]", f"on_error = {json.dumps(assignment.load_on_error)}"]
    if assignment.load_package:
        lines.append(f"package = {json.dumps(assignment.load_package)}")
    lines += ["", "[points]"]
    lines += [f"{name} = {value:g}" for name, value in assignment.points.items() if name.split("[")[0] in public_names]
    return "\n".join(lines) + "\n"


def _public_answers(assignment: Assignment) -> dict[str, str]:
    session = open_session(assignment, hide=[], public_only=True)
    try:
        grade_files(assignment, [assignment.reference], public_only=True, session=session)
        return session.reference.recorded
    finally:
        session.close()


def grader_kit_files() -> dict[str, bytes]:
    package = resources.files("grader")
    files = {}
    for path in sorted(Path(str(package)).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".toml"):
            files[f"grader-kit/grader/{path.relative_to(Path(str(package))).as_posix()}"] = path.read_bytes()
    root = Path(str(package)).parent / "pyproject.toml"
    if root.is_file():
        files["grader-kit/pyproject.toml"] = root.read_bytes()
    else:  # installed from a wheel: write a minimal one
        files["grader-kit/pyproject.toml"] = _MINIMAL_PYPROJECT.format(version=grader.__version__).encode()
    files["grader-kit/README.md"] = b"The dezero-autograder checker. Install with: python3 -m pip install .\n"
    return files


_MINIMAL_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "dezero-autograder"
version = "{version}"
requires-python = ">=3.11"
dependencies = ["numpy", "pytest", "pytest-json-report", "nbformat", "fastjsonschema", "rich", "pyyaml",
                "pyseccomp; sys_platform == 'linux'"]

[project.scripts]
grader = "grader.cli:main"

[tool.setuptools]
packages = ["grader", "grader.sandbox"]

[tool.setuptools.package-data]
grader = ["results_schema.json", "messages/*.toml"]
"""


def secrets_of(assignment: Assignment) -> tuple[set[str], set[str]]:
    """(hidden test names, distinctive lines of hidden tests and of solution bodies)."""
    names, lines = set(), set()
    public_text = "\n".join(p.read_text(encoding="utf-8") for p in assignment.public_tests.glob("*.py"))
    public_lines = {line.strip() for line in public_text.splitlines()}
    for test in assignment.hidden_tests.glob("*.py"):
        source = test.read_text(encoding="utf-8")
        names |= set(_TEST_NAME.findall(source))
        lines |= {ln.strip() for ln in source.splitlines() if _distinctive(ln) and ln.strip() not in public_lines}
    reference = assignment.reference.read_text(encoding="utf-8")
    for body in _SOLUTION.findall(reference):
        lines |= {ln.strip() for ln in body.splitlines() if _distinctive(ln) and not ln.strip().startswith("#")}
    return names, lines


def _distinctive(line: str) -> bool:
    text = line.strip()
    return len(text) >= 12 and not text.startswith(("import ", "from ", "#", '"""', "@pytest.mark.parametrize(\"shape\""))


def find_leaks(files: dict[str, bytes], assignment: Assignment) -> list[str]:
    """Every place in ``files`` where a hidden test name, hidden test line or solution line appears."""
    names, lines = secrets_of(assignment)
    leaks = []
    for path, data in files.items():
        text = data.decode("utf-8", "replace")
        for name in names:
            if re.search(rf"\b{re.escape(name)}\b", text):
                leaks.append(f"{path}: hidden test name {name}")
        for line in text.splitlines():
            if line.strip() in lines:
                leaks.append(f"{path}: secret line {line.strip()!r}")
    return leaks


def build_handout(assignment: Assignment, output: Path) -> list[str]:
    files = handout_files(assignment)
    leaks = find_leaks(files, assignment)
    if leaks:
        raise GraderError(f"handout not written: {leaks[0]} (and {len(leaks) - 1} more); remove it from the handout")
    top = f"{assignment.template_name}_handout"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(f"{top}/{path}", date_time=(2026, 1, 1, 0, 0, 0))  # reproducible
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[path])
    output.write_bytes(buffer.getvalue())
    return sorted(files)
