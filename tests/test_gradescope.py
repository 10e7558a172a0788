"""The Gradescope autograder zip, run against a simulated /autograder tree."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT
from grader.results import validate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    base = tmp_path_factory.mktemp("gs")
    archive = base / "autograder.zip"
    done = subprocess.run([sys.executable, "-m", "grader.cli", "gradescope", "build", "-a", "stage1_autodiff", "-o", str(archive)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return archive


PROFILE = Path(__file__).resolve().parent / "container_profile.py"


def run_submission(autograder, tmp_path, source, *, container=None, metadata=None):
    """``container``: None (this machine's full sandbox), "landlock" or "no-landlock" (Gradescope's
    container: root without CAP_SYS_ADMIN, namespaces refused, with or without Landlock)."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    zipfile.ZipFile(autograder).extractall(root / "source")
    if isinstance(source, str):
        (root / "submission" / "my_homework.py").write_text(source.replace("ROOT", str(root)))
    else:
        shutil.copy(source, root / "submission" / "my_homework.py")
    (root / "submission_metadata.json").write_text(json.dumps(metadata or
        {"id": 77, "created_at": "2026-11-28T10:00:00+09:00", "users": [{"id": 5, "email": "s@x.edu", "name": "S"}]}))
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), GRADER_PYTHON=sys.executable)
    command = ["bash", str(root / "source" / "run_autograder")]
    if container:
        command = [sys.executable, str(PROFILE), *command]
        if container == "no-landlock":
            env["NO_LANDLOCK"] = "1"
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads((root / "results" / "results.json").read_text())
    validate(result)
    return result


def test_zip_layout(autograder):
    names = zipfile.ZipFile(autograder).namelist()
    assert "setup.sh" in names and "run_autograder" in names
    assert "kit/reference/dezero_stage1.py" in names and "kit/pyproject.toml" in names
    assert any(n.startswith("kit/assignments/stage1_autodiff/tests/hidden/") for n in names)
    info = zipfile.ZipFile(autograder).getinfo("run_autograder")
    assert info.external_attr >> 16 & 0o111


@pytest.mark.parametrize("source, expected", [
    (EXAMPLES / "correct.py", 65), (EXAMPLES / "exp_backward_bug.py", 51),
    (ROOT / "examples" / "hostile" / "snoop_files.py", 65), (ROOT / "examples" / "hostile" / "fake_results_files.py", 0),
])
def test_results_json_for_correct_buggy_and_hostile(autograder, tmp_path, source, expected):
    result = run_submission(autograder, tmp_path, source)
    assert result["score"] == expected
    hidden = [t for t in result["tests"] if "hidden" in t["tags"]]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
    assert result["extra_data"]["gradescope"]["submission_id"] == 77
    text = json.dumps(result)
    assert "default_rng(seed)" not in text and "pending = [self.creator]" not in text


# ---- Gradescope's container: no CAP_SYS_ADMIN, no namespaces, maybe no Landlock --------------

SNOOP = """
import os
found = []
for folder, dirs, files in os.walk("ROOT", onerror=lambda e: found.append("denied " + str(e.filename))):
    for name in files:
        try:
            with open(os.path.join(folder, name), errors="replace") as handle:
                found.append(os.path.join(folder, name) + ":" + handle.read(400))
        except OSError:
            found.append("denied " + name)
print("\\n".join(found))
"""
LEAK_MARKERS = ("BEGIN REMOVE", "SHAPES = {", "pending = [self.creator]", "check_variable", "s@x.edu")


@pytest.mark.hostile
@pytest.mark.parametrize("container", ["landlock", "no-landlock"])
@pytest.mark.parametrize("source, expected", [
    (EXAMPLES / "correct.py", 65), (SNOOP, 0),
    (ROOT / "examples" / "hostile" / "fake_results_files.py", 0), (ROOT / "examples" / "hostile" / "network.py", 65),
])
def test_container_profile_grades_without_namespaces_and_leaks_nothing(autograder, tmp_path, container, source,
                                                                      expected):
    if source == ROOT / "examples" / "hostile" / "network.py" and not _enterable_by_others(sys.base_prefix):
        # network.py imports encodings.idna lazily. Without a mount namespace to bind the interpreter
        # back, a worker uid cannot enter an interpreter kept under /root (pyenv); in Gradescope it is
        # /usr and /autograder/venv, both enterable.
        pytest.skip(f"the interpreter under {sys.base_prefix} is not enterable by other uids on this machine")
    result = run_submission(autograder, tmp_path, source, container=container)
    layers = result["extra_data"]["sandbox_layers"]
    assert "namespaces" not in layers and "mounts" not in layers  # the profile really was in effect
    assert ("landlock" in layers) == (container == "landlock") and "uid" in layers and "seccomp" in layers
    assert result["score"] == expected, result["output"][:500]
    shown = json.dumps({k: v for k, v in result.items() if k != "extra_data"})
    assert not any(marker in shown for marker in LEAK_MARKERS)


def _enterable_by_others(path: str) -> bool:
    import stat

    parts = Path(path).resolve().parts
    return all(os.stat(Path(*parts[:i])).st_mode & stat.S_IXOTH for i in range(2, len(parts) + 1))


def test_a_grader_killed_midway_still_leaves_a_valid_results_json(tmp_path, monkeypatch, assignment):
    from grader.lms import gradescope

    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    seen = {}

    def killed(root_, assignment_):
        # What Gradescope would read if the container's OOM killer ended us right now.
        seen["file"] = json.loads((root / "results" / "results.json").read_text())
        raise MemoryError

    monkeypatch.setattr(gradescope, "_grade_here", killed)
    result = gradescope.run_in_autograder(root, assignment)
    # Gradescope's rule (specs.md): valid JSON with a numeric score or a tests list.
    for shown in (seen["file"], result):
        assert isinstance(shown["score"], (int, float)) and isinstance(shown["tests"], list)
        assert shown["visibility"] == "visible" and isinstance(shown["output"], str)
    assert seen["file"]["score"] == 0 and "out of memory" in seen["file"]["output"]
    assert "internal error (MemoryError)" in result["output"]


def test_gradescope_due_date_and_created_at_give_the_late_penalty(assignment):
    from dataclasses import replace

    from grader.lms.gradescope import _apply_late_policy

    late = replace(assignment, late_policy={"percent_per_day": 10.0, "max_percent": 50.0, "grace_hours": 0.0,
                                            "applied_by": "kit"})
    raw = {"created_at": "2026-11-03T01:00:00+09:00", "assignment": {"due_date": "2026-11-01T23:59:00+09:00"}}
    result = _apply_late_policy({"score": 65.0, "output": "Score 65/65", "extra_data": {}}, raw, late)
    assert result["score"] == 52.0 and result["output"].startswith("Late by 2 day(s): -20%")
    on_time = dict(raw, created_at="2026-11-01T20:00:00+09:00")
    assert _apply_late_policy({"score": 65.0, "output": "", "extra_data": {}}, on_time, late)["score"] == 65.0
    lms = replace(late, late_policy=dict(late.late_policy, applied_by="lms"))
    assert _apply_late_policy({"score": 65.0, "output": "", "extra_data": {}}, raw, lms)["score"] == 65.0


@pytest.mark.parametrize("has_311", [True, False])
def test_setup_sh_falls_back_to_the_images_python3(tmp_path, has_311):
    from grader.lms.gradescope import SETUP_SH

    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(f"""#!/bin/bash
echo "apt-get $*" >> {log}
case "$*" in *python3.11*) exit {0 if has_311 else 100};; esac
""")
    fake_python = f"""#!/bin/bash
echo "$(basename "$0") $*" >> {log}
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; fi
exit 0
"""
    for name in ("python3.11", "python3"):
        (bin_dir / name).write_text(fake_python)
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    (tmp_path / "setup.sh").write_text(SETUP_SH)
    env = dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin", AUTOGRADER_ROOT=str(tmp_path / "ag"))
    done = subprocess.run(["bash", str(tmp_path / "setup.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    used = "python3.11" if has_311 else "python3"
    calls = log.read_text().splitlines()
    assert f"{used} -m venv {tmp_path / 'ag' / 'venv'}" in calls
    assert any(line.startswith("python -m pip install") for line in calls)


SNOOP_PREVIOUS = '''
import os

# Where there are no namespaces, every worker's folder is under the machine's /tmp, named by its pid in
# the zygote's folder (ours is the cwd's parent: not listable, but enterable). This worker was launched
# ahead (compute-ahead) while the previous student's still answers: look for that student's file.
for _pid in range(os.getpid() - 1, os.getpid() - 200, -1):
    try:
        with open(f"{os.path.dirname(os.getcwd())}/{_pid}/submission.py") as _handle:
            _text = _handle.read()
    except OSError:
        continue
    if "VICTIM-7f3a" in _text:
        with open("LOOT/loot.txt", "w") as _out:
            _out.write(_text)
'''


@pytest.mark.hostile
def test_without_namespaces_a_student_cannot_read_another_students_file(tmp_path):
    """Students in one session of a container (no namespaces, no Landlock): the next one's worker starts
    while this one's still answers; they run under different uids, so each one's 0700 folder is closed."""
    import tempfile

    loot = Path(tempfile.mkdtemp(prefix="grader-loot-", dir="/tmp"))
    loot.chmod(0o1777)  # writable by any worker uid: what the snooper found would land here
    try:
        folder = tmp_path / "class"
        folder.mkdir()
        correct = (EXAMPLES / "correct.py").read_text()
        # Nine students, graded three to a pytest session: the first session teaches the grading process
        # its probe plan, after which each next worker in a session is launched ahead, while the one before
        # it is still being tested. The sixth student snoops on the fifth.
        for number in range(1, 10):
            extra = {5: "\n# VICTIM-7f3a\n", 6: SNOOP_PREVIOUS.replace("LOOT", str(loot))}.get(number, "")
            (folder / f"s{number}.py").write_text(correct + extra)
        done = subprocess.run([sys.executable, str(PROFILE), sys.executable, "-m", "grader.cli", "batch", str(folder),
                               "-a", "stage1_autodiff", "-o", str(tmp_path / "out"), "-j", "2"], cwd=ROOT,
                              env=dict(os.environ, NO_LANDLOCK="1"), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        scores = {p.stem: json.loads(p.read_text())["score"] for p in (tmp_path / "out" / "results").glob("*.json")}
        assert scores == {f"s{number}": 65 for number in range(1, 10)}
        assert not (loot / "loot.txt").exists(), "a student's worker read the previous student's file"
    finally:
        shutil.rmtree(loot, ignore_errors=True)
