"""``grader selftest``: the assignment is consistent before anyone is graded with it.

The reference earns full marks, the generated template (both forms) earns 0, every test
has points, every points entry names a test, and the committed template is current.
"""
from __future__ import annotations

from grader.assignment import Assignment
from grader.grading import grade_files
from grader.template import stale_template_files, template_files


def selftest_problems(assignment: Assignment) -> list[str]:
    problems = [f"{p} is out of date: run grader template build" for p in stale_template_files(assignment)]
    template_paths = sorted(template_files(assignment))
    results = grade_files(assignment, [assignment.reference, *template_paths])
    reference, templates = results[0], results[1:]
    for test in reference["tests"]:
        if test["status"] != "passed":
            problems.append(f"reference fails '{test['name']}': {test['output']}")
        if test["max_score"] <= 0:
            problems.append(f"test '{test['tags'][-1]}' has no points in assignment.toml [points]")
    if reference["score"] != reference["max_score"]:
        problems.append(f"reference scores {reference['score']:g}/{reference['max_score']:g}, not full marks")
    for path, result in zip(template_paths, templates):
        if result["score"] != 0:
            earned = [t["tags"][-1] for t in result["tests"] if t["score"] > 0]
            problems.append(f"untouched template {path.name} scores {result['score']:g}: {', '.join(earned)}")
    test_names = {t["tags"][-1] for t in reference["tests"]}
    for key in assignment.points:
        if not any(name == key or name.split("[", 1)[0] == key for name in test_names):
            problems.append(f"[points] entry '{key}' matches no test")
    return problems


def run_selftest(assignment: Assignment) -> bool:
    problems = selftest_problems(assignment)
    for problem in problems:
        print(f"selftest: {problem}")
    if not problems:
        print(f"selftest: {assignment.id} ok: reference full marks, template 0, every test has points")
    return not problems
