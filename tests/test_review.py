"""The review flag: a static scan of the source for tools that reach into the grader, never a score change."""
import csv

import pytest

from conftest import EXAMPLES, ROOT
from grader.report import score_rows, write_report, write_scores_csv
from grader.review import review_reasons, scan_cells

HOSTILE = ROOT / "examples" / "hostile"


@pytest.mark.parametrize("source, kind", [
    ("import grader.sandbox.child as c\nc.answer_probe = None\n", "kit"),
    ("from grader import wire\n", "kit"),
    ("import importlib\nm = importlib.import_module('grader.wire')\n", "kit"),
    ("import sys\nfor name in list(sys.modules): pass\n", "sys_modules"),
    ("import sys\nm = getattr(sys, 'modules')\n", "sys_modules"),
    ("import gc\nobjs = gc.get_objects()\n", "gc"),
    ("import inspect\n", "frames"),
    ("import sys\nframe = sys._getframe(1).f_back\n", "frames"),
    ("def f(frame):\n    return frame.f_globals\n", "frames"),
    ("def f(g):\n    g.__code__ = None\n", "code_objects"),
    ("import ctypes\n", "ctypes"),
    ("import socket\n", "raw_io"),
    ("import os\nos.write(77, b'x')\n", "raw_io"),
    ("import os\nos.dup2(3, 4)\n", "raw_io"),
    ("import os\nprint(os.listdir('/proc/self/fd'))\n", "raw_io"),
    ("exec('x = 1')\n", "exec"),
    ("m = __import__('o' + 's')\n", "importlib"),
])
def test_each_sign_is_found_with_its_line(source, kind):
    found = scan_cells([source])
    assert kind in {k for k, _, _ in found}
    assert all(line and line >= 1 for _, _, line in found)


@pytest.mark.parametrize("source", [
    "import sys\nsys.setrecursionlimit(10000)\n",  # students raise it for a recursive backward
    "import numpy as np\nx = np.ones(3)\nprint(x.data, x.grad)\n",
    "import os\nprint(os.getcwd())\n",
])
def test_ordinary_code_is_not_flagged(source):
    assert scan_cells([source]) == []


@pytest.mark.parametrize("path", [*sorted(EXAMPLES.glob("*.py")), ROOT / "reference" / "dezero_stage1.py"])
def test_honest_examples_and_the_reference_are_not_flagged(path):
    assert review_reasons([path.read_text(encoding="utf-8", errors="replace")], "en") == []


def test_unparsable_source_still_scanned_and_cells_named():
    assert scan_cells(["def f(:\n", "x = 1\nimport ctypes\n"]) == [("ctypes", 2, 2)]
    assert scan_cells(["def broken(:\n  import ctypes\n"]) == [("ctypes", None, 2)]
    ko = review_reasons(["x = 1", "import gc"], "ko")
    assert ko == [review_reasons(["import gc"], "ko")[0].replace("(1행)", "(2번 셀 1행)")]
    assert "gc" in review_reasons(["import gc"], "en")[0] and "line 1" in review_reasons(["import gc"], "en")[0]


@pytest.mark.e2e
def test_a_forging_submission_is_flagged_and_keeps_its_score(grade):
    forged = grade(HOSTILE / "forge_deep_chain.py")
    honest = grade(EXAMPLES / "recursive_backward.py")
    assert forged["score"] == honest["score"]
    assert honest["extra_data"]["review"] == []
    reasons = forged["extra_data"]["review"]
    assert any("grader" in r and "line 3" in r for r in reasons) and any("__code__" in r for r in reasons)


def test_scores_csv_and_report_show_the_review(tmp_path):
    def result(student, review):
        return {"score": 56.0, "max_score": 56.0, "tests": [], "extra_data": {
            "status": "graded", "submission": student, "student": student, "review": review}}

    results = [result("alice", []), result("mallory", ["refers to the grader's own modules (line 3)"])]
    rows = score_rows(results, None)
    write_scores_csv(rows, tmp_path / "scores.csv")
    with open(tmp_path / "scores.csv", encoding="utf-8") as handle:
        table = {row["student"]: row for row in csv.DictReader(handle)}
    assert table["alice"]["review"] == "" and "grader's own modules" in table["mallory"]["review"]
    assert table["mallory"]["score"] == "56"
    write_report(results, rows, tmp_path / "report.html", "class")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    review_section = page[page.index("To review by hand"):page.index("<h2>Students")]
    assert "mallory" in review_section and "alice" not in review_section
    assert "grader&#x27;s own modules (line 3)" in review_section


def test_forged_replies_are_the_runtime_reason_in_both_languages():
    assert review_reasons(["x = 1"], "en", untagged_replies=0) == []
    en, ko = review_reasons(["x = 1"], "en", 3), review_reasons(["x = 1"], "ko", 3)
    assert len(en) == len(ko) == 1 and "3" in en[0] and "did not produce" in en[0] and "3개" in ko[0]


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=300),
                          st.sampled_from(["import gc", "(" * 5000, "x." * 3000 + "f_back", "\x00", "def f(:"])),
                min_size=1, max_size=4))
def test_any_source_gives_a_bounded_list_of_strings(cells):
    reasons = review_reasons(cells, "ko", untagged_replies=1)
    assert all(isinstance(r, str) and r for r in reasons) and 1 <= len(reasons) <= 12


_TOKENS = ["import ", "from ", "os", "sys", ".", "write", "modules", "grader", " check", "gc", "inspect", "f_back",
           "'f_back'", "__code__", "exec(", "eval(", "getattr(x, ", "\"/proc/self/fd\"", " ", "\n", "x = ", "(", ")",
           "socket", "ctypes", "_getframe", "importlib", "__import__(", "# ", "\"\"\"", ", "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join))
def test_the_text_prefilter_never_hides_a_sign(source):
    """Files without any sign's text are not parsed; the result must be what a full scan finds."""
    import re

    import grader.review as review

    filtered = review.scan_cells([source])
    everything = re.compile(r"")
    original, review._ANY_SIGN = review._ANY_SIGN, everything
    try:
        assert filtered == review.scan_cells([source])
    finally:
        review._ANY_SIGN = original


def test_the_prefilter_agrees_on_every_bundled_file():
    import re

    import grader.review as review

    files = [p for p in ROOT.glob("examples/**/*.py")] + [p for p in ROOT.glob("assignments/*/variants/*/*.py")]
    original = review._ANY_SIGN
    for path in files:
        source = path.read_text(encoding="utf-8", errors="replace")
        filtered = review.scan_cells([source])
        review._ANY_SIGN = re.compile(r"")
        try:
            assert filtered == review.scan_cells([source]), path.name
        finally:
            review._ANY_SIGN = original
