"""Feedback that names the bug (issue 14, item 4; issue 24, item 1): a wrong answer that is a known bug's
(a buggy variant's or a hinted mutant's) gets that bug's hint, in the student's language; hidden tests get
the hint without their inputs; a handout carries the known bugs' recorded public answers, never their code."""
import json
import shutil
import time
import zipfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

from conftest import EXAMPLES
from grader.errors import GraderError
from grader.grading import answer_book, grade_files, open_session
from grader.handles import probe_key
from grader.hints.book import WRONG, AnswerBook, same
from grader.hints.catalogue import KnownBug, mutant_hints
from grader.hints.coverage import _looks_like_a_bug, hint_report
from grader.hints.record import (REFERENCE, Recording, book_key, build_book, named, record, submission_of)
from grader.variants import declared_hints, find_variants, variant_problems

HINTS = {"square_backward_forgets_gy": "Square.backward seems to ignore gy",
         "exp_backward_forgets_gy": "Exp.backward seems to ignore gy",
         "seed_without_ones_like": "seed the gradient with np.array(1.0)"}
# Issue 24, item 1: the bug that used to get no hint at all.
GY_TIMES_X = "Exp.backward seems to multiply gy by x; the derivative of exp(x) is exp(x)"


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


def _student_file(tmp_path, old, new, name="mine.py"):
    """The example solution with one bug written in, as a student would write it (not as the variant is)."""
    source = (EXAMPLES / "correct.py").read_text()
    fixed = source.replace(old, new)
    assert fixed != source, "the example solution changed: update this test"
    path = tmp_path / name
    path.write_text(fixed)
    return path


@pytest.mark.e2e
def test_a_student_who_forgets_gy_reads_the_hint_in_korean(assignment, tmp_path, public_session):
    student = _student_file(tmp_path, "return 2 * self.input.data * gy", "x = self.input.data\n        return x + x")
    session = open_session(assignment, [], insecure=True, public_only=True, lang="ko", book=public_session.book)
    try:
        [result] = grade_files(assignment, [student], insecure=True, public_only=True, session=session)
    finally:
        session.close()
    failed = [t["output"] for t in result["tests"] if t["status"] == "failed"]
    assert failed and all("힌트: Square.backward가 gy를 곱하지 않는 것 같습니다" in text for text in failed)


@pytest.mark.e2e
def test_exp_backward_written_as_gy_times_x_is_named_now(assignment, tmp_path, session):
    """Issue 24, item 1: `gy * x` (the mutant is `x * gy`) got only "has the wrong values"; now every test it
    fails, public and hidden, names it."""
    student = _student_file(tmp_path, "return np.exp(self.input.data) * gy", "return gy * self.input.data")
    [result] = grade_files(assignment, [student], session=session)
    failed = [t for t in result["tests"] if t["status"] == "failed"]
    assert {t["tags"][0] for t in failed} == {"public", "hidden"}
    assert all(GY_TIMES_X in t["output"] for t in failed)


@pytest.mark.e2e
def test_a_student_with_two_bugs_is_told_each_where_it_alone_shows(assignment, tmp_path, session):
    """No known bug answers like this file everywhere; test by test, each bug is named where it is the only one."""
    source = _student_file(tmp_path, "return np.exp(self.input.data) * gy", "return gy * self.input.data").read_text()
    path = tmp_path / "two.py"
    path.write_text(source.replace("return 2 * self.input.data * gy", "return 2 * self.input.data"))
    assert path.read_text() != source
    [result] = grade_files(assignment, [path], session=session)
    outputs = {t["tags"][-1]: t["output"] for t in result["tests"] if t["status"] == "failed"}
    assert "Square.backward seems to ignore gy" in outputs["test_public_square_backward"]
    assert GY_TIMES_X in outputs["test_public_exp_backward"]
    assert "hint" not in outputs["test_public_composite_grad"]  # both bugs shape that answer: no one's alone


@pytest.mark.e2e
def test_correct_code_and_unrelated_bugs_get_no_known_bug_hint(assignment, public_session):
    [correct, other] = grade_files(assignment, [EXAMPLES / "correct.py", EXAMPLES / "recursive_backward.py"],
                                   insecure=True, public_only=True, session=public_session)
    text = json.dumps([correct["tests"], other["tests"]], ensure_ascii=False)
    assert not any(hint in text for hint in HINTS.values()) and "seems to" not in text


@pytest.mark.e2e
@pytest.mark.parametrize("stage", ["stage1_autodiff", "stage2_natural_code"])
def test_no_hint_fires_on_any_correct_variant(stage):
    """Every correct variant, graded with the book: full marks and no hint; and none of its answers, on any
    test, is a known bug's wrong trace (so no tolerance can make correct code look like a known bug)."""
    from grader.assignment import load_assignment

    assignment = load_assignment(stage)
    book = answer_book(assignment)
    correct = [v for v in find_variants(assignment.root) if v.kind == "correct"]
    recordings = record(assignment, {v.label: submission_of(KnownBug(v.label, None, path=v.path), assignment)
                                     for v in correct})
    for label, recording in recordings.items():
        assert not recording.killed, label
        assert _looks_like_a_bug(book, recording) == [], label
        assert book.hints_for({case: (WRONG, answers) for case, (_, _, answers) in recording.tests.items()}) == {}


@pytest.mark.e2e
def test_hidden_tests_name_the_bug_without_their_inputs(assignment, session):
    [result] = grade_files(assignment, [assignment.root / "variants" / "buggy" / "square_backward_forgets_gy.py"],
                           session=session)
    hidden = [t for t in result["tests"] if "hidden" in t["tags"] and t["status"] == "failed"]
    assert hidden and any("Square.backward seems to ignore gy" in t["output"] for t in hidden)
    for test in hidden:
        assert "expected" not in test["output"] and "got" not in test["output"]


def test_the_handout_records_the_public_answers_but_no_bug_code_or_name(assignment):
    from grader.handout import handout_files

    files = handout_files(assignment)
    recorded = json.loads(files["assignments/stage1_autodiff/known_bugs.json"])
    hints = [group["hint"] for group in recorded["groups"]]
    assert any(hint and hint["ko"].startswith("Square.backward가") for hint in hints)
    assert any(hint and hint["en"].startswith(GY_TIMES_X) for hint in hints)
    assert all(set(group) == {"hint"} for group in recorded["groups"]), "no member names: a mutant's quotes the reference"
    expected = json.loads(files["assignments/stage1_autodiff/public_expected.json"])
    for entry in recorded["tests"].values():
        assert entry["hidden"] is False
        for trace in entry["traces"]:
            assert {key for key, _ in trace["answers"]} <= set(expected), "only the public tests' probe calls"
    assert recorded["tests"] and all(case.startswith("test_public_") for case in recorded["tests"])
    assert not any("variants/" in name or name.endswith("hints.toml") for name in files)
    variant_lines = {line.strip() for path in (assignment.root / "variants").rglob("*.py")
                     for line in path.read_text().splitlines() if len(line.strip()) > 20}
    mutant_ids = set(mutant_hints(assignment.root))
    template = files["dezero_stage1.py"].decode()
    for name, data in files.items():
        if name.endswith((".json", ".md", ".toml")) and not name.startswith("grader-kit"):
            text = data.decode()
            lines = {line.strip() for line in text.splitlines()}
            assert not [line for line in variant_lines & lines if line not in template], name
            assert not [mutant for mutant in mutant_ids if mutant in text], name


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
    student = _student_file(tmp_path, "return np.exp(self.input.data) * gy", "return gy * self.input.data",
                            name="gyx.py")
    [forgets, gyx] = grade_files(handout, [path, student], insecure=True, public_only=True, lang="en")
    assert any("Exp.backward seems to ignore gy" in t["output"] for t in forgets["tests"])
    assert any(GY_TIMES_X in t["output"] for t in gyx["tests"])


# --- the book, without the sandbox ---------------------------------------------------------------

def _recording(**tests):
    """case -> list of (probe name, answer): a recording that failed each with a wrong answer."""
    return Recording(True, {case: (WRONG, False, [(probe_key(name, {}), value) for name, value in answers])
                            for case, answers in tests.items()})


def _book(recordings, hints):
    book = build_book({REFERENCE: Recording(False, {}), **recordings})
    return named(book, hints)[0]


def _asked(**tests):
    return {case: (WRONG, [(probe_key(name, {}), value) for name, value in answers]) for case, answers in tests.items()}


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=5))
def test_a_match_needs_every_answer_of_the_test_to_agree(values):
    """A student matches a bug only when every answer of the failed test is that bug's answer."""
    arr = np.array(values)
    book = _book({"b": _recording(t=[("p", {"grad": arr})])}, {"b": {"en": "e", "ko": "k"}})
    assert book.hints_for(_asked(t=[("p", {"grad": arr.copy()})])) == {"t": {"en": "e", "ko": "k"}}
    assert book.hints_for(_asked(t=[("p", {"grad": arr * 2 + 1.0})])) == {}
    assert book.hints_for(_asked(t=[("p", {"grad": arr.astype(np.float32)})])) == {}
    assert book.hints_for(_asked(t=[("p", {"grad": arr}), ("q", 1)])) == {}  # the bug never answered q
    assert book.hints_for({}) == {}


def test_the_whole_submission_decides_between_bugs_that_agree_on_one_test():
    """Bugs a and b give the same wrong answer on t; b also fails u. Answering like a everywhere names a,
    even on t, where b looks the same; a test alone where two hints disagree names neither."""
    book = _book({"a": _recording(t=[("p", 1.5)]), "b": _recording(t=[("p", 1.5)], u=[("q", 2)])},
                 {"a": {"en": "A"}, "b": {"en": "B"}})
    assert book.hints_for(_asked(t=[("p", 1.5)])) == {"t": {"en": "A"}}
    assert book.hints_for(_asked(t=[("p", 1.5)], u=[("q", 2)])) == {"t": {"en": "B"}, "u": {"en": "B"}}
    # Another bug on u (answers no known bug gives): test by test, t is ambiguous, u unknown.
    assert book.hints_for(_asked(t=[("p", 1.5)], u=[("q", 3)])) == {}
    assert same(1.5, 1.5 + 1e-12) and not same(1.5, "1.5") and not same(np.zeros(2), [0.0, 0.0])


def test_an_unnamed_bug_silences_the_hint_it_could_be_mistaken_for():
    book = _book({"a": _recording(t=[("p", 1.5)], u=[("q", 1)]), "b": _recording(t=[("p", 1.5)])},
                 {"a": {"en": "A"}})  # b has no hint
    assert book.hints_for(_asked(t=[("p", 1.5)])) == {}  # exactly b, whose hint nobody wrote
    assert book.hints_for(_asked(t=[("p", 1.5)], u=[("q", 1)])) == {"t": {"en": "A"}, "u": {"en": "A"}}
    assert book.hints_for(_asked(t=[("p", 1.5)], v=[("r", 0)])) == {}  # t alone: a or b, and b has none


def test_answers_the_reference_gives_are_no_fingerprint():
    """A bug caught only by a check tighter than the book's tolerance has no fingerprint."""
    reference = Recording(False, {"t": ("passed", False, [(probe_key("p", {}), 1.0 + 1e-9), (probe_key("q", {}), 5)])})
    book = build_book({REFERENCE: reference, "near": _recording(t=[("p", 1.0)]), "far": _recording(t=[("p", 2.0)])})
    assert [group["members"] for group in book.groups] == [["far"]]


def test_bugs_with_the_same_answers_form_one_fingerprint_and_agree_on_a_hint():
    recordings = {"a": _recording(t=[("p", 1.0)]), "b": _recording(t=[("p", 1.0 + 1e-12)]),
                  "c": _recording(t=[("p", 3.0)])}
    book = build_book({REFERENCE: Recording(False, {}), **recordings})
    assert [group["members"] for group in book.groups] == [["a", "b"], ["c"]]
    hinted, conflicts = named(book, {"a": {"en": "A"}, "b": {"en": "B"}, "c": {"en": "C"}})
    assert hinted.hints == [None, {"en": "C"}] and conflicts == [["a", "b"]]
    bugs = [KnownBug(name, hint) for name, hint in (("a", {"en": "A", "ko": "가"}), ("b", {"en": "B"}),
                                                   ("c", {"en": "C", "ko": "다"}), ("d", {"en": "D", "ko": "라"}))]
    report = hint_report(book, bugs, {**recordings, "d": Recording(False, {})}, 0.8, stale_ids=frozenset({"gone"}))
    assert (report.named, report.fingerprints) == (1, 2)
    assert report.lines(list_unnamed=True) == ["hints: 1 of 2 fingerprints named",
                                               "  unnamed: a  (and 1 more with the same answers)"]
    text = "\n".join(report.problems)
    assert "different hints, so none shows (keep one): a; b" in text
    assert '[mutants."b"] has no hint in ko' in text
    assert "names a mutant whose hint can never show (the tests do not kill it): d" in text
    assert "no longer generated; update or remove it: gone" in text
    assert "hints name 1 of 2 fingerprints (50%), below [selftest] hint_threshold = 0.8" in text


def test_a_book_survives_json_and_a_shipped_one_names_no_bug():
    book = _book({"a": _recording(t=[("p", np.arange(3.0))]), "b": _recording(u=[("q", 2)])},
                 {"a": {"en": "A", "ko": "가"}})
    book.tests["u"]["hidden"] = True
    shipped = AnswerBook.from_data(json.loads(json.dumps(book.to_data(public_only=True, shipped=True))))
    assert shipped.groups == [{"hint": {"en": "A", "ko": "가"}}] and list(shipped.tests) == ["t"]
    assert shipped.hints_for(_asked(t=[("p", np.arange(3.0))])) == {"t": {"en": "A", "ko": "가"}}
    with pytest.raises(ValueError):
        AnswerBook.from_data({"format": 0})


# --- the cache and the bounds of recording --------------------------------------------------------

def test_the_book_key_follows_the_answers_not_the_hints(tmp_path):
    from test_selftest import _kit_copy

    from grader.assignment import load_assignment

    folder = _kit_copy(tmp_path)
    key = book_key(load_assignment(str(folder)))
    (folder / "hints.toml").write_text('[mutants."x: a -> b"]\nen = "e"\nko = "k"\n')
    assert book_key(load_assignment(str(folder))) == key
    public = folder / "tests" / "public" / "test_public_stage1.py"
    public.write_text(public.read_text() + "\n# a changed test\n")
    assert book_key(load_assignment(str(folder))) != key


@pytest.mark.e2e
def test_a_mutant_that_never_returns_is_bounded_in_the_sandbox(assignment):
    """Known bugs run only in the sandbox, under [selftest]'s deadlines: one that loops is cut off there."""
    source = assignment.reference.read_text().replace("        pending = [self.creator]\n",
                                                       "        pending = [self.creator]\n        while True:\n"
                                                       "            pass\n", 1)
    assert "while True" in source
    started = time.monotonic()
    [recording] = record(assignment, {"loops": submission_of(KnownBug("loops", None, source=source),
                                                              assignment)}).values()
    assert recording.killed and recording.wrong() == {}
    assert time.monotonic() - started < assignment.selftest.mutant_submission_seconds + 10
