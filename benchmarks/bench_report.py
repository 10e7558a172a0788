"""report.html for a class of N students: file size, time to write it, and headless Chromium's time to
load and lay it out (start-up included, and start-up alone for comparison).

    python3 benchmarks/bench_report.py --size 2000
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import chromium, layout_widths, screenshot  # noqa: E402
from grader.assignment import load_assignment  # noqa: E402
from grader.grading import grade_files  # noqa: E402
from grader.report import score_rows, write_report  # noqa: E402


def make_results(size: int, seed: int = 14) -> list[dict]:
    """A real result of the example solution, copied per student with ~12 % of tests failed, 3 % errors."""
    assignment = load_assignment("stage1_autodiff", repo_root=ROOT)
    [template] = grade_files(assignment, [ROOT / "examples" / "submissions" / "correct.py"])
    rng = random.Random(seed)
    results = []
    for n in range(size):
        result = copy.deepcopy(template)
        error = rng.random() < 0.03
        for test in result["tests"]:
            if error or rng.random() < 0.12:
                test["status"], test["score"] = "failed", 0.0
        result["score"] = sum(t["score"] for t in result["tests"])
        name = f"{rng.choice(['kim', 'Lee', 'park', 'Choi'])}_{n:05d}"
        result["extra_data"].update(student=name, name=name, status="error" if error else "graded",
                                    error="could not load the submission" if error else None)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2000)
    args = parser.parse_args()
    results = make_results(args.size)
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        started = time.monotonic()
        write_report(results, score_rows(results, None), page, "benchmark class")
        figures = {"students": args.size, "tests": len(results[0]["tests"]), "write_s": time.monotonic() - started,
                   "size_kb": page.stat().st_size / 1024}
        if chromium():
            empty = Path(folder) / "empty.html"
            empty.write_text("<!DOCTYPE html><title>x</title><body></body>")
            started = time.monotonic()
            layout_widths(empty)
            figures["chromium_startup_s"] = time.monotonic() - started
            started = time.monotonic()
            scroll, client = layout_widths(page)
            figures["chromium_load_layout_s"] = time.monotonic() - started
            figures["horizontal_overflow_px"] = max(0, scroll - client)
            figures["chromium_screenshot_s"] = screenshot(page, Path(folder) / "shot.png")
        for key, value in figures.items():
            print(f"{key:>24}: {value:.2f}" if isinstance(value, float) else f"{key:>24}: {value}")
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
