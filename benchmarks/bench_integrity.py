"""What probe integrity and the run-time watch cost a submission, in CPU time (issue 23).

    python benchmarks/bench_integrity.py [-a stage2_natural_code] [--repeats 30]

Every probe call the assignment's tests make, run on the reference in a fresh process, three ways:
``plain`` (the probe file as it was loaded before: tools looked up at call time), ``bound`` (loaded by
``grader.binding.load_probes``, the guard checked after every probe, as the dispatcher does) and
``watched`` (bound, and the worker's audit hook installed, the reference loaded as a submission's file).
CPU time (``time.process_time``), not wall time, so other work on a shared machine changes it little;
plus the per-worker setup the dispatcher now does (private copies, hook). See README.md here.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

RUN = '''
import json, shutil, sys, tempfile, time
sys.path.insert(0, {root!r})
import numpy as np
from grader import wire
from grader.binding import load_probes, private_copies
from grader.handles import load_module
from grader.sandbox import child, watch
mode, calls = {mode!r}, wire.decode_value(json.loads({calls!r}))["calls"]
workdir = tempfile.mkdtemp()
shutil.copyfile({reference!r}, workdir + "/reference.py")
if mode == "plain":
    probes, intact = load_module({probes!r}, "grader_probes").PROBES, lambda: True
else:
    bound = load_probes({probes!r})
    probes, intact = bound.functions, bound.guard.intact
if mode == "watched":
    private_copies(watch, ["install"])["install"](lambda sign: None, workdir, ("submission.py",), {probes!r})
module = load_module(workdir + "/reference.py", "submission")
timings = []
for _ in range({repeats}):
    started = time.process_time()
    for name, args in calls:
        probes[name](module, **args)
        intact()
    timings.append(time.process_time() - started)
setup = []
for _ in range(200):
    started = time.process_time()
    private_copies(child, ["_private_channel", "answer_requests", "load_package", "load_submission", "_flush_output"])
    private_copies(watch, ["make_hook"])["make_hook"](print, workdir, ("submission.py",), None)
    setup.append(time.process_time() - started)
timings.sort()
print(json.dumps({{"probes_ms": 1e3 * timings[len(timings) // 2], "setup_ms": 1e3 * sorted(setup)[100]}}))
'''


def recorded_calls(assignment) -> list:
    """Every probe call the public and hidden tests make, as ``bench_batch.floor_seconds`` records them."""
    import bench_batch

    bench_batch.floor_seconds(assignment, repeats=1)
    return bench_batch.Recorder.calls


def main() -> None:
    from grader import wire
    from grader.assignment import load_assignment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-a", "--assignment", default="stage2_natural_code")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the three ways")
    args = parser.parse_args()
    assignment = load_assignment(args.assignment, repo_root=ROOT)
    calls = json.dumps(wire.encode_value({"calls": [[name, call] for name, call in recorded_calls(assignment)]}))
    results: dict[str, list[dict]] = {"plain": [], "bound": [], "watched": []}
    for _ in range(args.rounds):
        for mode in results:
            script = RUN.format(root=str(ROOT), mode=mode, calls=calls, reference=str(assignment.reference),
                                probes=str(assignment.probes), repeats=args.repeats)
            done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
            results[mode].append(json.loads(done.stdout.splitlines()[-1]))
    report = {"assignment": assignment.id, "probe_calls": len(json.loads(calls)["calls"])}
    for mode, runs in results.items():
        report[f"{mode}_probes_ms"] = statistics.median(run["probes_ms"] for run in runs)
    report["worker_setup_ms"] = statistics.median(run["setup_ms"] for run in results["watched"])
    report["added_ms_per_submission"] = (report["watched_probes_ms"] - report["plain_probes_ms"]
                                         + report["worker_setup_ms"])
    for key, value in report.items():
        print(f"{key:<28} {value:.2f}" if isinstance(value, float) else f"{key:<28} {value}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
