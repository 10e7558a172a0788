"""Downloads as the platforms really write them, graded and exported end to end: no student lost."""
import csv
import io
import subprocess
import sys

import pytest

from class_fixtures import EXAMPLES
from conftest import ROOT

pytestmark = pytest.mark.e2e
CORRECT = (EXAMPLES / "submissions/correct.py").read_bytes()
BUGGY = (EXAMPLES / "submissions/exp_backward_bug.py").read_bytes()


def run(*args):
    return subprocess.run([sys.executable, "-m", "grader.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def table(path):
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def graded(out, column):
    """LMS id -> score as grader batch wrote it (scores.csv): what every export must carry, for everyone."""
    rows = csv.DictReader(io.StringIO((out / "scores.csv").read_text(encoding="utf-8")))
    return {row[column]: row["score"] for row in rows if row[column] and row["status"] != "missing"}


def test_moodle_3x_download_exports_every_participant(tmp_path):
    download = tmp_path / "moodle"
    for name, pid, source in (("Jane Doe", 123456, CORRECT), ("BAE,WOOJIN-2018147546", 6130510, BUGGY)):
        folder = download / f"{name}_{pid}_assignsubmission_file_"
        folder.mkdir(parents=True)
        (folder / "dezero_stage1.py").write_bytes(source)
        text = download / f"{name}_{pid}_assignsubmission_onlinetext_"
        text.mkdir()
        (text / "onlinetext.html").write_bytes(b"<p>see file</p>")
    out = tmp_path / "out"
    done = run("batch", "-a", "stage1_autodiff", download, "-o", out)
    assert done.returncode == 0 and "moodle layout" in done.stdout, done.stdout + done.stderr
    assert run("export", out, "--to", "moodle", "-o", tmp_path / "m.csv").returncode == 0
    grades = {row[0]: row[4] for row in table(tmp_path / "m.csv")[1:]}
    expected = graded(out, "moodle_participant")
    assert set(expected) == {"123456", "6130510"} and float(expected["123456"]) > float(expected["6130510"])
    assert grades == {f"Participant {pid}": score for pid, score in expected.items()}


def test_canvas_download_with_odd_names_exports_every_student(tmp_path):
    import zipfile

    archive = tmp_path / "canvas.zip"
    names = {"smith_jonesanna_12346_680_dezero_stage1.py": "12346", "สมชาย_12347_681_dezero_stage1.py": "12347",
             "mu\u0308ller_LATE_12349_683_dezero_stage1.py": "12349"}
    with zipfile.ZipFile(archive, "w") as z:
        for name in names:
            z.writestr(name, CORRECT)
    out = tmp_path / "out"
    assert run("batch", "-a", "stage1_autodiff", archive, "-o", out).returncode == 0
    done = run("export", out, "--to", "canvas", "--lms-assignment", "4242", "-o", tmp_path / "c.csv")
    assert done.returncode == 0, done.stderr
    full = table(tmp_path / "c.csv")[1][5]  # the Points Possible row: the assignment's maximum
    assert {row[1]: row[5] for row in table(tmp_path / "c.csv")[2:]} == {uid: full for uid in names.values()}
    assert graded(out, "canvas_user_id") == {uid: full for uid in names.values()}


def test_gradescope_group_submission_grades_every_member(tmp_path):
    import zipfile

    archive = tmp_path / "gs.zip"
    meta = ("submission_1:\n  :submitters:\n  - :name: Ann Lee\n    :sid: '9'\n    :email: ann@x.edu\n"
            "  - :name: Bo Kim\n    :sid: '10'\n    :email: bo@x.edu\n  :created_at: 2026-11-01 10:00:00 +09:00\n"
            "submission_2:\n  :submitters:\n  - :name: Cy Park\n    :sid: '11'\n    :email: cy@x.edu\n")
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("export/submission_metadata.yml", meta)
        z.writestr("export/submission_1/dezero_stage1.py", CORRECT)
        z.writestr("export/submission_2/dezero_stage1.py", BUGGY)
    out = tmp_path / "out"
    assert run("batch", "-a", "stage1_autodiff", archive, "-o", out).returncode == 0
    assert run("export", out, "--to", "csv", "-o", tmp_path / "g.csv").returncode == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "g.csv").read_text())))
    batch = graded(out, "sid")  # the batch graded two submissions; the export has all three people
    assert set(batch) == {"9", "11"} and float(batch["9"]) > float(batch["11"])
    assert {r["sid"]: r["final_score"] for r in rows} == {"9": batch["9"], "10": batch["9"], "11": batch["11"]}


def test_plain_folder_with_a_roster_exports_every_submitter_and_only_this_batch(tmp_path):
    # issue 14 item 7: a plain class plus --roster name,id,email used to export 0 students, exit 0.
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "Ann Lee.py").write_bytes(CORRECT)
    (cls / "Bo Kim.py").write_bytes(BUGGY)
    roster = tmp_path / "roster.csv"
    roster.write_text("name,id,email\nAnn Lee,501,ann@x.edu\nBo Kim,502,bo@x.edu\nCy Park,503,cy@x.edu\n")
    out = tmp_path / "out"
    assert run("batch", "-a", "stage1_autodiff", cls, "-o", out).returncode == 0
    done = run("export", out, "--to", "canvas", "--lms-assignment", "7", "--roster", roster, "-o", tmp_path / "c.csv")
    assert done.returncode == 0, done.stderr
    scores = {row["name"]: row["score"] for row in csv.DictReader(io.StringIO((out / "scores.csv").read_text()))}
    assert float(scores["Ann Lee"]) > float(scores["Bo Kim"])
    assert {row[1]: row[5] for row in table(tmp_path / "c.csv")[2:]} == {"501": scores["Ann Lee"],
                                                                       "502": scores["Bo Kim"], "503": ""}
    # Bo leaves the input: the next batch's export no longer includes his old result.
    (cls / "Bo Kim.py").unlink()
    assert run("batch", "-a", "stage1_autodiff", cls, "-o", out).returncode == 0
    plain = run("export", out, "--to", "csv", "-o", tmp_path / "p.csv")
    assert plain.returncode == 0 and "Bo" not in (tmp_path / "p.csv").read_text()
    # No Moodle participant ids anywhere: an empty worksheet is an error, not exit 0.
    empty = run("export", out, "--to", "moodle", "-o", tmp_path / "m.csv")
    assert empty.returncode == 2 and "empty" in empty.stderr and not (tmp_path / "m.csv").exists()


def test_unattributed_files_are_listed_and_too_many_refuse_to_score(tmp_path):
    import zipfile

    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("doejohn_100_1_dezero_stage1.py", CORRECT)
        z.writestr("kimminji_101_2_dezero_stage1.py", CORRECT)
        z.writestr("notes from the TA.txt", b"?")
    out = tmp_path / "out"
    refused = run("batch", "-a", "stage1_autodiff", archive, "-o", out)
    assert refused.returncode == 2 and "--allow-unmatched" in refused.stderr
    assert "no student found for notes from the TA.txt" in refused.stderr
    assert (out / "unattributed.txt").read_text() == "notes from the TA.txt\n"
    allowed = run("batch", "-a", "stage1_autodiff", archive, "-o", out, "--allow-unmatched")
    assert allowed.returncode == 0 and "1 of 3 files belong to no student" in allowed.stderr


def test_upload_dry_run_needs_no_token_and_a_wrong_url_is_one_line(tmp_path):
    import os
    import time

    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "doejohn_100_1_dezero_stage1.py").write_bytes(CORRECT)
    out = tmp_path / "out"
    assert run("batch", "-a", "stage1_autodiff", cls, "-o", out).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "CANVAS_TOKEN"}
    dry = subprocess.run([sys.executable, "-m", "grader.cli", "upload", "canvas", out, "--url", "http://127.0.0.1:9",
                          "--course", "7", "--lms-assignment", "99", "--dry-run"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=env)
    full = graded(out, "canvas_user_id")["100"]
    assert dry.returncode == 0 and f"grade_data[100][posted_grade]={full}" in dry.stdout, dry.stderr
    started = time.monotonic()
    wrong = subprocess.run([sys.executable, "-m", "grader.cli", "upload", "canvas", out, "--url", "http://127.0.0.1:9",
                            "--course", "7", "--lms-assignment", "99"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, env=dict(env, CANVAS_TOKEN="t"))
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    assert "cannot connect" in wrong.stderr and time.monotonic() - started < 15


def test_upload_lti_dry_run_from_issuer_client_key_context_and_a_roster_of_emails(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from lms_doubles import LtiDouble

    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "Ann Lee.py").write_bytes(CORRECT)
    (cls / "Bo Kim.py").write_bytes(BUGGY)
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAnn Lee,ann@x.edu\nBo Kim,BO@x.edu\n")
    out = tmp_path / "out"
    assert run("batch", "-a", "stage1_autodiff", cls, "-o", out).returncode == 0
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "tool.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    members = [{"user_id": "u-ann", "email": "ann@x.edu"}, {"user_id": "u-bo", "email": "bo@x.edu"}]
    with LtiDouble("tool-1", public, ["u-ann", "u-bo"], flavour="moodle", members=members) as platform:
        (tmp_path / "lti.toml").write_text(f'issuer = "{platform.url}"\nclient_id = "tool-1"\nkey_file = "tool.pem"\n'
                                           'platform = "moodle"\ncontext_id = "2"\ntype_id = "3"\n')
        done = run("upload", "lti", out, "--config", tmp_path / "lti.toml", "--roster", roster, "--dry-run")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "would create line item" in done.stdout and '"resourceId": "stage1_autodiff"' in done.stdout
        bo = next(r["score"] for r in csv.DictReader(io.StringIO((out / "scores.csv").read_text())) if r["name"] == "Bo Kim")
        assert '"userId": "u-ann"' in done.stdout and f'"userId": "u-bo", "scoreGiven": {float(bo)}' in done.stdout
        assert platform.scores == {} and len(platform.lineitems) == 1
        posted = run("upload", "lti", out, "--config", tmp_path / "lti.toml", "--roster", roster)
        assert posted.returncode == 0 and "2 posted" in posted.stdout, posted.stdout + posted.stderr
        assert platform.scores["u-bo"]["scoreGiven"] == float(bo) and len(platform.lineitems) == 2


# ---- every assignment through every LMS -----------------------------------------------------------

def _assignments():
    from grader.assignment import list_assignments, load_assignment

    return [load_assignment(folder.name, repo_root=ROOT) for folder in list_assignments(ROOT)]


@pytest.mark.parametrize("assignment", _assignments(), ids=lambda a: a.id)
def test_every_assignment_goes_through_each_lms_and_back(tmp_path, assignment):
    """The reference (full marks) and the untouched template (0) of each assignment, downloaded from Canvas,
    Moodle and Gradescope: graded, exported as each LMS imports it, and posted (a Canvas dry run)."""
    import os
    import zipfile

    name = assignment.template_name
    reference, template = assignment.reference.read_bytes(), (ROOT / "student_template" / f"{name}.py").read_bytes()
    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as z:
        z.writestr(f"doejohn_100_1_{name}.py", reference)
        z.writestr(f"kimminji_101_2_{name}.py", template)
    moodle = tmp_path / "moodle"
    for student, pid, source in (("Jane Doe", 123456, reference), ("Bo Kim", 6130510, template)):
        folder = moodle / f"{student}_{pid}_assignsubmission_file_"
        folder.mkdir(parents=True)
        (folder / f"{name}.py").write_bytes(source)
    gradescope = tmp_path / "gs.zip"
    with zipfile.ZipFile(gradescope, "w") as z:
        z.writestr("export/submission_metadata.yml",
                   "submission_1:\n  :submitters:\n  - :name: Ann Lee\n    :sid: '9'\n    :email: ann@x.edu\n"
                   "submission_2:\n  :submitters:\n  - :name: Cy Park\n    :sid: '11'\n    :email: cy@x.edu\n")
        z.writestr(f"export/submission_1/{name}.py", reference)
        z.writestr(f"export/submission_2/{name}.py", template)
    for download, column, right, wrong in ((canvas, "canvas_user_id", "100", "101"),
                                           (moodle, "moodle_participant", "123456", "6130510"),
                                           (gradescope, "sid", "9", "11")):
        out = tmp_path / f"out-{column}"
        done = run("batch", "-a", assignment.id, download, "-o", out)
        assert done.returncode == 0, done.stdout + done.stderr
        scores = graded(out, column)
        full = next(r["max_score"] for r in csv.DictReader(io.StringIO((out / "scores.csv").read_text()))
                    if r[column] == right)
        assert float(scores[right]) == float(full) > 0 and float(scores[wrong]) == 0, scores
        if column == "canvas_user_id":
            assert run("export", out, "--to", "canvas", "--lms-assignment", "7", "-o", tmp_path / "c.csv").returncode == 0
            assert {row[1]: float(row[5]) for row in table(tmp_path / "c.csv")[2:]} == {right: float(full), wrong: 0}
            env = {k: v for k, v in os.environ.items() if k != "CANVAS_TOKEN"}
            dry = subprocess.run([sys.executable, "-m", "grader.cli", "upload", "canvas", out, "--url",
                                  "http://127.0.0.1:9", "--course", "7", "--lms-assignment", "99", "--dry-run"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
            assert dry.returncode == 0 and f"grade_data[{right}][posted_grade]={scores[right]}" in dry.stdout, dry.stderr
        elif column == "moodle_participant":
            assert run("export", out, "--to", "moodle", "-o", tmp_path / "m.csv").returncode == 0
            grades = {row[0]: row[4] for row in table(tmp_path / "m.csv")[1:]}
            assert float(grades[f"Participant {right}"]) == float(full) and float(grades[f"Participant {wrong}"]) == 0
        else:
            assert run("export", out, "--to", "csv", "-o", tmp_path / "g.csv").returncode == 0
            rows = {r["sid"]: float(r["final_score"]) for r in csv.DictReader(io.StringIO((tmp_path / "g.csv").read_text()))}
            assert rows == {right: float(full), wrong: 0}
