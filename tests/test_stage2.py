"""Stage 2 as a second assignment: commands choose between assignments, and the book's package shape is graded."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, ROOT
from grader.assignment import load_assignment
from grader.errors import GraderError, SubmissionError
from grader.grading import assignment_for, grade_files
from grader.submission import find_package, load_submission

REFERENCE = ROOT / "reference" / "dezero_stage2.py"
STAGE2 = "stage2_natural_code"
# The book's dezero/__init__.py at step 23: re-export core_simple's names and attach the operators there.
INIT = '''from dezero.core_simple import Variable, Function, using_config, no_grad, as_array, as_variable
from dezero.core_simple import setup_variable

setup_variable()
'''


def cli(*args):
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def book_package(folder: Path, prefix: str = "") -> Path:
    """dezero/__init__.py + dezero/core_simple.py, the core calling nothing at import time (as in the book)."""
    package = folder / prefix / "dezero"
    package.mkdir(parents=True)
    core = REFERENCE.read_text(encoding="utf-8")
    assert core.rstrip().endswith("\nsetup_variable()")
    (package / "core_simple.py").write_text(core.rstrip()[: -len("setup_variable()")], encoding="utf-8")
    (package / "__init__.py").write_text(INIT, encoding="utf-8")
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(folder).as_posix())
    return archive


@pytest.fixture(scope="module")
def stage2():
    return load_assignment(STAGE2, repo_root=ROOT)


# ---- choosing the package -------------------------------------------------------------------------

def test_package_is_found_under_a_nested_folder_and_keeps_only_importable_files():
    files = {"repo-main/steps/step24.py": b"x = 1", "repo-main/dezero/__init__.py": b"",
             "repo-main/dezero/core_simple.py": b"class Variable: pass", "repo-main/dezero/../evil.py": b"",
             "repo-main/dezero/notes.txt": b"", "repo-main/dezero/sub dir/x.py": b""}
    assert find_package(files, "dezero.core_simple") == {"dezero/__init__.py": b"",
                                                         "dezero/core_simple.py": b"class Variable: pass"}
    assert find_package({"dezero/core_simple.py": b"x"}, "dezero.core_simple") is None  # no __init__: not a package
    assert set(find_package({"__init__.py": b"", "core_simple.py": b"x"}, "dezero.core_simple")) == {
        "dezero/__init__.py", "dezero/core_simple.py"}  # the dezero folder itself was submitted


_NAME_PARTS = st.sampled_from(["dezero", "__init__.py", "core_simple.py", "..", ".", "", "a b", "x.py", "/", "\\",
                                "C:", "évil.py", "aé.py", "dezero.py", "~", "\x00"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "top/", "top/dezero/"]), st.lists(_NAME_PARTS, min_size=1, max_size=4))
                .map(lambda pair: pair[0] + "/".join(pair[1])), max_size=12))
def test_a_found_package_only_ever_names_plain_files_below_its_folder(names):
    files = {name: b"x" for name in names}
    files.update({"top/dezero/__init__.py": b"", "top/dezero/core_simple.py": b"x"})  # always one package
    found = find_package(files, "dezero.core_simple")
    assert found is not None and {"dezero/__init__.py", "dezero/core_simple.py"} <= set(found)
    for name in found:
        parts = name.split("/")
        assert parts[0] == "dezero" and name.endswith(".py") and all(p.isidentifier() for p in parts[:-1])
        assert parts[-1][:-3].isidentifier() and name.isascii()


def test_a_file_named_like_the_template_wins_over_the_package(tmp_path, stage2):
    book_package(tmp_path)
    (tmp_path / "dezero_stage2.py").write_text(REFERENCE.read_text(encoding="utf-8"), encoding="utf-8")
    chosen = load_submission(tmp_path, stage2.template_name, stage2.package)
    assert chosen.package is None and chosen.chosen == "dezero_stage2.py"
    (tmp_path / "dezero_stage2.py").unlink()
    chosen = load_submission(tmp_path, stage2.template_name, stage2.package)
    assert chosen.package["modules"] == ["dezero.core_simple"] and chosen.chosen == "dezero/core_simple.py"
    # Stage 1 accepts no package: the same folder is read as loose files.
    assert load_submission(tmp_path, "dezero_stage1").package is None


def test_a_package_that_is_not_utf8_is_refused_in_one_line(tmp_path, stage2):
    book_package(tmp_path)
    (tmp_path / "dezero" / "functions.py").write_bytes(b"x = '\xff'\n")
    with pytest.raises(SubmissionError, match=r"functions\.py.*not UTF-8"):
        load_submission(tmp_path, stage2.template_name, stage2.package)


# ---- grading the package in the sandbox -----------------------------------------------------------

@pytest.mark.e2e
def test_the_books_package_shape_gets_full_marks_as_a_folder_and_as_a_zip(tmp_path, stage2):
    folder = book_package(tmp_path / "folder", prefix="deep-learning-from-scratch-3")
    archive = zip_folder(folder, tmp_path / "submission.zip")
    broken = book_package(tmp_path / "broken")
    (broken / "dezero" / "__init__.py").write_text(INIT + "raise RuntimeError('demo line')\n")
    results = grade_files(stage2, [folder, archive, broken])
    for result in results[:2]:
        assert result["score"] == result["max_score"] == 46, [t["output"] for t in result["tests"] if t["output"]]
    # An __init__ that raises after setting everything up is graded on what it defined, and says so.
    assert results[2]["score"] == 46 and "RuntimeError" in results[2]["output"], results[2]["output"]


# ---- several assignments in one kit ---------------------------------------------------------------

def test_grade_picks_the_assignment_by_the_submission_or_asks_for_a(tmp_path):
    assert assignment_for(EXAMPLES / "correct.py", ROOT).id == "stage1_autodiff"  # defines Square, Exp, ...
    named = tmp_path / "kim_dezero_stage2.py"
    named.write_text("x = 1\n")
    assert assignment_for(named, ROOT).id == STAGE2  # named like stage 2's template
    assert assignment_for(book_package(tmp_path / "pkg"), ROOT).id == STAGE2  # the package shape
    plain = tmp_path / "homework.py"
    plain.write_text("def helper():\n    return 1\n")
    with pytest.raises(GraderError, match="choose one with -a"):
        assignment_for(plain, ROOT)
    done = cli("grade", plain, "-o", tmp_path / "r.json")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and STAGE2 in done.stderr


@pytest.mark.parametrize("name, data, problem", [
    ("homework.py", b"", "the submission has no code"),
    ("homework.py", b"x = '\xff'\n", "not UTF-8 text (byte 0xff"),
    ("homework.ipynb", b"{not json", "not a valid notebook (JSON error at line 1)"),
])
def test_a_file_no_assignment_can_be_chosen_for_says_first_what_is_wrong_with_it(tmp_path, name, data, problem):
    """Issue 21 item 3: with two assignments, an empty or unreadable file said only "cannot tell which
    assignment"; the student learnt nothing about the file itself."""
    path = tmp_path / name
    path.write_bytes(data)
    for command in ("grade", "check"):
        done = cli(command, path, *(["-o", tmp_path / "r.json"] if command == "grade" else []))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        message = done.stderr.removeprefix("grader: error: ")
        assert message.startswith(f"{path}: {problem}"), message
        assert message.index(problem) < message.index("-a") and STAGE2 in message and "Traceback" not in message


def test_commands_that_need_one_assignment_say_so_in_one_line(tmp_path):
    done = cli("batch", EXAMPLES, "-o", tmp_path / "out")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "choose one with -a" in done.stderr


def test_template_check_without_a_checks_every_assignment():
    done = cli("template", "check")
    assert done.returncode == 0, done.stderr
    done = cli("template", "check", "-a", STAGE2)
    assert done.returncode == 0, done.stderr


def test_stage2_handout_and_gradescope_zip_build(tmp_path):
    done = cli("handout", "-a", STAGE2, "-o", tmp_path / "h.zip")
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(tmp_path / "h.zip").namelist()
    assert "dezero_stage2_handout/dezero_stage2.ipynb" in names
    assert not any("stage1" in name or "hidden" in name for name in names)
    config = zipfile.ZipFile(tmp_path / "h.zip").read(
        f"dezero_stage2_handout/assignments/{STAGE2}/assignment.toml").decode()
    # Students may check the package shape too (stage 2's "dezero.core_simple" written out as what it means).
    assert 'package = "dezero"\nmodules = ["dezero.core_simple"]' in config
    done = cli("gradescope", "build", "-a", STAGE2, "-o", tmp_path / "a.zip")
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert "kit/reference/dezero_stage2.py" in names and f"kit/assignments/{STAGE2}/probes.py" in names
    assert f"-a \"$ROOT/source/kit/assignments/{STAGE2}\"" in zipfile.ZipFile(tmp_path / "a.zip").read(
        "run_autograder").decode()


# ---- the hidden tests measure properties and name the bug -----------------------------------------

# One common bug each, written into the reference: (what it replaces, by what, the test that measures
# it, words of the bug-specific message that test shows). Overwritten grads also break every formula
# that reuses a variable; the others break exactly one property.
BUGS = {
    "plain stack": ([("func = heapq.heappop(queue)[-1]", "func = queue.pop()"),
                     ("heapq.heappush(queue, (-func.generation, next(tiebreak), func))", "queue.append(func)")],
                    "test_generation_order_on_dags", "highest generation"),
    "overwritten grads": ([("source.grad = grad if source.grad is None else source.grad + grad",
                            "source.grad = grad")], "test_reused_variable_accumulates", "instead of overwriting"),
    "strong outputs": ([("self.outputs = [weakref.ref(output) for output in outputs]",
                         "self.outputs = [(lambda kept: lambda: kept)(output) for output in outputs]")],
                       "test_graph_freed_when_output_dropped", "weakref.ref(output)"),
    "no __array_priority__": ([("    Variable.__array_priority__ = 200\n", "")],
                              "test_ndarray_on_the_left_gives_a_variable", "__array_priority__ = 200"),
}


@pytest.mark.e2e
def test_each_common_bug_fails_its_property_with_its_hint(tmp_path, stage2):
    paths = []
    for number, (edits, _, _) in enumerate(BUGS.values()):
        source = REFERENCE.read_text(encoding="utf-8")
        for old, new in edits:
            assert old in source
            source = source.replace(old, new)
        paths.append(tmp_path / f"bug{number}.py")
        paths[-1].write_text(source, encoding="utf-8")
    for (name, (_, test, words)), result in zip(BUGS.items(), grade_files(stage2, paths)):
        failed = {t["tags"][-1].split("[")[0]: t["output"] for t in result["tests"] if t["status"] != "passed"}
        hidden = {k: v for k, v in failed.items() if not k.startswith("test_public")}
        assert test in hidden and words in hidden[test], (name, failed)
        assert name == "overwritten grads" or list(hidden) == [test], (name, failed)
