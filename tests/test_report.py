"""report.html shows who failed what (issue 14, item 10): the student x test matrix, pass rates on a
colour scale with "k of n graded", full labels, one denominator, provenance, plurals, case-insensitive
order; rendered in headless Chromium without a blank page or horizontal overflow."""
import json
import re
import time

import pytest

from browser import chromium, distinct_colors, layout_widths, screenshot
from conftest import ROOT
from grader.report import (matrix_html, pass_rate_color, plural, score_rows, student_sort_key, write_report)

TESTS = [("square(x) forward values", "test_public_square_forward", False, 1.0),
         ("Analytic gradient agrees with numerical_diff [2d-composite] on a very long title that must not be cut",
          "test_gradient_matches_numerical_diff[2d-composite]", True, 2.0),
         ("Exp.backward with upstream gradient [2, 3]", "test_public_exp_backward", False, 1.0)]


def fake_result(student: str, passed: list[bool], status: str = "graded") -> dict:
    tests = [{"name": title, "number": str(i + 1), "score": points if ok else 0.0, "max_score": points,
              "status": "passed" if ok else "failed", "output": "", "visibility": "visible",
              "tags": ["hidden" if hidden else "public", ident]}
             for i, ((title, ident, hidden, points), ok) in enumerate(zip(TESTS, passed))]
    score = sum(t["score"] for t in tests)
    return {"score": score, "max_score": 4.0, "tests": tests, "output": "",
            "extra_data": {"status": status, "student": student, "submission": student, "assignment_hash": "ab" * 32,
                           "grader_version": "0.1.0", "events": [], "error": "boom" if status == "error" else None,
                           "lms_ids": {}, "late": False}}


def _class():
    return [fake_result("bob", [True, True, True]), fake_result("Alice", [True, False, True]),
            fake_result("carol", [True, True, False]), fake_result("Dave", [True, True, True]),
            fake_result("eve", [True, True, True]), fake_result("zed", [False, False, False], status="error")]


@pytest.fixture
def page(tmp_path):
    results = _class()
    path = tmp_path / "report.html"
    write_report(results, score_rows(results, None), path, "Stage 1: class report")
    return path, path.read_text(encoding="utf-8")


def _matrix(text):
    return json.loads(re.search(r"<script type='application/json' id='matrix-data'>(.*?)</script>", text, re.S)
                      .group(1))


def test_the_matrix_holds_every_student_and_test_in_case_insensitive_order(page):
    data = _matrix(page[1])
    assert [s[0] for s in data["students"]] == ["Alice", "bob", "carol", "Dave", "eve", "zed"]
    cells = {s[0]: s[2] for s in data["students"]}
    assert cells["Alice"] == "pfp" and cells["carol"] == "ppf" and cells["zed"] == "---"  # error: not run
    assert [t["hidden"] for t in data["tests"]] == [False, True, False]
    assert [t["points"] for t in data["tests"]] == [1.0, 2.0, 1.0]


def test_student_table_is_sorted_case_insensitively():
    rows = [{"student": name, "status": "graded"} for name in ("bob", "Alice", "Carol", "alan")]
    assert [r["student"] for r in sorted(rows, key=student_sort_key)] == ["alan", "Alice", "bob", "Carol"]


def test_pass_rates_use_a_colour_scale_say_k_of_n_and_keep_full_labels(page):
    text = page[1]
    assert "4 of 5 graded" in text and "5 of 5 graded" in text  # the error submission is not counted
    assert pass_rate_color(0.8) != pass_rate_color(1.0) != pass_rate_color(0.95)
    assert TESTS[1][0] in text and "…" not in text
    assert "hidden, 2 pt" in text and "public, 1 pt" in text


def test_mean_and_histogram_count_the_same_submissions_and_say_so(page):
    text = page[1]
    assert "Mean score 3.4 / 4 over the 5 graded submissions; the histogram counts the same ones." in text
    assert "1 submission that could not be run is not counted" in text
    bars = re.findall(r"<title>[\d.]+-[\d.]+: (\d+)</title>", text)
    assert sum(map(int, bars)) == 5


def test_the_page_says_when_by_which_kit_and_from_which_assignment(page):
    text = page[1]
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC by dezero-autograder \S+", text)
    assert "abababababab" in text


def test_counts_agree_with_their_nouns():
    assert plural(1, "student") == "1 student" and plural(2, "student") == "2 students"
    assert plural(0, "error") == "0 errors"


def test_a_student_name_cannot_end_the_script_or_add_markup(tmp_path):
    evil = fake_result("</script><script>alert(1)</script>", [True, True, True])
    text = matrix_html([evil])
    assert "</script><script>alert" not in text and "\\u003c/script>" in text


pytestmark_browser = pytest.mark.skipif(chromium() is None, reason="headless Chromium is not installed "
                                        "(.ci/run installs the Debian package chromium)")


@pytestmark_browser
@pytest.mark.e2e
def test_chromium_renders_the_report_without_overflow_and_not_blank(page, tmp_path):
    path, _ = page
    png = tmp_path / "report.png"
    screenshot(path, png, 1200, 1400)
    assert distinct_colors(png) > 20, "the screenshot is blank"
    scroll, client = layout_widths(path, 1200)
    assert scroll <= client, f"horizontal overflow: {scroll} px of content in {client} px"
    narrow_scroll, narrow_client = layout_widths(path, 800)
    assert narrow_scroll <= narrow_client, f"horizontal overflow at 800 px: {narrow_scroll} in {narrow_client}"


@pytestmark_browser
@pytest.mark.e2e
def test_a_class_of_2000_stays_small_and_renders(tmp_path):
    import random

    rng = random.Random(14)
    results = [fake_result(f"student{n:04d}", [rng.random() < 0.9 for _ in TESTS]) for n in range(2000)]
    path = tmp_path / "report.html"
    write_report(results, score_rows(results, None), path, "big class")
    assert path.stat().st_size < 1_000_000
    started = time.monotonic()
    scroll, client = layout_widths(path, 1200)
    assert time.monotonic() - started < 60 and scroll <= client
