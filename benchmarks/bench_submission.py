"""One submission's whole grading at -j 1, for one assignment (stage 4's target: under 10 s).

    python benchmarks/bench_submission.py [-a stage4_neural_networks] [--limit 10] [--repeats 5]

Figures (all from one run, so compare them with each other; see README.md here):

- ``grade_s``: ``grader grade`` of one copy of the reference in a fresh process, start-up included
  (the sandbox's zygote, pytest, the reference's own probe runs for the deadlines), median of repeats
  (``grade_max_s`` the slowest); a correct submission runs every test to the end, training included,
  the most a submission can cost.
- ``batch_j1_per_submission_s``: ``grader batch -j 1 --force`` over the assignment's variants (correct
  and buggy), wall time divided by their number.
- ``probes_s``: every probe call of the public and hidden tests, run once on the reference in this
  process, no isolation: the floor. ``training_s`` is the part of it spent in probes named ``train_*``.
- ``worker_peak_mib``: the peak address space (VmPeak) of a process set up like a worker (one BLAS
  thread, matplotlib loaded as the book's package loads it) after every probe call on the reference:
  what ``limits.memory_mb`` must leave room for.
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

# Run in a child process set up as a worker is (one BLAS thread, matplotlib loaded as the book's package
# loads it): every probe call on the reference, then the peak address space, which is what RLIMIT_AS
# (limits.memory_mb) counts.
PEAK = """
import os, sys
os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path.insert(0, sys.argv[1])
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
from benchmarks.bench_submission import recorded_calls
from grader.assignment import load_assignment
from grader.handles import ReferenceHandle
assignment = load_assignment(sys.argv[2], repo_root=__import__("pathlib").Path(sys.argv[1]))
fresh = ReferenceHandle.for_assignment(assignment)
for name, args in recorded_calls(assignment):
    fresh._probes[name](fresh._module, **args)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmPeak")))
"""


def grader(*args: object) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"grader {' '.join(map(str, args))} failed: {done.stderr[-500:]}")
    return time.perf_counter() - started


def recorded_calls(assignment) -> list[tuple[str, dict]]:
    """Every probe call the public and hidden tests make, in order (run on the reference to learn them)."""
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
    return calls


def probe_floor(assignment) -> tuple[float, float]:
    """(all probe calls, the training ones): every call the tests make, run once on the reference here."""
    fresh = ReferenceHandle.for_assignment(assignment)
    spent = {True: 0.0, False: 0.0}
    for name, args in recorded_calls(assignment):
        started = time.perf_counter()
        fresh._probes[name](fresh._module, **args)
        spent[name.startswith("train_")] += time.perf_counter() - started
    return spent[True] + spent[False], spent[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-a", "--assignment", default="stage4_neural_networks")
    parser.add_argument("--limit", type=float, default=10.0, help="seconds one submission may take at -j 1")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    assignment = load_assignment(options.assignment, repo_root=ROOT)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        submission = work / f"{assignment.template_name}.py"
        shutil.copyfile(assignment.reference, submission)
        grades = [grader("grade", submission, "-a", assignment.id, "-o", work / "r.json")
                  for _ in range(options.repeats)]
        variants = sorted(p for p in (assignment.root / "variants").rglob("*") if p.suffix in (".py", ".ipynb"))
        cls = work / "class"
        cls.mkdir()
        for number, path in enumerate(variants):
            shutil.copyfile(path, cls / f"student{number:02d}{path.suffix}")
        batch = grader("batch", cls, "-a", assignment.id, "-o", work / "out", "-j", "1", "--force")
    probes, training = probe_floor(assignment)
    peak = subprocess.run([sys.executable, "-c", PEAK, str(ROOT), assignment.id], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    figures = {"grade_s": statistics.median(grades), "grade_max_s": max(grades),
               "batch_j1_per_submission_s": batch / len(variants), "batch_submissions": len(variants),
               "probes_s": probes, "training_s": training,
               "worker_peak_mib": int(peak.stdout.split()[-1]) / 1024 if peak.returncode == 0 else peak.stderr[-300:]}
    for key, value in figures.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
    verdict = "met" if figures["grade_max_s"] < options.limit else "NOT MET"
    print(f"one submission graded in under {options.limit:g} s at -j 1: {verdict}")


if __name__ == "__main__":
    main()
