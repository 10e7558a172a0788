import os
import re
import subprocess
import sys
import zipfile

import nbformat
import pytest

from conftest import EXAMPLES, ROOT
from grader.assignment import load_assignment
from grader.handout import build_handout, find_leaks, handout_files, secrets_of


@pytest.fixture(scope="module")
def files(assignment):
    return handout_files(assignment)


def test_handout_holds_what_students_need(files):
    names = set(files)
    assert {"dezero_stage1.py", "dezero_stage1.ipynb", "README.md", "grader-kit/pyproject.toml",
            "assignments/stage1_autodiff/assignment.toml", "assignments/stage1_autodiff/public_expected.json",
            "assignments/stage1_autodiff/tests/public/test_public_stage1.py"} <= names
    readme = files["README.md"].decode()
    assert "pip install ./grader-kit" in readme and "grader check" in readme and "한국어" in readme
    assert "package folder" not in readme  # stage 1 takes a file; the stages that grade dezero/ say so:


def test_a_stage_that_grades_the_books_package_says_how_to_hand_it_in():
    readme = handout_files(load_assignment("stage3_higher_order", repo_root=ROOT), "en")["README.md"].decode()
    assert "`dezero/` package folder" in readme and "grader check dezero" in readme and "패키지 폴더" in readme


def test_no_hidden_test_or_solution_line_is_in_the_handout(files, assignment):
    assert find_leaks(files, assignment) == []
    assert not any("hidden" in name for name in files)
    assert not any(name.startswith("reference") for name in files)


def test_leak_check_would_catch_a_copied_hidden_test(files, assignment):
    hidden = next(assignment.hidden_tests.glob("*.py"))
    leaky = dict(files, **{"assignments/stage1_autodiff/tests/public/extra.py": hidden.read_bytes()})
    assert any("hidden test name" in leak for leak in find_leaks(leaky, assignment))
    one_line = dict(files, **{"notes.txt": b"    SHAPES = {\"0d\": (), \"1d\": (7,), \"2d\": (3, 4)}\n"})
    assert find_leaks(one_line, assignment)


def test_leak_check_would_catch_a_solution_line(files, assignment):
    _, secret_lines = secrets_of(assignment)
    assert "pending = [self.creator]" in secret_lines
    leaky = dict(files, **{"dezero_stage1.py": files["dezero_stage1.py"] + b"\n        pending = [self.creator]\n"})
    assert find_leaks(leaky, assignment)


def test_template_notebook_runs_like_jupyter(files):
    """Definitions run; every stub raises NotImplementedError with its TODO text; markdown is there."""
    notebook = nbformat.reads(files["dezero_stage1.ipynb"].decode(), as_version=4)
    namespace: dict = {}
    errors = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        try:
            exec(compile(cell.source, "cell", "exec"), namespace)
        except NotImplementedError as error:
            errors.append(str(error))
    assert errors and all(text.startswith("TODO: ") for text in errors)
    import numpy as np

    for stub in (lambda: namespace["Square"]().forward(np.ones(2)), lambda: namespace["Exp"]().backward(1.0),
                 lambda: namespace["Variable"](np.ones(1)).backward(), lambda: namespace["square"](None)):
        with pytest.raises(NotImplementedError, match="TODO: "):
            stub()


@pytest.mark.e2e
def test_student_flow_from_an_unzipped_handout(tmp_path, assignment):
    """Unzip in an empty folder, check the untouched template, then a filled-in one."""
    handout = tmp_path / "handout.zip"
    build_handout(assignment, handout)
    zipfile.ZipFile(handout).extractall(tmp_path)
    folder = tmp_path / "dezero_stage1_handout"

    def check(*args):
        return subprocess.run([sys.executable, "-m", "grader.cli", "check", *args], cwd=folder,
                              capture_output=True, text=True, timeout=120)

    untouched = check("--lang", "en")
    assert untouched.returncode == 1 and "Traceback" not in untouched.stdout + untouched.stderr
    assert "public tests: 0/7 passed" in untouched.stdout and "TODO stub" in untouched.stdout
    (folder / "dezero_stage1.py").write_bytes((EXAMPLES / "correct.py").read_bytes())
    filled = check("--lang", "ko")
    assert filled.returncode == 0 and "7개 중 7개 통과" in filled.stdout


def test_handout_refuses_to_build_from_a_handout(tmp_path, assignment):
    from dataclasses import replace

    from grader.errors import GraderError

    with pytest.raises(GraderError, match="needs the reference"):
        handout_files(replace(assignment, reference=None))


def test_notebook_with_cells_out_of_order_still_grades(tmp_path, grade):
    code = (EXAMPLES / "correct.py").read_text()
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = Variable(np.array(2.0))\nsquare(x).backward()"),  # ran later in Jupyter
        nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell("!ls\n%timeit square(x)")])
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    result = grade(path)
    assert result["score"] == result["max_score"] and "cell 1" in result["output"]


def readme_blocks(readme: str, language: str) -> list[str]:
    """The ```language code blocks of the handout README, in order (both language sections)."""
    return re.findall(rf"^```{language}\n(.*?)^```$", readme, re.S | re.M)


def test_readme_gives_the_same_commands_in_both_languages_for_each_os(files):
    readme = files["README.md"].decode()
    for language in ("bash", "powershell"):
        english, korean = readme_blocks(readme, language)
        assert english.replace("--lang en", "--lang ko") == korean
        assert english.startswith("cd dezero_stage1_handout\n"), "the zip unpacks into that folder"
        assert "venv .venv" in english
    assert "py -m pip install" in readme_blocks(readme, "powershell")[0]
    assert "Python 3.9" in readme and "python.org" in readme


@pytest.mark.e2e
def test_readme_commands_run_as_written(tmp_path, assignment):
    """Unzip where a student would, then run the README's macOS/Linux block, line by line, as written:
    a fresh venv, the kit installed into it, and ``grader check`` on the untouched template."""
    handout = tmp_path / "handout.zip"
    build_handout(assignment, handout)
    student = tmp_path / "Downloads"
    zipfile.ZipFile(handout).extractall(student)
    assert {info.external_attr >> 16 for info in zipfile.ZipFile(handout).infolist()} == {0o644}  # unzip: rw-r--r--
    readme = (student / "dezero_stage1_handout" / "README.md").read_text(encoding="utf-8")
    block = readme_blocks(readme, "bash")[0]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "venv" not in p)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # Every line but the last must succeed; the last one checks the template, which fails its tests.
    script = "set -e\n" + block.rstrip("\n").rsplit("\n", 1)[0] + "\nset +e\n" + block.rstrip("\n").rsplit("\n", 1)[1]
    ran = subprocess.run(["bash", "-c", script], cwd=student, env=env, capture_output=True, text=True, timeout=600)
    out = ran.stdout + ran.stderr
    assert (student / "dezero_stage1_handout" / ".venv").is_dir(), out[-2000:]
    assert ran.returncode == 1 and "Traceback" not in out, out[-2000:]
    assert "public tests: 0/" in ran.stdout and "TODO stub" in ran.stdout, out[-2000:]
    # From the folder the zip was unzipped in, naming the file: the kit finds the handout it came from.
    grader = student / "dezero_stage1_handout" / ".venv" / "bin" / "grader"
    outside = subprocess.run([str(grader), "check", "dezero_stage1_handout/dezero_stage1.py", "--lang", "en"],
                             cwd=student, env=env, capture_output=True, text=True, timeout=600)
    assert outside.returncode == 1 and "public tests: 0/" in outside.stdout, outside.stdout + outside.stderr


def test_the_students_kit_is_self_contained_and_python_39_clean(files):
    """Every module the handout ships parses as Python 3.9, imports only shipped grader modules and the
    declared dependencies, and needs no 3.11-only module (tomllib comes from grader.compat)."""
    import ast

    kit = {name[len("grader-kit/"):]: data.decode() for name, data in files.items()
           if name.startswith("grader-kit/grader/") and name.endswith(".py")}
    shipped = {name[:-3].replace("/", ".") for name in kit} | {"grader.sandbox", "grader"}
    allowed = {"numpy", "pytest", "pytest_jsonreport", "nbformat", "fastjsonschema", "rich", "tomli", "seccomp",
               "pyseccomp"} | set(sys.stdlib_module_names) - {"tomllib"}
    for name, source in kit.items():
        tree = ast.parse(source, name, feature_version=(3, 9))
        uses_union = any(isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) for node in ast.walk(tree))
        if uses_union or "list[" in source or "dict[" in source:
            assert "from __future__ import annotations" in source or "Union[" in source, name
        # cli.py imports each command's modules inside its handler; the students' edition registers check only.
        nodes = ast.walk(tree) if name != "grader/cli.py" else [n for n in tree.body if "Import" in type(n).__name__]
        nodes = list(nodes) + ([n for f in tree.body if isinstance(f, ast.FunctionDef) and f.name in ("_check", "main")
                                for n in ast.walk(f)] if name == "grader/cli.py" else [])
        for node in nodes:
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for module in modules:
                if module.startswith("grader"):
                    assert module in shipped or f"{module}.__init__" in shipped, f"{name} imports {module}"
                elif module != "tomllib" or "compat" not in name:
                    assert module.split(".")[0] in allowed, f"{name} imports {module}"
    pyproject = files["grader-kit/pyproject.toml"].decode()
    assert 'requires-python = ">=3.9"' in pyproject and "python_version < '3.11'" in pyproject
    assert "httpx" not in pyproject and "jwt" not in pyproject


def test_the_students_kit_lists_only_check(tmp_path, files):
    for name, data in files.items():
        if name.startswith("grader-kit/"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
    ran = subprocess.run([sys.executable, "-c", "import sys, grader.cli; print(sorted(m for m in sys.modules "
                          "if m.startswith(('httpx', 'jwt')))); grader.cli.main(['--help'])"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(tmp_path / "grader-kit")),
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("[]") and "{check}" in ran.stdout
    for instructor in ("batch", "upload", "export", "selftest", "gradescope", "handout"):
        assert instructor not in ran.stdout


def test_kit_zipped_from_a_wheel_install_lists_every_subpackage(tmp_path, monkeypatch):
    """Installed from a wheel there is no pyproject.toml beside the package: the one written for the
    Gradescope zip must still install grader.lms and grader.sandbox (it listed only the sandbox)."""
    import shutil
    import tomllib

    import grader.handout as handout

    copy = tmp_path / "site-packages" / "grader"
    shutil.copytree(ROOT / "grader", copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(handout.resources, "files", lambda name: copy)
    files = handout.grader_kit_files()
    config = tomllib.loads(files["grader-kit/pyproject.toml"].decode())
    assert set(config["tool"]["setuptools"]["packages"]) == {"grader", "grader.hints", "grader.lms", "grader.sandbox",
                                                             "grader.serve"}
    assert "tenacity" in config["project"]["dependencies"]
    assert not any("starlette" in d or "celery" in d for d in config["project"]["dependencies"]), \
        "the service's libraries stay an extra: the autograder never runs grader serve"


def test_the_students_kit_does_not_grow_with_grader_serve():
    """The service is an instructor's (pip install '.[serve]'); the students' checker ships none of it."""
    from grader.handout import check_kit_files

    files = check_kit_files()
    assert not [name for name in files if "serve" in name]
    config = files["grader-kit/pyproject.toml"].decode()
    assert "starlette" not in config and "optional-dependencies" not in config
