"""``grader batch`` end to end, through the CLI as an instructor runs it."""
import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from class_fixtures import canvas_zip, gradescope_zip, moodle_folder
from conftest import ROOT
from grader.results import validate

pytestmark = pytest.mark.e2e


def batch(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "grader.cli", "batch", "-a", "stage1_autodiff", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def scores(outdir):
    with open(outdir / "scores.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_canvas_zip_of_40_mixed_submissions(tmp_path):
    out = tmp_path / "out"
    done = batch(canvas_zip(tmp_path / "canvas.zip", 40), "-o", out, "-j", "2")
    assert done.returncode == 0, done.stderr
    rows = scores(out)
    assert len(rows) == 41 and all(r["status"] in ("graded", "late", "error") for r in rows)
    for path in (out / "results").glob("*.json"):
        validate(json.loads(path.read_text()))
    by_id = {r["canvas_user_id"] or r["canvas_anonymous_id"]: r for r in rows}
    assert by_id["2000"]["score"] == by_id["2000"]["max_score"] == "65"       # correct
    assert by_id["2001"]["score"] == "51"                                      # Exp.backward bug
    assert (by_id["2003"]["status"], by_id["2003"]["late"]) == ("error", "yes")  # late, syntax error
    assert (by_id["2010"]["status"], by_id["2010"]["score"]) == ("late", "65")   # late, correct
    assert by_id["2007"]["score"] == "65"                                      # fork bomb attempt, honest
    assert by_id["2008"]["status"] == "error"                                  # os._exit at import
    assert by_id["Xk29"]["chosen_file"] == "dezero_stage1.py"
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 1 and "score histogram" in page and "Pass rate per test" in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_moodle_folder_with_roster(tmp_path):
    out, roster = tmp_path / "out", tmp_path / "roster.csv"
    roster.write_text("name,id\nStudent Doejohn0,2000\nNever Submitted,7777\n", encoding="utf-8")
    done = batch(moodle_folder(tmp_path / "moodle", 12), "-o", out, "-j", "1", "--roster", roster)
    assert done.returncode == 0, done.stderr
    rows = scores(out)
    assert [r["status"] for r in rows if r["name"] == "Never Submitted"] == ["missing"]
    assert sum(r["status"] != "missing" for r in rows) == 13


def test_gradescope_export(tmp_path):
    out = tmp_path / "out"
    assert batch(gradescope_zip(tmp_path / "gs.zip", 4), "-o", out).returncode == 0
    assert {r["gradescope_submission"] for r in scores(out)} == {"300", "301", "302", "303"}


def test_rerun_regrades_nothing_and_output_is_deterministic(tmp_path):
    source, out = canvas_zip(tmp_path / "c.zip", 8), tmp_path / "out"
    assert batch(source, "-o", out).returncode == 0
    first = (out / "scores.csv").read_text()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    again = batch(source, "-o", out)
    assert "9 already graded, 0 to grade" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == stamps
    assert (out / "scores.csv").read_text() == first
    forced = batch(source, "-o", out, "--force")
    assert "0 already graded, 9 to grade" in forced.stdout and (out / "scores.csv").read_text() == first


def test_killed_batch_resumes_without_regrading(tmp_path):
    source, out = canvas_zip(tmp_path / "c.zip", 30), tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "grader.cli", "batch", "-a", "stage1_autodiff", str(source), "-o", str(out), "-j", "1"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "results").glob("*.json"))) < 8:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert 8 <= len(done_before) < 31
    resumed = batch(source, "-o", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done_before)} already graded" in resumed.stdout
    after = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert len(after) == 31 and all(after[name] == stamp for name, stamp in done_before.items())


def test_bad_roster_fails_before_grading_with_one_line(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("email\nx@y\n")
    done = batch(canvas_zip(tmp_path / "c.zip", 2), "-o", tmp_path / "out", "--roster", roster)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no 'name' column" in done.stderr


def test_processes_follow_cores_and_class_size():
    from grader.batch import SUBMISSIONS_PER_PROCESS, processes_for

    assert processes_for(1, 10_000) == (1, False)          # -j 1: one core, worker and checker take turns
    assert processes_for(2, 40) == (1, True)               # too few to repay a second start-up
    assert processes_for(2, 2 * SUBMISSIONS_PER_PROCESS) == (2, True)
    assert processes_for(8, 10_000) == (8, True)


def test_several_grading_processes_give_the_same_results_as_one(tmp_path, assignment, monkeypatch):
    from grader import batch as batching

    source = canvas_zip(tmp_path / "canvas.zip", 12)
    outputs = {}
    for jobs in (1, 2):
        monkeypatch.setattr(batching, "SUBMISSIONS_PER_PROCESS", 4)  # 13 submissions: 2 processes at -j 2
        out = tmp_path / f"out{jobs}"
        plan = batching.plan_batch(source, assignment, out, force=False)
        assert batching.processes_for(jobs, len(plan.todo))[0] == jobs
        batching.run_batch(plan, assignment, out, jobs=jobs, hide=[str(tmp_path)])
        outputs[jobs] = {p.name: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    assert len(outputs[1]) == 13 and outputs[1].keys() == outputs[2].keys()
    for name, result in outputs[1].items():
        assert outputs[2][name]["score"] == result["score"], name
        assert [t["status"] for t in outputs[2][name]["tests"]] == [t["status"] for t in result["tests"]], name
