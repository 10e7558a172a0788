import pytest

from class_fixtures import canvas_zip, gradescope_zip, moodle_folder
from grader.errors import GraderError
from grader.lms.discover import discover, discover_all
from grader.lms.layouts import read_tree
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


# ---- issue 11: downloads as the platforms really name them ---------------------------------

def test_moodle_3x_folders_with_a_trailing_underscore(tmp_path):
    # Moodle 3.1-4.0 locallib.php: clean_filename($prefix . '_' . $subtype . '_' . $type . '_');
    # the online-text folder is the same student, not another one.
    tree = {"Jane Doe_123456_assignsubmission_file_/dezero_stage1.py": b"x = 1\n",
            "Jane Doe_123456_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
            "BAE,WOOJIN-2018147546_6130510_assignsubmission_file_/hw.py": b"y = 2\n"}
    found = discover_all(tree)
    assert found.layout == "moodle" and found.unattributed == []
    by_id = {e.ids["moodle_participant"]: e for e in found.entries}
    assert set(by_id) == {"123456", "6130510"}
    assert set(by_id["123456"].files) == {"dezero_stage1.py", "onlinetext.html"}
    assert by_id["6130510"].name == "BAE,WOOJIN-2018147546"


def test_moodle_team_folders_carry_group_ids_not_participants(tmp_path):
    # downloader.php get_student_prefix: "<group>_<group id>", or "Default group" with no id.
    tree = {"Team A_45_assignsubmission_file/hw.py": b"a = 1\n",
            "Team B_46_assignsubmission_file/hw.py": b"b = 1\n",
            "Default group_assignsubmission_file/hw.py": b"c = 1\n"}
    found = discover_all(tree)
    assert found.layout == "moodle" and len(found.entries) == 3
    assert sorted(e.ids.get("moodle_group", "-") for e in found.entries) == ["-", "45", "46"]
    assert not any("moodle_participant" in e.ids for e in found.entries)
    forced = discover_all({"Team A_45_assignsubmission_file/hw.py": b"a = 1\n"}, moodle_teams=True)
    assert forced.entries[0].ids == {"moodle_group": "45"}


@pytest.mark.parametrize("name, late, uid", [
    ("smith_jonesanna_12346_680_hw.py", False, "12346"),          # [[:word:]] keeps "_"
    ("สมชาย_12347_681_hw.py", False, "12347"),                     # Thai: combining vowel marks
    ("शर्मा_12348_682_hw.py", False, "12348"),                      # Devanagari: virama, vowel signs
    ("mu\u0308ller_12349_683_hw.py", False, "12349"),             # NFD Latin after a macOS unzip
    ("LATE_anon_x8Kq2_678_hw.py", True, "x8Kq2"),                 # late and anonymous
    ("doejohn_LATE_12350_684_hw.py", True, "12350"),
])
def test_canvas_names_as_content_zipper_writes_them(name, late, uid):
    found = discover_all({name: b"x = 1\n", "doejohn_12351_685_hw.py": b"y = 1\n"})
    assert found.layout == "canvas" and found.unattributed == []
    entry = next(e for e in found.entries if uid in e.ids.values())
    assert entry.late is late and set(entry.files) == {"hw.py"}
    if "\u0308" in name:
        assert entry.name == "müller"  # NFC, as Canvas wrote it


def test_files_no_student_owns_are_listed_never_dropped():
    tree = {f"student{i}_{100 + i}_{900 + i}_hw.py": b"x\n" for i in range(5)}
    tree["README (1).txt"] = b"instructor note"
    found = discover_all(tree)
    assert found.layout == "canvas" and len(found.entries) == 5 and found.unattributed == ["README (1).txt"]


def test_gradescope_group_submission_keeps_every_member():
    meta = (b"submission_1:\n  :submitters:\n  - :name: Ann Lee\n    :sid: '9'\n    :email: ann@x.edu\n"
            b"  - :name: Bo Kim\n    :sid: '10'\n    :email: bo@x.edu\n")
    found = discover_all({"submission_metadata.yml": meta, "submission_1/dezero_stage1.py": b"x = 1\n",
                          "stray.txt": b"?"})
    [entry] = found.entries
    assert entry.ids["sid"] == "9" and entry.members == [{"name": "Bo Kim", "sid": "10", "email": "bo@x.edu"}]
    assert found.unattributed == ["stray.txt"]
