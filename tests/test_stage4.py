"""Stage 4 (steps 37-52): the book's package through [load] modules (and each name clash resolved the way
the probes mean), a runaway graph stops at the memory limit, training slower than its scaled budget is a
timeout, every buggy variant is named by its hint, and the handout works from an empty folder."""
import subprocess
import sys
import zipfile

import pytest

from book import book_file, book_zip, requires_book, through_modules
from conftest import ROOT
from grader.assignment import load_assignment
from grader.compat import tomllib
from grader.grading import grade_files
from grader.variants import find_variants

STAGE4 = "stage4_neural_networks"
REFERENCE = ROOT / "reference" / "dezero_stage4.py"
CONFIG = ROOT / "assignments" / STAGE4 / "assignment.toml"
LOAD_MODULES = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["load"]["modules"]


@pytest.fixture(scope="module")
def stage4():
    return load_assignment(STAGE4, repo_root=ROOT)


def _edited(tmp_path, anchor: str, inserted: str):
    """The reference with ``inserted`` placed before ``anchor``, as a student's dezero_stage4.py."""
    source = REFERENCE.read_text(encoding="utf-8")
    assert source.count(anchor) == 1
    path = tmp_path / "dezero_stage4.py"
    path.write_text(source.replace(anchor, inserted + anchor), encoding="utf-8")
    return path


def _failed(result) -> dict:
    return {t["tags"][-1].split("[")[0]: t["output"] for t in result["tests"] if t["status"] != "passed"}


# ---- the book's own package: one namespace of several modules -------------------------------------

# Names the book defines in more than one of the listed modules, and the module the probes mean.
CLASHES = {"Linear": "dezero.layers", "sum_to": "dezero.functions"}


@requires_book
@pytest.mark.e2e
def test_the_books_package_through_the_load_modules_passes_every_test(tmp_path):
    """[load] modules, in their order, make Linear the layer (not functions.Linear, a Function) and
    sum_to the Variable function (not utils.sum_to on ndarrays); the book's code passes every test."""
    found = through_modules(STAGE4, LOAD_MODULES, sorted(CLASHES), tmp_path, ROOT)
    assert found["modules"] == CLASHES and found["failed"] == [], found


@requires_book
@pytest.mark.e2e
@pytest.mark.parametrize("first, then, lost", [
    ("dezero.functions", "dezero.layers", {"test_public_linear_weight_scale", "test_linear_layer_weight_scale",
                                           "test_linear_layer_sizes_itself_and_computes"}),
    ("dezero.utils", "dezero.functions", {"test_sum_to_and_broadcast_to"}),
])
def test_each_clash_resolved_the_other_way_loses_exactly_the_tests_of_that_name(tmp_path, first, then, lost):
    """The order of [load] modules matters, and only where the book's modules clash: putting ``first``
    before ``then`` hands the probes the other object of the clashing name, and only its tests fail."""
    order = [name for name in LOAD_MODULES if name != first]
    order.insert(order.index(then), first)
    found = through_modules(STAGE4, order, sorted(CLASHES), tmp_path, ROOT)
    assert set(found["failed"]) == lost, found


@requires_book
@pytest.mark.e2e
def test_the_books_package_and_its_step_files_get_full_marks(stage4, tmp_path):
    package = book_zip(tmp_path / "book.zip")
    repository = book_zip(tmp_path / "repository.zip", steps=(44, 48))
    alone = []
    for number in (44, 48):
        alone.append(tmp_path / f"step{number}.py")
        alone[-1].write_bytes(book_file(f"steps/step{number}.py"))
    results = grade_files(stage4, [package, repository, *alone])
    for result in results[:2]:
        assert result["score"] == result["max_score"], [t["output"] for t in result["tests"] if t["output"]]
    # A step file alone imports a package it does not contain: one line says to submit the folder with it.
    for result in results[2:]:
        said = [line for line in result["output"].splitlines() if "imports dezero" in line]
        assert result["score"] == 0 and len(said) == 1 and "submit the dezero folder" in said[0], result["output"]


# ---- limits: memory and the training budget ----------------------------------------------------------

# A Linear layer that keeps a buffer of everything it saw and doubles it at every call: a graph that is
# never freed. np.zeros pages are untouched, so the test measures what the memory limit does, not how
# fast a loaded machine fills pages.
RUNAWAY = '''        self.kept = 2 * getattr(self, "kept", 1 << 19)  # 8 MiB at the first call, then twice as much
        self.history = getattr(self, "history", []) + [Variable(np.zeros(self.kept))]
'''


@pytest.mark.e2e
def test_a_runaway_graph_stops_at_the_memory_limit_with_a_clear_message(stage4, tmp_path):
    runaway = _edited(tmp_path, "        if self.W.data is None:\n            self.in_size = x.shape[1]", RUNAWAY)
    [result] = grade_files(stage4, [runaway])
    failed = _failed(result)
    # Only the tests that call a layer often enough to pass the limit fail: the training runs.
    assert set(failed) == {"test_public_sine_loss_goes_down", "test_sine_regression_fits",
                           "test_spiral_classification_fits", "test_digits_stand_in_fits"}, failed
    for output in failed.values():
        assert "MemoryError" in output or "out of memory" in output, output
        assert "did not finish" not in output and "time limit" not in output, output


# Each example costs 5 ms: the digits' training reads 3,200 of them (16 s), far more than twenty times
# the reference's own time (and the 2 s floor) allows; the dataset test reads three.
SLOW_ITEMS = '''        time.sleep(0.005)
'''


@pytest.mark.e2e
def test_training_slower_than_its_budget_scaled_to_the_reference_is_stopped(stage4, tmp_path):
    slow = _edited(tmp_path, "        x = self.transform(self.data[index])\n", SLOW_ITEMS)
    slow.write_text("import time\n" + slow.read_text(encoding="utf-8"), encoding="utf-8")
    [result] = grade_files(stage4, [slow])
    failed = _failed(result)
    assert list(failed) == ["test_digits_stand_in_fits"] and "did not finish within" in failed[
        "test_digits_stand_in_fits"], failed


# ---- hints: each classic mistake is named ------------------------------------------------------------

@pytest.mark.e2e
def test_every_buggy_variant_is_named_by_its_hint_where_it_fails_a_check(stage4):
    buggy = [v for v in find_variants(stage4.root) if v.kind == "buggy"]
    for variant, result in zip(buggy, grade_files(stage4, [v.path for v in buggy])):
        hint = dict(variant.hints)["en"]
        assert any(hint in output for output in _failed(result).values()), (variant.label, _failed(result))


def test_every_check_key_the_stage4_tests_name_is_in_every_catalogue():
    import re

    from grader.i18n import LANGUAGES, catalogue

    tests = ROOT / "assignments" / STAGE4 / "tests"
    used = set(re.findall(r'"(check\.[\w.]+)"', "\n".join(p.read_text(encoding="utf-8") for p in tests.rglob("*.py"))))
    assert {"check.nn.did_not_fit", "check.nn.weight_scale"} <= used
    for lang in LANGUAGES:
        assert used <= set(catalogue(lang)), (lang, used - set(catalogue(lang)))


# ---- what students and Gradescope get ------------------------------------------------------------------

def cli(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_stage4_handout_and_gradescope_zip_build(tmp_path):
    done = cli("handout", "-a", STAGE4, "-o", tmp_path / "h.zip")
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(tmp_path / "h.zip").namelist()
    assert {"dezero_stage4_handout/dezero_stage4.py", "dezero_stage4_handout/dezero_stage4.ipynb"} <= set(names)
    assert not any("/tests/hidden" in name or "/variants/" in name or "/reference/" in name for name in names)
    done = cli("gradescope", "build", "-a", STAGE4, "-o", tmp_path / "a.zip")
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert "kit/reference/dezero_stage4.py" in names and f"kit/assignments/{STAGE4}/probes.py" in names


@pytest.mark.e2e
def test_the_handout_readme_commands_work_from_an_empty_folder(tmp_path):
    """As the README says (Linux): unzip, make a venv, install the checker, check the template, then a
    solution."""
    assert cli("handout", "-a", STAGE4, "-o", tmp_path / "handout.zip").returncode == 0
    zipfile.ZipFile(tmp_path / "handout.zip").extractall(tmp_path / "student")
    readme = (tmp_path / "student" / "dezero_stage4_handout" / "README.md").read_text(encoding="utf-8")
    commands = readme.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert commands[:2] == ["cd dezero_stage4_handout", "python3 -m venv .venv"], commands
    folder = tmp_path / "student" / "dezero_stage4_handout"
    script = "set -e\n" + "\n".join(commands[1:-1]) + "\ngrader check --lang en > template.txt || true\n" \
        "cp solution.py dezero_stage4.py\nGRADER_PORTABLE=1 grader check --lang en > solution.txt\n"
    (folder / "solution.py").write_bytes(REFERENCE.read_bytes())
    done = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    template, solution = (folder / "template.txt").read_text(), (folder / "solution.txt").read_text()
    assert "public tests: 0/8" in template and "Traceback" not in template, template[-2000:]
    assert "public tests: 8/8" in solution, solution[-2000:]
