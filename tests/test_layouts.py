import pytest

from class_fixtures import canvas_zip, gradescope_zip, moodle_folder
from grader.errors import GraderError
from grader.layouts import discover, read_tree
from grader.report import read_roster, score_rows


def test_canvas_names_ids_late_and_anonymous(tmp_path):
    layout, entries = discover(read_tree(canvas_zip(tmp_path / "c.zip", 10)))
    assert layout == "canvas" and len(entries) == 11
    by_id = {e.ids.get("canvas_user_id") or e.ids.get("canvas_anonymous_id"): e for e in entries}
    assert by_id["2003"].late and not by_id["2002"].late
    assert set(by_id["Xk29"].files) == {"report.pdf", "dezero_stage1.py"}
    assert by_id["2000"].student == "doejohn0_2000"


def test_moodle_folders_and_flat_files(tmp_path):
    layout, entries = discover(read_tree(moodle_folder(tmp_path / "m", 5)))
    assert layout == "moodle" and len(entries) == 6
    first = next(e for e in entries if e.ids["moodle_participant"] == "2000")
    assert first.name == "Student Doejohn0" and set(first.files) == {"homework.py", "notes.pdf"}
    assert any(e.ids["moodle_participant"] == "5000" and "dezero_stage1.py" in e.files for e in entries)


def test_gradescope_export_uses_metadata(tmp_path):
    layout, entries = discover(read_tree(gradescope_zip(tmp_path / "g.zip", 3)))
    assert layout == "gradescope" and len(entries) == 3
    assert entries[0].ids["email"].endswith("@example.edu") and entries[0].name.startswith("Student ")


def test_plain_layout_files_and_folders(tmp_path):
    (tmp_path / "alice.py").write_text("x = 1")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "hw.ipynb").write_text("{}")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    layout, entries = discover(read_tree(tmp_path))
    assert layout == "plain" and [e.student for e in entries] == ["alice", "bob"]


def test_empty_or_missing_input_is_one_line(tmp_path):
    with pytest.raises(GraderError, match="contains no files"):
        read_tree(tmp_path)
    with pytest.raises(GraderError, match="no such file"):
        read_tree(tmp_path / "nope.zip")


def test_roster_needs_a_name_column_and_lists_missing_students(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("student_id,mail\n1,a@b\n")
    with pytest.raises(GraderError, match="no 'name' column.*bad.csv|bad.csv.*no 'name' column"):
        read_roster(bad)
    roster = tmp_path / "roster.csv"
    roster.write_text("name,id,email\n\"Doe, John\",2000,j@x\nAbsent Person,9999,\n")
    result = {"score": 3.0, "max_score": 5.0, "extra_data": {"status": "graded", "student": "doejohn0_2000",
              "name": "doejohn0", "lms_ids": {"canvas_user_id": "2000"}, "submission": "x"}}
    rows = score_rows([result], read_roster(roster))
    assert [(r["name"], r["status"]) for r in rows] == [("Absent Person", "missing"), ("Doe, John", "graded")]
