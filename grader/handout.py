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
import zipfile
from importlib import resources
from pathlib import Path

import grader
from grader.assignment import CONFIG_NAME, Assignment
from grader.compat import tomllib
from grader.errors import GraderError
from grader.grading import grade_files, open_session
from grader.hints.book import RECORDED_NAME
from grader.i18n import assignment_title
from grader.template import template_files

_SOLUTION = re.compile(r"^\s*# BEGIN SOLUTION\s*$(.*?)^\s*# END SOLUTION\s*$", re.S | re.M)
_TEST_NAME = re.compile(r"^def (test_\w+)", re.M)

STUDENT_README = """# {title}

## English

You need Python 3.9 or newer (from python.org on Windows and macOS; on Windows tick
"Add python.exe to PATH" in the installer). First unzip the handout; the commands below start in
the folder that holds the unzipped `{name}_handout` folder. A virtual environment (`.venv`) keeps
the checker apart from your other Python packages.

macOS and Linux (Terminal):

```bash
cd {name}_handout
python3 -m venv .venv
. .venv/bin/activate
python -m pip install ./grader-kit
grader check --lang en
```

Windows (PowerShell; if it refuses to run `Activate.ps1`, first run
`Set-ExecutionPolicy -Scope CurrentUser RemoteSigned`):

```powershell
cd {name}_handout
py -m venv .venv
.venv\\Scripts\\activate
py -m pip install .\\grader-kit
grader check --lang en
```

Then:

1. Fill in every body that raises `NotImplementedError` in `{name}.py` (or `{name}.ipynb`).
2. Check again: `grader check` (or `grader check {name}.ipynb`). It runs the public tests only and
   names the likely bug when your answer matches a common mistake; hidden tests run at grading.
   In a new terminal, `cd {name}_handout` and activate `.venv` again (the second and third lines above).
3. Submit `{name}.py` or `{name}.ipynb` to your course's LMS.{package_en}

## 한국어

{title_ko}

Python 3.9 이상이 필요합니다(Windows와 macOS는 python.org에서 설치하고, Windows 설치 화면에서
"Add python.exe to PATH"를 체크하세요). 먼저 과제 zip 파일의 압축을 풉니다. 아래 명령은 압축을 푼
`{name}_handout` 폴더가 들어 있는 폴더에서 시작합니다. 가상 환경(`.venv`)을 쓰면 검사 도구가 다른
Python 패키지와 섞이지 않습니다.

macOS와 Linux(터미널):

```bash
cd {name}_handout
python3 -m venv .venv
. .venv/bin/activate
python -m pip install ./grader-kit
grader check --lang ko
```

Windows(PowerShell. `Activate.ps1` 실행이 거부되면 먼저
`Set-ExecutionPolicy -Scope CurrentUser RemoteSigned`를 실행하세요):

```powershell
cd {name}_handout
py -m venv .venv
.venv\\Scripts\\activate
py -m pip install .\\grader-kit
grader check --lang ko
```

그다음:

1. `{name}.py`(또는 `{name}.ipynb`)에서 `NotImplementedError`를 내는 부분을 모두 채웁니다.
2. 다시 확인합니다: `grader check` (노트북은 `grader check {name}.ipynb`). 공개 테스트만 실행하며,
   답이 흔한 실수와 같으면 그 실수를 알려 줍니다. 채점 때는 숨은 테스트도 실행됩니다.
   새 터미널에서는 `cd {name}_handout` 후 `.venv`를 다시 활성화하세요(위의 둘째, 셋째 줄).
3. `{name}.py` 또는 `{name}.ipynb`를 강의의 LMS에 제출합니다.{package_ko}
"""


def handout_files(assignment: Assignment, language: str | None = None) -> dict[str, bytes]:
    """Relative path inside the handout -> content."""
    if assignment.reference is None:
        raise GraderError(f"{assignment.root / CONFIG_NAME}: a handout is built from the instructor's kit "
                          "(it needs the reference); run this in the kit, not in a handout")
    files: dict[str, bytes] = {}
    for path, text in template_files(assignment).items():
        files[path.name] = text.encode()
    root = str(assignment.root)
    files["README.md"] = STUDENT_README.format(title=assignment_title(root, "en", assignment.title),
                                               title_ko=assignment_title(root, "ko", assignment.title),
                                               name=assignment.template_name, **_package_notes(assignment)).encode()
    base = f"assignments/{assignment.root.name}"
    public_names = set()
    for test in sorted(assignment.public_tests.glob("*.py")):
        source = test.read_text(encoding="utf-8")
        files[f"{base}/tests/public/{test.name}"] = source.encode()
        public_names |= set(_TEST_NAME.findall(source))
    files[f"{base}/probes.py"] = assignment.probes.read_bytes()
    files[f"{base}/{CONFIG_NAME}"] = _public_config(assignment, public_names, language).encode()
    expected, known_bugs = _public_answers(assignment)
    files[f"{base}/public_expected.json"] = json.dumps(expected, indent=1, sort_keys=True).encode()
    # The known bugs' wrong answers to the public tests, and their hints: never their code or names.
    files[f"{base}/{RECORDED_NAME}"] = json.dumps(known_bugs, indent=1, sort_keys=True, ensure_ascii=False).encode()
    for lang_file in sorted((assignment.root / "messages").glob("*.toml")):
        raw = tomllib.loads(lang_file.read_text(encoding="utf-8"))
        title = f"title = {json.dumps(raw['title'], ensure_ascii=False)}\n" if "title" in raw else ""
        titles = raw.get("tests", {})
        kept = "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in titles.items() if k in public_names)
        files[f"{base}/messages/{lang_file.name}"] = f"{title}[tests]\n{kept}\n".encode()
    files.update(check_kit_files())
    return files


def _public_config(assignment: Assignment, public_names: set[str], language: str | None) -> str:
    """The handout's config; without ``language`` the checker follows each student's locale."""
    raw = tomllib.loads((assignment.root / CONFIG_NAME).read_text(encoding="utf-8"))
    limits = raw.get("limits", {})
    lines = [f"id = {json.dumps(assignment.id)}", f"title = {json.dumps(assignment.title, ensure_ascii=False)}",
             f"version = {json.dumps(assignment.version)}", 'expected = "public_expected.json"',
             'probes = "probes.py"', f"template_name = {json.dumps(assignment.template_name)}",
             *([f"language = {json.dumps(language)}"] if language else []), "", "[limits]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in limits.items()]
    lines += ["", "[load]", f"on_error = {json.dumps(assignment.load_on_error)}"]
    if assignment.package:
        lines.append(f"package = {json.dumps(assignment.package.name)}")
        lines.append(f"modules = {json.dumps(list(assignment.package.modules))}")
    if assignment.load_setup:
        lines.append(f"setup = {json.dumps(list(assignment.load_setup))}")
    # The students' own Python runs their check: [workers] python is the grading machine's business.
    lines += ["", "[packages]", f"allowed = {json.dumps(list(assignment.allowed_packages))}", "", "[points]"]
    lines += [f"{name} = {value:g}" for name, value in assignment.points.items() if name.split("[")[0] in public_names]
    return "\n".join(lines) + "\n"


def _public_answers(assignment: Assignment) -> tuple[dict[str, str], dict]:
    """The reference's answers to the public tests' probe calls, and the public part of the answer
    book, hints written in (``grader.hints``)."""
    session = open_session(assignment, hide=[], public_only=True)
    try:
        grade_files(assignment, [assignment.reference], public_only=True, session=session)
        return session.reference.recorded, session.book.to_data(public_only=True, shipped=True)
    finally:
        session.close()


# What ``grader check`` imports, in the trusted process and in its worker: the handout ships these
# only, so students install no instructor command and no LMS client. They must run on Python 3.9
# (``tests/test_handout.py`` parses them as 3.9; .ci/handout-pythons installs them under it).
CHECK_MODULES = ("__init__", "advice", "archives", "assignment", "binding", "checks", "cli", "compat", "errors",
                 "grading", "handles", "hints/__init__", "hints/book", "hints/catalogue", "hints/record", "i18n",
                 "layout", "mutants", "notebook", "npz", "plugin", "portable", "replies", "results", "review", "runner",
                 "selfcheck", "submission", "summary", "variants", "wire", "sandbox/__init__", "sandbox/child",
                 "sandbox/client", "sandbox/imports", "sandbox/interpreter", "sandbox/layers", "sandbox/watch",
                 "sandbox/zygote")
CHECK_DATA = ("results_schema.json", "messages/en.toml", "messages/ko.toml")
HANDOUT_MARKER = "_handout.py"  # its presence makes ``grader --help`` list the students' commands only


def check_kit_files() -> dict[str, bytes]:
    """The students' edition: what ``grader check`` needs, installable on Python 3.9+."""
    package = Path(str(resources.files("grader")))
    files = {}
    for name in [f"{module}.py" for module in CHECK_MODULES] + list(CHECK_DATA):
        path = package / name
        files[f"grader-kit/grader/{name}"] = path.read_bytes()
    files[f"grader-kit/grader/{HANDOUT_MARKER}"] = b'"""Marks the students\' edition of the grader (built by grader handout)."""\n'
    files["grader-kit/pyproject.toml"] = _pyproject(
        "dezero-autograder-check", "grader check: run an assignment's public tests on your own code", "3.9",
        ["numpy", "pytest>=7.4", "nbformat>=5.9", "fastjsonschema>=2.16", "rich>=13.0",
         "matplotlib", "Pillow", "tomli>=1.1; python_version < '3.11'", "pyseccomp>=0.1.2; sys_platform == 'linux'"],
        ["grader", "grader.hints", "grader.sandbox"])
    files["grader-kit/README.md"] = b"The dezero-autograder checker (students' edition). Install with: python -m pip install .\n"
    return files




def _pyproject(name: str, description: str, python: str, dependencies: list[str], packages: list[str]) -> bytes:
    """A pyproject.toml for a kit copied into a zip (the students' edition, or the whole kit from a wheel)."""
    quoted = ", ".join('"' + item.replace('"', '\\"') + '"' for item in dependencies)
    return (f'[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{grader.__version__}"\ndescription = "{description}"\n'
            f'requires-python = ">={python}"\ndependencies = [{quoted}]\n\n'
            f'[project.scripts]\ngrader = "grader.cli:main"\n\n'
            f'[tool.setuptools]\npackages = [{", ".join(chr(34) + p + chr(34) for p in packages)}]\n\n'
            f'[tool.setuptools.package-data]\ngrader = ["results_schema.json", "messages/*.toml"]\n').encode()


def grader_kit_files() -> dict[str, bytes]:
    """The whole kit (the Gradescope autograder grades with it)."""
    package = resources.files("grader")
    files = {}
    for path in sorted(Path(str(package)).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".toml"):
            files[f"grader-kit/grader/{path.relative_to(Path(str(package))).as_posix()}"] = path.read_bytes()
    root = Path(str(package)).parent / "pyproject.toml"
    if root.is_file():
        files["grader-kit/pyproject.toml"] = root.read_bytes()
    else:  # installed from a wheel: write a minimal one, with every subpackage the kit has
        subpackages = sorted(".".join(("grader",) + p.parent.relative_to(Path(str(package))).parts)
                             for p in Path(str(package)).rglob("__init__.py") if "__pycache__" not in p.parts)
        files["grader-kit/pyproject.toml"] = _pyproject(
            "dezero-autograder", "Sandboxed autograder for DeZero homework", "3.11",
            ["numpy", "pytest", "nbformat", "fastjsonschema", "rich", "matplotlib", "Pillow",
             "pyyaml", "httpx", "pyjwt[crypto]", "tenacity", "pyseccomp; sys_platform == 'linux'"], subpackages)
    files["grader-kit/README.md"] = b"The dezero-autograder checker. Install with: python3 -m pip install .\n"
    return files




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


def _package_notes(assignment: Assignment) -> dict[str, str]:
    """The README's line on submitting the book's package shape, where the assignment grades one."""
    if assignment.package is None:
        return {"package_en": "", "package_ko": ""}
    name = assignment.package.name
    return {"package_en": f"\n   Or submit your `{name}/` package folder (as in the book), zipped; check it first with "
                          f"`grader check {name}`.",
            "package_ko": f"\n   책처럼 `{name}/` 패키지 폴더를 zip으로 묶어 제출해도 됩니다. 먼저 `grader check {name}`로 "
                          f"확인하세요."}


def build_handout(assignment: Assignment, output: Path, language: str | None = None) -> list[str]:
    files = handout_files(assignment, language)
    leaks = find_leaks(files, assignment)
    if leaks:
        raise GraderError(f"handout not written: {leaks[0]} (and {len(leaks) - 1} more); remove it from the handout")
    top = f"{assignment.template_name}_handout"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(f"{top}/{path}", date_time=(2026, 1, 1, 0, 0, 0))  # reproducible
            info.external_attr = 0o644 << 16  # unzip's mode; a bare ZipInfo gives 0600
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[path])
    output.write_bytes(buffer.getvalue())
    return sorted(files)
