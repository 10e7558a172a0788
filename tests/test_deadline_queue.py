"""A probe call a second test makes again waits behind what the worker computes ahead: its deadline counts that.

With compute-ahead, a submission's worker is handed every hidden call at once, in plan order. A call
that an earlier test already made (its answer was collected) is queued again when another test
repeats it, behind every call still queued: stage 4's second layer test waited for three training
runs and, on a loaded machine, ran out of its 1 s deadline on a correct submission.
"""
import pytest

from grader.assignment import load_assignment
from grader.authoring import scaffold
from grader.grading import grade_files

pytestmark = pytest.mark.e2e

SLOW = 0.6  # seconds the slow probe sleeps: longer than the floor below, shorter than 2 x itself

REFERENCE = '''"""Two numbers."""


def double(x):
    # BEGIN SOLUTION
    # TODO(ko): x의 두 배를 반환하세요.
    # TODO(en): return twice x.
    return 2 * x
    # END SOLUTION
'''

PROBES = f'''import time

SLOW = {SLOW}


def quick(mod, x):
    return mod.double(x)


def slow(mod, x):
    time.sleep(SLOW)
    return mod.double(x)


PROBES = {{"quick": quick, "slow": slow}}
'''

PUBLIC = '''from grader.checks import check_equal


def test_public_quick(student, reference):
    check_equal(student.probe("quick", x=1), reference.probe("quick", x=1), "double(1)")
'''

# The first hidden test makes a new call, so every planned hidden call (the slow one too) is queued;
# the second repeats the public call, which then waits behind the slow one.
HIDDEN = '''from grader.checks import check_equal


def test_first(student, reference):
    check_equal(student.probe("quick", x=2), reference.probe("quick", x=2), "double(2)")


def test_repeat(student, reference):
    check_equal(student.probe("quick", x=1), reference.probe("quick", x=1), "double(1)")


def test_slow(student, reference):
    check_equal(student.probe("slow", x=3), reference.probe("slow", x=3), "double(3)")
'''


def test_a_repeated_call_queued_behind_a_slow_one_is_not_timed_out(tmp_path):
    scaffold(tmp_path, "queue_demo")
    folder = tmp_path / "assignments" / "queue_demo"
    (tmp_path / "reference" / "queue_demo.py").write_text(REFERENCE, encoding="utf-8")
    (folder / "probes.py").write_text(PROBES, encoding="utf-8")
    (folder / "tests" / "public" / "test_public.py").write_text(PUBLIC, encoding="utf-8")
    (folder / "tests" / "hidden" / "test_hidden.py").write_text(HIDDEN, encoding="utf-8")
    config = (folder / "assignment.toml").read_text(encoding="utf-8")
    config = config.replace("floor_seconds = 1 ", "floor_seconds = 0.2 ").replace("reference_factor = 100",
                                                                                   "reference_factor = 2")
    config += "test_public_quick = 1\ntest_first = 1\ntest_repeat = 1\ntest_slow = 1\n"
    (folder / "assignment.toml").write_text(config, encoding="utf-8")
    assignment = load_assignment(str(folder))
    assert (assignment.floor_seconds, assignment.reference_factor) == (0.2, 2.0)
    submissions = [tmp_path / f"student{n}.py" for n in range(2)]  # the first one teaches the session its plan
    for path in submissions:
        path.write_text(REFERENCE, encoding="utf-8")
    results = grade_files(assignment, submissions)
    for result in results:
        assert result["score"] == result["max_score"] == 4, [t["output"] for t in result["tests"] if t["output"]]
