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
from grader.lms.canvas import canvas_csv
from grader.lms.moodle import moodle_csv
from grader.lms.scores import apply_late_policy, expand_groups, scale_rows


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
    done = run("export", canvas_out, "--to", "canvas", "--lms-assignment", "4242", "-o", base / "canvas.csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.reader(io.StringIO((base / "canvas.csv").read_text())))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                        "DeZero stage 1: variables, functions and backpropagation (4242)"]
    assert table[1][0] == "    Points Possible" and table[1][5] == "65"
    ids = {row[1]: row[5] for row in table[2:]}
    assert ids["2000"] == "65" and ids["2001"] == "51" and len(ids) == 10
    assert "anon_Xk29" in done.stdout  # no Canvas user id: reported, not silently dropped


@pytest.mark.e2e
def test_the_old_canvas_option_spelling_writes_the_same_gradebook(graded):
    """Issue 21 (2): scripts written for `--canvas-assignment-id` keep working, with a one-line note."""
    base, canvas_out, _ = graded
    new = run("export", canvas_out, "--to", "canvas", "--lms-assignment", "4242", "-o", base / "new.csv")
    old = run("export", canvas_out, "--to", "canvas", "--canvas-assignment-id", "4242", "-o", base / "old.csv")
    assert new.returncode == old.returncode == 0, old.stderr
    assert (base / "old.csv").read_bytes() == (base / "new.csv").read_bytes()
    assert "--canvas-assignment-id is now --lms-assignment" in old.stderr


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
            {"student": "d", "score": 50.0, "late": "", "submitted_at": "2026-11-20T00:00:00+00:00"},   # 17 d 23 h late: 18 days, capped
            {"student": "e", "score": 50.0, "late": "yes", "seconds_late": 3 * 86400 + 7200}]           # Canvas: 3 d 1 h past grace
    done = apply_late_policy(rows, policy)
    out = {r["student"]: (r["days_late"], r["penalty_percent"], r["final_score"]) for r in done}
    # A bare LATE marker says nothing about how late: no guessed day, and the row says so.
    assert out == {"a": (0, 0.0, 50.0), "b": (2, 20.0, 40.0), "c": (0, 0.0, 50.0), "d": (18, 30.0, 35.0),
                   "e": (4, 30.0, 35.0)}
    assert [r["student"] for r in done if r.get("late_unknown")] == ["c"]


@pytest.mark.parametrize("applied_by", ["lms", "none"])
def test_late_policy_left_to_the_lms_posts_raw_scores(assignment, applied_by):
    policy = replace(assignment, due=datetime(2026, 11, 1, tzinfo=timezone.utc),
                     late_policy={"percent_per_day": 10.0, "max_percent": 30.0, "grace_hours": 0.0, "applied_by": applied_by})
    [row] = apply_late_policy([{"student": "b", "score": 50.0, "submitted_at": "2026-11-03T10:00:00+00:00"}], policy)
    assert (row["penalty_percent"], row["final_score"]) == (0.0, 50.0)


def test_late_policy_setting_forms(tmp_path):
    from grader.assignment import _late_policy

    assert _late_policy("lms")["applied_by"] == "lms" and _late_policy({"percent_per_day": 5})["applied_by"] == "kit"
    with pytest.raises(ValueError, match="applied_by"):
        _late_policy({"applied_by": "canvas"})


def test_canvas_titles_its_importer_would_drop_are_refused(assignment):
    with pytest.raises(GraderError, match="dropped by Canvas"):
        canvas_csv([], replace(assignment, title="Final Grade check"), "1")
    with pytest.raises(GraderError, match="number"):
        canvas_csv([], assignment, "abc")


def test_moodle_missing_students_have_no_grade(assignment):
    text, skipped = moodle_csv([{"student": "x", "moodle_participant": "5", "status": "missing", "score": 0,
                                 "max_score": 65.0, "final_score": 0.0, "reason": "no submission"}], assignment)
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["Grade"] == "" and row["Status"] == "No submission" and not skipped


def graded_row(**extra):
    return {"student": "s", "name": "S", "status": "graded", "score": 65.0, "max_score": 65.0, "final_score": 65.0,
            "reason": "", "graded_at": "2026-11-28T10:00:00+00:00", **extra}


def test_moodle_worksheet_time_is_the_grading_time_with_an_offset_and_headers_follow_the_language(assignment):
    # Moodle skips a row whose grade changed after 'Last modified (grade)' (locallib.php
    # process_import_grades): the grading time protects a TA's later edit; "now" would not.
    text, _ = moodle_csv([graded_row(moodle_participant="17")], assignment, now=datetime(2027, 1, 1, tzinfo=timezone.utc))
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["Last modified (grade)"] == "2026-11-28T10:00:00+00:00" and row["Identifier"] == "Participant 17"
    korean, _ = moodle_csv([graded_row(moodle_participant="17")], assignment, lang="ko")
    header = korean.splitlines()[0].split(",")
    assert header[0] == "식별자" and "성적" in header and korean.splitlines()[1].startswith("참가자 17,")
    with pytest.raises(GraderError, match="moodle-language"):
        moodle_csv([], assignment, lang="xx")


def test_a_roster_user_id_is_never_a_moodle_participant(tmp_path):
    from grader.report import read_roster

    roster = tmp_path / "r.csv"
    roster.write_text("name,id,email\nAnn,4242,a@x\n")
    [person] = read_roster(roster)
    assert person.ids == {"canvas_user_id": "4242", "email": "a@x"}


def test_scaled_to_the_lms_maximum_and_never_above(assignment):
    rows = scale_rows([graded_row(canvas_user_id="1", moodle_participant="1"),
                       graded_row(student="t", canvas_user_id="2", moodle_participant="2", final_score=32.5)], 10)
    canvas, _ = canvas_csv(rows, assignment, "4242")
    table = list(csv.reader(io.StringIO(canvas)))
    assert table[1][5] == "10" and [r[5] for r in table[2:]] == ["10", "5"]
    moodle = list(csv.DictReader(io.StringIO(moodle_csv(rows, assignment)[0])))
    assert [(r["Grade"], r["Maximum grade"]) for r in moodle] == [("10", "10"), ("5", "10")]
    assert scale_rows([graded_row(final_score=70.0)], None)[0]["lms_score"] == 65.0  # clamped even unscaled


def test_every_group_member_gets_the_grade(assignment):
    gradescope = graded_row(student="ann_1", sid="9", email="ann@x.edu", canvas_user_id="",
                            group_members=[{"name": "Bo Kim", "sid": "10", "email": "bo@x.edu"}])
    canvas_rep = graded_row(student="rep", canvas_user_id="100", group="team-a")
    absent_member = {"student": "Cy", "name": "Cy", "canvas_user_id": "101", "group": "team-a", "status": "missing",
                     "score": 0, "max_score": 65.0, "reason": "no submission"}
    loner = {"student": "Di", "name": "Di", "canvas_user_id": "102", "group": "", "status": "missing",
             "score": 0, "max_score": 65.0, "reason": "no submission"}
    rows = expand_groups([gradescope, canvas_rep, absent_member, loner])
    by_name = {r["name"]: r for r in rows}
    assert by_name["Bo Kim"]["final_score"] == 65.0 and by_name["Bo Kim"]["sid"] == "10"
    assert by_name["Cy"]["status"] == "graded" and by_name["Cy"]["group_of"] == "rep"
    assert by_name["Di"]["status"] == "missing" and len(rows) == 5
    canvas, _ = canvas_csv(rows, assignment, "4242")
    ids = {r[1]: r[5] for r in list(csv.reader(io.StringIO(canvas)))[2:]}
    assert ids == {"100": "65", "101": "65", "102": ""}


# ---- against Moodle's own importer rules (tests/lms_doubles/moodle.py) ----------------------

def test_moodle_import_keeps_a_tas_later_edit_and_takes_the_rest(assignment):
    from lms_doubles import MoodleWorksheetImporter

    graded = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    rows = [graded_row(student=s, moodle_participant=pid, graded_at=graded.isoformat())
            for s, pid in (("a", "1001"), ("b", "1002"))]
    ta_edit = graded.timestamp() + 3600  # a TA changed b's grade an hour after the batch graded it
    moodle = MoodleWorksheetImporter({"1001": 7, "1002": 8}, 65.0, grades={8: (50.0, ta_edit)})
    text, _ = moodle_csv(rows, assignment, now=datetime(2026, 11, 29, tzinfo=timezone.utc))
    moodle.import_csv(text, now=ta_edit + 86400)
    assert moodle.grades[7][0] == 65.0 and moodle.grades[8] == (50.0, ta_edit)
    assert moodle.skipped == [("8", "modified in Moodle after the worksheet")]


def test_moodle_import_of_scaled_grades_skips_none(assignment):
    from lms_doubles import MoodleWorksheetImporter

    rows = scale_rows([graded_row(moodle_participant="1001"), graded_row(student="t", moodle_participant="1002",
                                                                         final_score=70.0)], 10)
    moodle = MoodleWorksheetImporter({"1001": 7, "1002": 8}, 10.0)
    moodle.import_csv(moodle_csv(rows, assignment)[0], now=0)
    assert moodle.grades == {7: (10.0, 0), 8: (10.0, 0)} and moodle.skipped == []


def test_moodle_site_language_must_match_the_headers(assignment):
    from lms_doubles import MoodleWorksheetImporter

    korean, _ = moodle_csv([graded_row(moodle_participant="1001")], assignment, lang="ko")
    with pytest.raises(ValueError, match="invalidgradeimport"):
        MoodleWorksheetImporter({"1001": 7}, 65.0).import_csv(korean, now=0)


def test_moodle_team_members_from_the_roster_get_the_team_grade(tmp_path, assignment):
    from grader.report import read_roster, score_rows

    roster = tmp_path / "roster.csv"
    roster.write_text("name,group,moodle_participant\nAnn,Team A,1001\nBo,Team A,1002\nCy,Team B,1003\n")
    team = {"score": 65.0, "max_score": 65.0, "extra_data": {"status": "graded", "student": "team_Team_A_45",
            "name": "Team A", "lms_ids": {"moodle_group": "45"}, "submission": "x",
            "finished_at": "2026-11-28T10:00:00+00:00"}}
    rows = apply_late_policy(expand_groups(score_rows([team], read_roster(roster))), assignment)
    table = list(csv.DictReader(io.StringIO(moodle_csv(rows, assignment)[0])))
    assert {(r["Identifier"], r["Grade"]) for r in table} == {("Participant 1001", "65"), ("Participant 1002", "65"),
                                                            ("Participant 1003", "")}
