import re

import pytest

from conftest import EXAMPLES, ROOT
from grader.assignment import list_assignments, load_assignment
from grader.i18n import LANGUAGES, Message, assignment_catalogue, assignment_title, catalogue, choose_language

GRADER = ROOT / "grader"


def test_every_key_exists_in_every_language():
    keys = {lang: set(catalogue(lang)) for lang in LANGUAGES}
    for lang in LANGUAGES:
        assert keys[lang] == keys["en"], f"{lang}: missing {keys['en'] - keys[lang]}, extra {keys[lang] - keys['en']}"


def test_placeholders_match_across_languages():
    for key, english in catalogue("en").items():
        for lang in LANGUAGES:
            assert set(re.findall(r"{(\w+)}", catalogue(lang)[key])) == set(re.findall(r"{(\w+)}", english)), key


def test_every_message_key_used_in_code_is_in_the_catalogue():
    source = "\n".join(p.read_text() for p in GRADER.rglob("*.py"))
    used = set(re.findall(r'Message\(\s*"([\w.]+)"', source))
    used |= {f"submission.{k}" for k in re.findall(r'SubmissionError\(\s*"(\w+)"', source)}
    assert used and used <= set(catalogue("en")), used - set(catalogue("en"))


@pytest.fixture(params=[folder.name for folder in list_assignments(ROOT)])
def each_assignment(request):
    return load_assignment(request.param, repo_root=ROOT)


def test_every_test_has_a_title_in_every_language(each_assignment):
    assignment = each_assignment
    names = set()
    for path in assignment.root.joinpath("tests").rglob("test_*.py"):
        names |= set(re.findall(r"^def (test_\w+)", path.read_text(), re.M))
    for lang in LANGUAGES:
        titles = {k.removeprefix("tests.") for k in assignment_catalogue(str(assignment.root), lang)}
        assert names <= titles, f"{lang}: no title for {names - titles}"


def test_every_check_key_an_assignment_test_names_is_in_the_catalogue(each_assignment):
    source = "\n".join(p.read_text(encoding="utf-8") for p in each_assignment.root.joinpath("tests").rglob("*.py"))
    used = set(re.findall(r'"(check\.[\w.]+)"', source))  # dotted too: stage 4 names "check.nn.weight_scale"
    for lang in LANGUAGES:
        assert used <= set(catalogue(lang)), (lang, used - set(catalogue(lang)))


@pytest.mark.parametrize("folder", sorted(ROOT.joinpath("assignments").glob("*/messages")))
def test_every_assignment_has_a_title_in_every_language(folder):
    """Issue 24, item 5: `grader check --lang ko` no longer shows an English title."""
    titles = {lang: assignment_catalogue(str(folder.parent), lang).get("title") for lang in LANGUAGES}
    assert all(titles.values()) and len(set(titles.values())) == len(LANGUAGES), titles
    assert assignment_title(str(folder.parent), "ko", "x") == titles["ko"]


def test_language_choice_order(monkeypatch):
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    assert choose_language(None, None) == "ko"
    assert choose_language("en", "ko") == "en" and choose_language(None, "en") == "en"
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert choose_language(None, None) == "en"


def english_fragments():
    """Literal pieces of the English texts that no Korean text contains."""
    korean = " ".join(catalogue("ko").values())
    pieces = set()
    for text in catalogue("en").values():
        for piece in re.split(r"{\w+}", text):
            piece = piece.strip(" :;,.()[]")
            if len(piece) >= 10 and piece not in korean:
                pieces.add(piece)
    return pieces


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["recursive_backward.py", "exp_backward_bug.py", "syntax_error.py", "not_utf8.py",
                                  "correct_notebook.ipynb"])
def test_korean_results_have_no_english_sentences_or_raw_keys(assignment, session, name):
    from grader.grading import grade_loaded, load_or_error

    session.lang = "ko"
    try:
        [result] = grade_loaded(assignment, [(name, load_or_error(EXAMPLES / name, assignment))], session)
    finally:
        session.lang = "en"
    texts = [result["output"]] + [t["name"] for t in result["tests"]] + [t["output"] for t in result["tests"]]
    blob = "\n".join(texts)
    assert not re.search(r"\b(check|worker|load|summary|student|hint|submission)\.\w+", blob), blob
    for fragment in english_fragments():
        assert fragment not in blob, f"English text {fragment!r} in a Korean result"
    assert "점수" in result["output"]


@pytest.mark.e2e
def test_recursive_backward_gets_the_loop_hint_in_both_languages(assignment, session):
    from grader.grading import grade_loaded, load_or_error

    submission = load_or_error(EXAMPLES / "recursive_backward.py", assignment)
    for lang, words in (("en", "use a loop over a list of functions"), ("ko", "반복문")):
        session.lang = lang
        try:
            [result] = grade_loaded(assignment, [("r", submission)], session)
        finally:
            session.lang = "en"
        [failed] = [t for t in result["tests"] if t["status"] == "failed" and "hidden" in t["tags"]]
        assert "RecursionError" in failed["output"] and words in failed["output"]


def test_rendering_nested_messages():
    inner = Message("worker.phase_loading")
    assert Message("worker.timeout", {"seconds": 2, "phase": inner}).render("en").endswith("while loading")
    assert "불러오기" in Message("worker.timeout", {"seconds": 2, "phase": inner}).render("ko")
