"""Nothing of the kit's layout, nor of the grading machine's, reaches student-visible text (issue 22 item 5).

An unguarded ``unittest.main()`` read the worker's ``sys.argv`` (the zygote's arguments: the probe
file's path and the hidden folders) and printed it into the feedback. Every other way a path reaches
feedback is tried too: output printed while loading, a warning Python prints while compiling a package
file, a load error's text, and a public test's exception text.
"""
import os
import sys

import pytest

import grader
from conftest import EXAMPLES, ROOT
from grader.layout import PathMask

CORRECT = (EXAMPLES / "correct.py").read_text(encoding="utf-8")
LOOKS_AROUND = '''
import os, sys, traceback
import numpy
print("argv", sys.argv)
print("file", __file__, "cwd", os.getcwd())
print("path", sys.path)
print("numpy", numpy.__file__)
print("stack", "".join(traceback.format_stack()))
'''


def _leaks(text: str) -> list[str]:
    """The paths of the kit and of this machine that ``text`` shows."""
    places = [str(ROOT), os.path.dirname(grader.__file__), sys.prefix, sys.base_prefix, "/tmp/work", "probes.py",
              "assignments/", "grader/sandbox"]
    return [place for place in places if place in text]


@pytest.mark.e2e
def test_an_unguarded_unittest_main_shows_no_probe_path(grade, tmp_path):
    source = CORRECT + '''
import unittest


class TestSquare(unittest.TestCase):
    def test_value(self):
        self.assertEqual(Square()(Variable(np.array(3.0))).data, 9.0)


unittest.main()
'''
    result = grade(source, tmp=tmp_path)
    assert result["score"] == result["max_score"], result["output"]
    assert _leaks(result["output"]) == [], result["output"]
    assert "unittest.main()" in result["output"]  # the SystemExit it ends with is the one warning


@pytest.mark.e2e
def test_paths_printed_while_loading_are_masked(grade, tmp_path):
    result = grade(CORRECT + LOOKS_AROUND, tmp=tmp_path)
    output = result["output"]
    assert result["score"] == result["max_score"] and _leaks(output) == [], output
    assert "file submission.py cwd ." in output and "<grader>" in output and "<python>" in output
    assert "argv ['submission.py']" in output


@pytest.mark.e2e
def test_a_load_error_and_a_public_tests_exception_text_show_no_path(grade, tmp_path):
    broken = CORRECT.replace("class Square(Function):", '''class Square(Function):
    def __init__(self):
        import numpy, grader
        raise ValueError(f"{__file__} {numpy.__file__} {grader.__file__} {open.__module__}")
''', 1)
    assert broken != CORRECT
    result = grade(broken, tmp=tmp_path)
    failed = [test["output"] for test in result["tests"] if test["status"] == "failed"]
    assert any("ValueError: submission.py <python>" in text for text in failed), failed
    assert _leaks(" ".join(failed)) == []
    opened = grade('open("/tmp/work/notes.txt")\n' + CORRECT, tmp=tmp_path)
    assert "FileNotFoundError" in opened["output"] and _leaks(opened["output"]) == [], opened["output"]


@pytest.mark.e2e
def test_a_warning_python_prints_while_compiling_a_package_file_names_it_as_submitted(tmp_path):
    from grader.assignment import load_assignment
    from grader.grading import grade_files

    stage2 = load_assignment("stage2_natural_code", repo_root=ROOT)
    package = tmp_path / "dezero"
    package.mkdir()
    reference = (ROOT / "reference" / "dezero_stage2.py").read_text(encoding="utf-8")
    (package / "core_simple.py").write_text(reference + "\nx = 1 if 'a' is 'a' else 0\n", encoding="utf-8")
    (package / "__init__.py").write_text("from dezero.core_simple import Variable\n", encoding="utf-8")
    [result] = grade_files(stage2, [tmp_path])
    assert result["score"] == result["max_score"], result["output"]
    assert "dezero/core_simple.py:" in result["output"] and "SyntaxWarning" in result["output"], result["output"]
    assert _leaks(result["output"]) == []


def test_the_mask_keeps_what_is_no_path_of_ours():
    mask = PathMask(("/srv/kit",), ("/opt/python",))
    assert mask.text("/srv/kit/assignments/a/probes.py:3 and /srv/kit2/x") == "<grader>:3 and /srv/kit2/x"
    assert mask.text("File \"/opt/python/lib/numpy/x.py\", line 2") == "File \"<python>/lib/numpy/x.py\", line 2"
    assert mask.text("/tmp/work/dezero/core.py /tmp/grader-work-12/345/submission.py") == \
        "dezero/core.py submission.py"
    assert mask.data(b"\xff /tmp/work/a.py") == b"\xff a.py"  # bytes that are no UTF-8 pass through
