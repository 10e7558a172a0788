import csv
import io
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from class_fixtures import canvas_zip, moodle_folder
from conftest import ROOT
from grader.errors import GraderError
from grader.exporters import apply_late_policy, canvas_csv, moodle_csv


def run(*args):
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    canvas_out, moodle_out = base / "canvas_out", base / "moodle_out"
    assert run("batch", "-a", "stage1_autodiff", canvas_zip(base / "c.zip", 10), "-o", canvas_out).returncode == 0
    assert run("batch", "-a", "stage1_autodiff", moodle_folder(base / "m", 4), "-o", moodle_out).returncode == 0
    return base, canvas_out, moodle_out


@pytest.mark.e2e
def test_canvas_gradebook_csv(graded):
    base, canvas_out, _ = graded
    done = run("export", canvas_out, "--to", "canvas", "--canvas-assignment-id", "4242", "-o", base / "canvas.csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.reader(io.StringIO((base / "canvas.csv").read_text())))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                        "DeZero stage 1: variables, functions and backpropagation (4242)"]
    assert table[1][0] == "    Points Possible" and table[1][5] == "65"
    ids = {row[1]: row[5] for row in table[2:]}
    assert ids["2000"] == "65" and ids["2001"] == "51" and len(ids) == 10
    assert "anon_Xk29" in done.stdout  # no Canvas user id: reported, not silently dropped


@pytest.mark.e2e
def test_moodle_worksheet(graded):
    base, _, moodle_out = graded
    assert run("export", moodle_out, "--to", "moodle", "-o", base / "moodle.csv").returncode == 0
    table = list(csv.DictReader(io.StringIO((base / "moodle.csv").read_text())))
    assert list(table[0]) == ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade",
                              "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                              "Feedback comments"]
    first = next(r for r in table if r["Identifier"] == "Participant 2000")
    assert first["Grade"] == "65" and first["Maximum grade"] == "65" and first["Feedback comments"].startswith("Autograder")


@pytest.mark.e2e
def test_plain_csv_and_missing_outdir(graded, tmp_path):
    base, canvas_out, _ = graded
    assert run("export", canvas_out, "--to", "csv", "-o", base / "plain.csv").returncode == 0
    assert "final_score" in (base / "plain.csv").read_text().splitlines()[0]
    missing = run("export", tmp_path, "--to", "csv", "-o", tmp_path / "x.csv")
    assert missing.returncode == 2 and "no results/ folder" in missing.stderr


def test_late_policy(assignment):
    policy = replace(assignment, due=datetime(2026, 11, 1, 23, 59, tzinfo=timezone.utc),
                     late_policy={"percent_per_day": 10.0, "max_percent": 30.0, "grace_hours": 1.0})
    rows = [{"student": "a", "score": 50.0, "late": "", "submitted_at": "2026-11-02T00:30:00+00:00"},   # grace
            {"student": "b", "score": 50.0, "late": "", "submitted_at": "2026-11-03 10:00:00 +00:00"},  # 2 days
            {"student": "c", "score": 50.0, "late": "yes", "submitted_at": ""},                         # marker only
            {"student": "d", "score": 50.0, "late": "", "submitted_at": "2026-11-20T00:00:00+00:00"}]   # 17 d 23 h late: 18 days, capped
    out = {r["student"]: (r["days_late"], r["penalty_percent"], r["final_score"]) for r in apply_late_policy(rows, policy)}
    assert out == {"a": (0, 0.0, 50.0), "b": (2, 20.0, 40.0), "c": (1, 10.0, 45.0), "d": (18, 30.0, 35.0)}


def test_canvas_titles_its_importer_would_drop_are_refused(assignment):
    with pytest.raises(GraderError, match="dropped by Canvas"):
        canvas_csv([], replace(assignment, title="Final Grade check"), "1")
    with pytest.raises(GraderError, match="number"):
        canvas_csv([], assignment, "abc")


def test_moodle_missing_students_have_no_grade(assignment):
    text, skipped = moodle_csv([{"student": "x", "moodle_participant": "5", "status": "missing", "score": 0,
                                 "max_score": 56.0, "final_score": 0.0, "reason": "no submission"}], assignment)
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["Grade"] == "" and row["Status"] == "No submission" and not skipped
