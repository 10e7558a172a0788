"""Stage 5: how long one submission's whole grading takes at -j 1 (the target: under 20 s).

    python benchmarks/bench_stage5.py [--repeats 5]

Figures (all from one run, so compare them with each other; see README.md here):

- ``grade_s``: ``grader grade`` of one copy of the reference in a fresh process, start-up included
  (the sandbox's zygote, pytest, the reference's own probe runs for the deadlines), median of repeats;
  a correct submission runs every test to the end, the most a submission can cost.
- ``batch_j1_per_submission_s``: ``grader batch -j 1 --force`` over the stage's variants (correct and
  buggy), wall time divided by their number.
- ``probes_s``: the reference's probes for every public and hidden test, in-process, no isolation: the floor.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.assignment import load_assignment  # noqa: E402
from grader.handles import ReferenceHandle  # noqa: E402

STAGE = "stage5_deep_learning"
LIMIT_SECONDS = 20.0


def grader(*args: object) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"grader {' '.join(map(str, args))} failed: {done.stderr[-500:]}")
    return time.perf_counter() - started


def probe_floor(assignment) -> float:
    """Every probe call the tests make, run once on the reference in this process."""
    reference = ReferenceHandle.for_assignment(assignment)
    calls = []

    class Recorder:
        def probe(self, name, **args):
            calls.append((name, args))
            return reference.probe(name, **args)

    for folder in (assignment.public_tests, assignment.hidden_tests):
        for path in sorted(folder.glob("test_*.py")):
            namespace: dict = {}
            exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102
            for name, test in namespace.items():
                if name.startswith("test_") and callable(test):
                    test(Recorder(), reference)
    fresh = ReferenceHandle.for_assignment(assignment)
    started = time.perf_counter()
    for name, args in calls:
        fresh._probes[name](fresh._module, **args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    assignment = load_assignment(STAGE, repo_root=ROOT)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        submission = work / "dezero_stage5.py"
        shutil.copyfile(assignment.reference, submission)
        grades = [grader("grade", submission, "-a", STAGE, "-o", work / "r.json") for _ in range(options.repeats)]
        variants = sorted(p for p in (assignment.root / "variants").rglob("*") if p.suffix in (".py", ".ipynb"))
        cls = work / "class"
        cls.mkdir()
        for number, path in enumerate(variants):
            shutil.copyfile(path, cls / f"student{number:02d}{path.suffix}")
        batch = grader("batch", cls, "-a", STAGE, "-o", work / "out", "-j", "1", "--force")
    figures = {"grade_s": statistics.median(grades), "grade_max_s": max(grades),
               "batch_j1_per_submission_s": batch / len(variants), "batch_submissions": len(variants),
               "probes_s": probe_floor(assignment)}
    for key, value in figures.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    verdict = "met" if figures["grade_max_s"] < LIMIT_SECONDS else "NOT MET"
    print(f"one submission graded in under {LIMIT_SECONDS:.0f} s at -j 1: {verdict}")


if __name__ == "__main__":
    main()
