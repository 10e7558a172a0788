"""Feedback that names the bug (issue 14, item 4): a wrong answer that is a known buggy variant's
answer to the same probe calls gets that variant's hint, in the student's language; hidden tests
get the hint without their inputs; a handout carries the variants' recorded answers, never their code."""
import json
import shutil
import zipfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

from conftest import EXAMPLES
from grader.errors import GraderError
from grader.grading import grade_files, open_session
from grader.hints import KnownBug, KnownBugs, same
from grader.variants import declared_hints, find_variants, variant_problems

HINTS = {"square_backward_forgets_gy": "Square.backward seems to ignore gy",
         "exp_backward_forgets_gy": "Exp.backward seems to ignore gy",
         "seed_without_ones_like": "seed the gradient with np.array(1.0)"}


def test_every_buggy_variant_names_its_bug_in_both_languages(assignment):
    buggy = [v for v in find_variants(assignment.root) if v.kind == "buggy"]
    assert buggy and all(set(dict(v.hints)) == {"en", "ko"} for v in buggy)


def test_a_buggy_variant_without_a_korean_hint_is_refused(tmp_path):
    folder = tmp_path / "variants" / "buggy"
    folder.mkdir(parents=True)
    (folder / "bug.py").write_text("# expect-fail: test_x\n# hint(en): something\nx = 1\n")
    [variant] = find_variants(tmp_path)
    result = {"tests": [{"tags": ["public", "test_x"], "status": "failed", "output": ""}]}
    assert variant_problems(variant, result) == [
        "variant buggy/bug.py has no hint in ko; add a '# hint(ko): <what the bug looks like to a student>' "
        "line at the top"]
    (folder / "bug.py").write_text("# expect-fail: test_x\n# hint(en): a\n# hint(ko): 가\n# hint(fr): b\n")
    with pytest.raises(GraderError, match="unknown language fr"):
        declared_hints(folder / "bug.py")


@pytest.fixture(scope="module")
def public_session(assignment):
    session = open_session(assignment, [], insecure=True, public_only=True, lang="en")
    yield session
    session.close()


@pytest.mark.e2e
@pytest.mark.parametrize("variant", sorted(HINTS))
def test_three_bugs_that_printed_the_same_message_now_each_name_their_own(assignment, variant, public_session):
    [result] = grade_files(assignment, [assignment.root / "variants" / "buggy" / f"{variant}.py"], insecure=True,
                           public_only=True, session=public_session)
    shown = "\n".join(t["output"] for t in result["tests"] if t["status"] == "failed")
    assert HINTS[variant] in shown
    assert not [text for name, text in HINTS.items() if name != variant and text in shown]


@pytest.mark.e2e
def test_a_student_who_forgets_gy_reads_the_hint_in_korean(assignment, tmp_path):
    student = tmp_path / "mine.py"
    source = (EXAMPLES / "correct.py").read_text()
    # Written differently from the variant (a student's own code), with the same bug.
    fixed = source.replace("return 2 * self.input.data * gy", "x = self.input.data\n        return x + x")
    assert fixed != source, "the example's Square.backward changed: update this test"
    student.write_text(fixed)
    [result] = grade_files(assignment, [student], insecure=True, public_only=True, lang="ko")
    failed = [t["output"] for t in result["tests"] if t["status"] == "failed"]
    assert failed and all("힌트: Square.backward가 gy를 곱하지 않는 것 같습니다" in text for text in failed)


@pytest.mark.e2e
def test_correct_code_and_unrelated_bugs_get_no_known_bug_hint(assignment, public_session):
    [correct, other] = grade_files(assignment, [EXAMPLES / "correct.py", EXAMPLES / "recursive_backward.py"],
                                   insecure=True, public_only=True, session=public_session)
    text = json.dumps([correct["tests"], other["tests"]], ensure_ascii=False)
    assert not any(hint in text for hint in HINTS.values())


@pytest.mark.e2e
def test_hidden_tests_name_the_bug_without_their_inputs(assignment, session):
    [result] = grade_files(assignment, [assignment.root / "variants" / "buggy" / "square_backward_forgets_gy.py"],
                           session=session)
    hidden = [t for t in result["tests"] if "hidden" in t["tags"] and t["status"] == "failed"]
    assert hidden and any("Square.backward seems to ignore gy" in t["output"] for t in hidden)
    for test in hidden:
        assert "expected" not in test["output"] and "got" not in test["output"]


def test_the_handout_records_the_variants_answers_but_ships_no_variant_code(assignment):
    from grader.handout import handout_files

    files = handout_files(assignment)
    recorded = json.loads(files["assignments/stage1_autodiff/known_bugs.json"])
    assert "square_backward_forgets_gy" in recorded
    assert recorded["square_backward_forgets_gy"]["hints"]["ko"].startswith("Square.backward가")
    expected = json.loads(files["assignments/stage1_autodiff/public_expected.json"])
    for entry in recorded.values():
        assert set(entry["answers"]) <= set(expected), "only the public tests' probe calls"
    assert not any("variants/" in name for name in files)
    variant_lines = {line.strip() for path in (assignment.root / "variants").rglob("*.py")
                     for line in path.read_text().splitlines() if len(line.strip()) > 20}
    template = files["dezero_stage1.py"].decode()
    for name, data in files.items():
        if name.endswith((".json", ".md", ".toml")) and not name.startswith("grader-kit"):
            lines = {line.strip() for line in data.decode().splitlines()}
            assert not [line for line in variant_lines & lines if line not in template], name


@pytest.mark.e2e
def test_a_handout_names_the_bug_from_recorded_answers(assignment, tmp_path):
    from grader.assignment import load_assignment
    from grader.handout import build_handout

    build_handout(assignment, tmp_path / "h.zip")
    zipfile.ZipFile(tmp_path / "h.zip").extractall(tmp_path)
    handout = load_assignment(str(tmp_path / "dezero_stage1_handout" / "assignments" / "stage1_autodiff"))
    assert handout.reference is None
    path = tmp_path / "mine.py"
    shutil.copy(assignment.root / "variants" / "buggy" / "exp_backward_forgets_gy.py", path)
    [result] = grade_files(handout, [path], insecure=True, public_only=True, lang="en")
    assert any("Exp.backward seems to ignore gy" in t["output"] for t in result["tests"])


def _bug(answer):
    bug = KnownBug("b", {"en": "e", "ko": "k"}, None, {}, None)
    bug._answers["p{}"] = answer
    return bug


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=5))
def test_a_match_needs_every_answer_of_the_test_to_agree(values):
    """A student matches a bug only when every answer of the failed test is that bug's answer."""
    from grader.handles import probe_key

    arr = np.array(values)
    key = probe_key("p", {})
    bug = KnownBug("b", {"en": "e"}, None, {}, None)
    bug._answers[key] = {"grad": arr}
    bugs = KnownBugs([bug])
    assert bugs.match([("p", {}, {"grad": arr.copy()})]) is bug
    assert bugs.match([("p", {}, {"grad": arr * 2 + 1.0})]) is None
    assert bugs.match([("p", {}, {"grad": arr.astype(np.float32)})]) is None
    assert bugs.match([("p", {}, {"grad": arr}), ("q", {}, 1)]) is None  # the bug never answered q
    assert bugs.match([]) is None


def test_two_variants_with_the_same_answers_name_neither():
    from grader.handles import probe_key

    key = probe_key("p", {})
    first, second = KnownBug("a", {"en": "a"}, None, {}, None), KnownBug("b", {"en": "b"}, None, {}, None)
    first._answers[key] = second._answers[key] = 1.5
    assert KnownBugs([first, second]).match([("p", {}, 1.5)]) is None
    assert same(1.5, 1.5 + 1e-12) and not same(1.5, "1.5") and not same(np.zeros(2), [0.0, 0.0])
