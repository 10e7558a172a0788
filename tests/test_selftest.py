"""selftest's proofs of the tests: variant declarations, [selftest] settings, the mutation report."""
import shutil
from pathlib import Path

import pytest

from grader.assignment import load_assignment
from grader.errors import GraderError
from grader.mutants import generate
from grader.selftest import load_equivalent, mutation_report
from grader.variants import Variant, declared_failures, find_variants, matches, variant_problems

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = ROOT / "assignments" / "stage1_autodiff"
CORRECT = (ASSIGNMENT / "variants" / "correct" / "creator_assigned_directly.py").read_text(encoding="utf-8")


# --- declarations ---------------------------------------------------------------------------------

def test_header_lines_declare_function_names_and_case_ids(tmp_path):
    path = tmp_path / "bug.py"
    path.write_text("# Buggy: two lines of declarations\n# expect-fail: test_a, test_b[0d]\n"
                    "#expect-fail:test_c ,test_a\nimport numpy\n# expect fail: not the keyword, so not a declaration\n")
    assert declared_failures(path) == ["test_a", "test_b[0d]", "test_c"]


def test_header_must_be_at_the_top(tmp_path):
    path = tmp_path / "bug.py"
    path.write_text("x = 1\n" * 50 + "# expect-fail: test_late\n")
    assert declared_failures(path) == []


def test_a_toml_beside_declares_for_a_notebook(tmp_path):
    (tmp_path / "bug.ipynb").write_text("{}")
    (tmp_path / "bug.toml").write_text('expect_fail = ["test_x", "test_y[2d]"]\n')
    assert declared_failures(tmp_path / "bug.ipynb") == ["test_x", "test_y[2d]"]


@pytest.mark.parametrize("name, text, fragment", [
    ("bug.py", "# expect-fail: square backward\n", "not a test name"),
    ("bug.ipynb", None, "not readable TOML"),
    ("bug.ipynb", 'expect_fail = "test_x"\n', "must be a list"),
])
def test_bad_declarations_are_one_line_errors_naming_the_file(tmp_path, name, text, fragment):
    path = tmp_path / name
    path.write_text(text if name.endswith(".py") else "{}")
    if name.endswith(".ipynb"):
        (tmp_path / "bug.toml").write_text(text if text is not None else "expect_fail = [")
    with pytest.raises(GraderError) as error:
        declared_failures(path)
    assert fragment in str(error.value) and "bug." in str(error.value) and "\n" not in str(error.value)


def test_a_buggy_variant_without_a_declaration_is_refused(tmp_path):
    folder = tmp_path / "variants" / "buggy"
    folder.mkdir(parents=True)
    (folder / "quiet.py").write_text("# a bug, but which tests fail?\n")
    with pytest.raises(GraderError, match="declares no failing tests"):
        find_variants(tmp_path)


@pytest.mark.parametrize("assignment, correct, buggy", [(ASSIGNMENT, 10, 5),
                                                        (ROOT / "assignments" / "stage2_natural_code", 8, 6),
                                                        (ROOT / "assignments" / "stage3_higher_order", 8, 8)])
def test_the_kit_declares_every_buggy_variant_and_enough_of_them(assignment, correct, buggy):
    variants = find_variants(assignment)
    kinds = [v.kind for v in variants]
    assert kinds.count("correct") >= correct and kinds.count("buggy") >= buggy
    assert any(v.path.suffix == ".ipynb" for v in variants if v.kind == "correct")
    assert all(v.expect_fail for v in variants if v.kind == "buggy")


def test_a_function_name_matches_every_case_and_a_case_id_only_itself():
    assert matches("test_a", "test_a[0d]") and matches("test_a", "test_a")
    assert matches("test_a[0d]", "test_a[0d]") and not matches("test_a[0d]", "test_a[2d]")
    assert not matches("test_a", "test_ab[0d]")


def _result(failed, names=("test_a[0d]", "test_a[2d]", "test_b")):
    tests = [{"tags": ["hidden", n], "status": "failed" if n in failed else "passed", "output": f"{n} broke\nmore",
              "score": 0.0 if n in failed else 1.0, "max_score": 1.0} for n in names]
    score = sum(t["score"] for t in tests)
    return {"tests": tests, "score": score, "max_score": float(len(tests)), "extra_data": {"error": None}}


def test_variant_problems_name_each_mismatch():
    hints = (("en", "a hint"), ("ko", "힌트"))
    buggy = Variant(Path("v/buggy/b.py"), "buggy", ("test_a", "test_zz"), hints)
    problems = variant_problems(buggy, _result({"test_a[0d]", "test_b"}))
    assert problems == ["variant buggy/b.py declares 'test_zz', which matches no test",
                        "variant buggy/b.py passes test_a[2d], which it declares it fails",
                        "variant buggy/b.py fails undeclared test_b: test_b broke"]
    assert variant_problems(Variant(Path("b.py"), "buggy", ("test_a",), hints),
                            _result({"test_a[0d]", "test_a[2d]"})) == []
    correct = Variant(Path("v/correct/c.py"), "correct", ())
    assert variant_problems(correct, _result(set())) == []
    assert variant_problems(correct, _result({"test_b"})) == [
        "variant correct/c.py scores 2/3, not full marks: test_b: test_b broke"]


# --- [selftest] settings and mutants.toml --------------------------------------------------------

def _kit_copy(tmp_path: Path, extra_toml: str = "") -> Path:
    """The real assignment and reference, copied so a test can change them."""
    shutil.copytree(ASSIGNMENT, tmp_path / "assignments" / "stage1_autodiff")
    (tmp_path / "reference").mkdir()
    shutil.copy(ROOT / "reference" / "dezero_stage1.py", tmp_path / "reference")
    config = tmp_path / "assignments" / "stage1_autodiff" / "assignment.toml"
    text = config.read_text(encoding="utf-8")
    if extra_toml:
        text = text[:text.index("[selftest]")] + extra_toml
    config.write_text(text, encoding="utf-8")
    return tmp_path / "assignments" / "stage1_autodiff"


def test_selftest_settings_are_read_from_assignment_toml(tmp_path):
    folder = _kit_copy(tmp_path, "[selftest]\nmutation_threshold = 0.75\nmin_mutants = 12\n")
    settings = load_assignment(str(folder)).selftest
    assert (settings.mutation_threshold, settings.min_mutants) == (0.75, 12)
    assert load_assignment(str(ASSIGNMENT)).selftest.mutation_threshold >= 0.9


@pytest.mark.parametrize("toml, fragment", [
    ("[selftest]\nmutation_treshold = 0.9\n", "unknown setting(s) mutation_treshold"),
    ("[selftest]\nmutation_threshold = 90\n", "0-1"),
    ("[selftest]\nmutant_test_seconds = 0\n", "positive"),
    ("[selftest]\nmin_mutants = 'many'\n", "many"),
])
def test_bad_selftest_settings_are_one_line_errors(tmp_path, toml, fragment):
    folder = _kit_copy(tmp_path, toml)
    with pytest.raises(GraderError) as error:
        load_assignment(str(folder))
    assert fragment in str(error.value) and "assignment.toml" in str(error.value)


def test_every_equivalent_entry_has_a_reason_and_is_still_generated():
    equivalent = load_equivalent(ASSIGNMENT / "mutants.toml")
    generated = {m.id for m in generate((ROOT / "reference" / "dezero_stage1.py").read_text(encoding="utf-8"))}
    assert equivalent and set(equivalent) <= generated


@pytest.mark.parametrize("text, fragment", [
    ('[equivalent]\n"f: a -> b" = ""\n', "non-empty reason"),
    ('"f: a -> b" = "outside the table"\n', "only an [equivalent] table"),
    ('[equivalent\n', "not readable TOML"),
])
def test_a_bad_mutants_toml_is_a_one_line_error(tmp_path, text, fragment):
    (tmp_path / "mutants.toml").write_text(text)
    with pytest.raises(GraderError) as error:
        load_equivalent(tmp_path / "mutants.toml")
    assert fragment in str(error.value) and "mutants.toml" in str(error.value) and "\n" not in str(error.value)


# --- end to end: the sandboxed batch engine grades the mutants and the variants ------------------

PLANTED = "        return x ** 2\n"


@pytest.mark.e2e
def test_mutation_report_names_a_planted_survivor_and_fails_below_the_threshold(tmp_path):
    """A statement no test can observe, planted in a region, survives; a real mutant is killed."""
    folder = _kit_copy(tmp_path)
    reference = tmp_path / "reference" / "dezero_stage1.py"
    reference.write_text(reference.read_text().replace(PLANTED, "        unused = 7\n" + PLANTED, 1))
    (folder / "mutants.toml").write_text('[equivalent]\n"Gone.away: a -> b" = "no longer generated"\n')
    assignment = load_assignment(str(folder))
    chosen = [m for m in generate(reference.read_text()) if "unused = 7" in m.before or m.after == "return x ** 3"]
    assert {m.after for m in chosen} == {"pass", "unused = 8", "return x ** 3"}
    report = mutation_report(assignment, chosen)
    assert [m.after for m in report.killed] == ["return x ** 3"]
    assert sorted(m.diff() for m in report.survivors) == [
        f"line {m.line}: unused = 7  ->  {m.after}" for m in sorted(chosen[:2], key=lambda m: m.after)]
    lines = report.lines()
    assert lines[0] == "mutants: killed 1 of 3 (0 marked equivalent), score 33%"
    assert any("unused = 7  ->  pass" in line and "[id: Square.forward: unused = 7 -> pass]" in line for line in lines)
    assert any("below [selftest] mutation_threshold = 0.9" in p for p in report.problems)
    assert any("no longer generated" in p and "Gone.away" in p for p in report.problems)
    assert any("only 3 mutants" in p for p in report.problems)


@pytest.mark.e2e
def test_a_mutant_marked_equivalent_that_the_tests_kill_is_reported(tmp_path):
    folder = _kit_copy(tmp_path)
    killed = next(m for m in generate((ROOT / "reference" / "dezero_stage1.py").read_text())
                  if m.after == "return x ** 3")
    (folder / "mutants.toml").write_text(f'[equivalent]\n"{killed.id}" = "wrongly thought harmless"\n')
    assignment = load_assignment(str(folder))
    report = mutation_report(assignment, [killed])
    assert report.equivalent == [killed] and not report.killed
    assert any("marks a mutant equivalent that the tests kill" in p for p in report.problems)


@pytest.mark.e2e
def test_a_buggy_variant_that_passes_a_declared_test_is_reported(grade, tmp_path):
    path = tmp_path / "not_really_buggy.py"
    path.write_text("# expect-fail: test_square_forward_values, test_graph_links[nope]\n" + CORRECT)
    variant = find_variants_for(path)
    problems = variant_problems(variant, grade(path))
    assert "variant buggy/not_really_buggy.py passes test_square_forward_values[0d], which it declares it fails" \
        in problems
    assert "variant buggy/not_really_buggy.py declares 'test_graph_links[nope]', which matches no test" in problems


@pytest.mark.e2e
def test_a_correct_variant_losing_points_is_reported(grade, tmp_path):
    path = tmp_path / "off_by_one.py"
    path.write_text(CORRECT.replace("return 2 * x * gy", "return 3 * x * gy"))
    problems = variant_problems(Variant(path, "correct", ()), grade(path))
    assert len(problems) == 1 and "variant correct/off_by_one.py scores" in problems[0]
    assert "test_square_backward_alone[0d]" in problems[0]


def find_variants_for(path: Path) -> Variant:
    folder = path.parent / "kit" / "variants" / "buggy"
    folder.mkdir(parents=True)
    shutil.copy(path, folder / path.name)
    (variant,) = find_variants(path.parent / "kit")
    return variant
