"""The instructor's path: `grader new` in an empty folder, then a tiny assignment ("implement Mul") that
is self-tested, grades a right and a wrong submission, and becomes a handout and a Gradescope zip."""
import zipfile

import pytest

from grader.assignment import load_assignment
from grader.authoring import missing_parts, scaffold
from grader.cli import main
from grader.errors import GraderError
from grader.grading import grade_files

REFERENCE = '''"""Implement Mul."""
import numpy as np


class Mul:
    """y = x0 * x1"""

    def forward(self, x0, x1):
        # BEGIN SOLUTION
        # TODO(ko): x0 * x1을 반환하세요.
        # TODO(en): return x0 * x1.
        return x0 * x1
        # END SOLUTION

    def backward(self, x0, x1, gy):
        # BEGIN SOLUTION
        # TODO(ko): (gy * x1, gy * x0)을 반환하세요.
        # TODO(en): return (gy * x1, gy * x0).
        return gy * x1, gy * x0
        # END SOLUTION
'''

PROBES = '''
def forward(mod, x0, x1):
    return describe(mod.Mul().forward(x0, x1))


def backward(mod, x0, x1, gy):
    return [describe(g) for g in mod.Mul().backward(x0, x1, gy)]


PROBES = {probe.__name__: probe for probe in (forward, backward)}
'''

PUBLIC = '''import numpy as np
import pytest

from grader.checks import check_array


@pytest.mark.needs("Mul.forward")
def test_public_forward(student, reference):
    x0, x1 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    check_array(student.probe("forward", x0=x0, x1=x1), reference.probe("forward", x0=x0, x1=x1), "Mul.forward")
'''

HIDDEN = '''import numpy as np
import pytest

from grader.checks import check_array


def _random_pair(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 2)), rng.normal(size=(3, 2))


@pytest.mark.needs("Mul.forward")
def test_forward_at_random_points(student, reference):
    for seed in range(3):
        x0, x1 = _random_pair(seed)
        check_array(student.probe("forward", x0=x0, x1=x1), reference.probe("forward", x0=x0, x1=x1), "Mul.forward")


@pytest.mark.needs("Mul.backward")
def test_backward_at_random_points(student, reference):
    x0, x1 = _random_pair(7)
    gy = np.ones_like(x0) * 0.5
    got, want = student.probe("backward", x0=x0, x1=x1, gy=gy), reference.probe("backward", x0=x0, x1=x1, gy=gy)
    for number in range(2):
        check_array(got[number], want[number], f"Mul.backward(...)[{number}]")
'''

# What the author writes into hints.toml after `grader selftest --unnamed` listed the mutants' ids.
HINTS = {
    "Mul.forward: return x0 * x1 -> pass": ("Mul.forward returns nothing", "Mul.forward가 아무것도 반환하지 않습니다"),
    "Mul.forward: return x0 * x1 -> return x0": ("Mul.forward returns x0 alone", "Mul.forward가 x0만 반환합니다"),
    "Mul.forward: return x0 * x1 -> return x0 / x1": ("Mul.forward divides", "Mul.forward가 나눕니다"),
    "Mul.forward: return x0 * x1 -> return x0 + x1": ("Mul.forward adds", "Mul.forward가 더합니다"),
    "Mul.backward: return gy * x1, gy * x0 -> return gy * x0, gy * x1": (
        "Mul.backward returns the gradients the wrong way round", "Mul.backward가 기울기를 반대로 반환합니다"),
    "Mul.backward: return gy * x1, gy * x0 -> return gy / x1, gy * x0": (
        "Mul.backward divides gy by x1", "Mul.backward가 gy를 x1로 나눕니다"),
    "Mul.backward: return gy * x1, gy * x0 -> return gy + x1, gy * x0": (
        "Mul.backward adds x1 to gy", "Mul.backward가 gy에 x1을 더합니다"),
    "Mul.backward: return gy * x1, gy * x0 -> return gy * x1, gy / x0": (
        "Mul.backward divides gy by x0", "Mul.backward가 gy를 x0으로 나눕니다"),
}

WRONG = REFERENCE.replace("return gy * x1, gy * x0", "return gy * x0, gy * x1")  # the classic swap


def write_assignment(root):
    folder = root / "assignments" / "mul_demo"
    (root / "reference" / "mul_demo.py").write_text(REFERENCE, encoding="utf-8")
    probes = folder / "probes.py"
    probes.write_text(probes.read_text(encoding="utf-8").split("\nPROBES = ")[0] + PROBES, encoding="utf-8")
    (folder / "tests" / "public" / "test_public_mul.py").write_text(PUBLIC, encoding="utf-8")
    (folder / "tests" / "hidden" / "test_hidden_mul.py").write_text(HIDDEN, encoding="utf-8")
    config = folder / "assignment.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("min_mutants = 30", "min_mutants = 5"),
                      encoding="utf-8")  # two one-line solutions plant about a dozen mutants
    with open(folder / "assignment.toml", "a", encoding="utf-8") as config:
        config.write("test_public_forward = 1\ntest_forward_at_random_points = 2\ntest_backward_at_random_points = 2\n")
    for lang, words in (("en", ("forward", "forward at random points", "backward at random points")),
                        ("ko", ("순전파", "임의의 점에서 순전파", "임의의 점에서 역전파"))):
        with open(folder / "messages" / f"{lang}.toml", "a", encoding="utf-8") as messages:
            for name, title in zip(("test_public_forward", "test_forward_at_random_points",
                                    "test_backward_at_random_points"), words):
                messages.write(f'{name} = "Mul {title}"\n')
    return folder


def test_new_refuses_bad_ids_and_existing_assignments(tmp_path):
    with pytest.raises(GraderError, match="not a usable id"):
        scaffold(tmp_path, "../escape")
    scaffold(tmp_path, "mul_demo")
    with pytest.raises(GraderError, match="already exists"):
        scaffold(tmp_path, "mul_demo")


@pytest.mark.e2e
def test_from_grader_new_to_graded_submissions_handout_and_gradescope_zip(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))  # no answer book recorded before
    assert main(["new", "mul_demo", "--title", "Implement Mul", "--root", str(tmp_path)]) == 0
    folder = tmp_path / "assignments" / "mul_demo"
    # The fresh scaffold loads, and selftest says what is missing, in the order to write it.
    missing = missing_parts(load_assignment(str(folder)))
    assert [m.split(":")[0] for m in missing] == [str(folder / "probes.py"), str(folder / "tests" / "public"),
                                                   str(folder / "tests" / "hidden")]
    assert main(["selftest", "-a", str(folder)]) == 1
    assert "missing: " + str(folder / "probes.py") in capsys.readouterr().out

    write_assignment(tmp_path)
    assert main(["template", "build", "-a", str(folder)]) == 0
    assert (tmp_path / "student_template" / "mul_demo.py").is_file()
    # No hint yet: selftest counts the wrong-answer fingerprints and lists them for hints.toml.
    capsys.readouterr()
    assert main(["selftest", "-a", str(folder), "--unnamed"]) == 1
    out, err = capsys.readouterr()
    assert "recording the known bugs' answers" not in err  # selftest grades each known bug once, not twice
    assert "hints: 0 of 10 fingerprints named" in out and all(f"unnamed: {mutant}" in out for mutant in HINTS)
    with open(folder / "hints.toml", "a", encoding="utf-8") as hints:
        for mutant, (en, ko) in HINTS.items():
            hints.write(f'\n[mutants."{mutant}"]\nen = "{en}"\nko = "{ko}"\n')
    assert main(["selftest", "-a", str(folder)]) == 0, capsys.readouterr().out

    assignment = load_assignment(str(folder))
    right, wrong = tmp_path / "right.py", tmp_path / "wrong.py"
    right.write_text(REFERENCE, encoding="utf-8")
    wrong.write_text(WRONG, encoding="utf-8")
    good, bad = grade_files(assignment, [right, wrong])
    assert good["score"] == good["max_score"] == 5
    assert bad["score"] == 3 and [t["tags"][-1] for t in bad["tests"] if t["status"] == "failed"] == [
        "test_backward_at_random_points"]

    assert main(["handout", "-a", str(folder), "-o", str(tmp_path / "handout.zip")]) == 0
    names = zipfile.ZipFile(tmp_path / "handout.zip").namelist()
    assert "mul_demo_handout/mul_demo.ipynb" in names and not any("hidden" in n for n in names)
    assert main(["gradescope", "build", "-a", str(folder), "-o", str(tmp_path / "autograder.zip")]) == 0
    assert "kit/assignments/mul_demo/tests/hidden/test_hidden_mul.py" in zipfile.ZipFile(
        tmp_path / "autograder.zip").namelist()
