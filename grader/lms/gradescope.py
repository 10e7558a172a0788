"""Gradescope: its "Export Submissions" zip, the autograder zip, and grading inside ``/autograder``.

The zip holds ``setup.sh`` and ``run_autograder`` at its root and the kit under ``kit/``:
this package, the assignment (hidden tests included: they stay on Gradescope's machine and
the sandbox hides them from student code) and the reference. ``run_autograder`` calls
``grader gradescope run``, which always leaves a valid ``results/results.json``, even when
grading itself fails, so Gradescope never shows "the autograder failed to execute".
"""
from __future__ import annotations

import io
import json
import posixpath
import zipfile
from pathlib import Path

from grader.archives import Unread
from grader.assignment import CONFIG_NAME, Assignment
from grader.errors import GraderError
from grader.handout import grader_kit_files
from grader.lms.layouts import Entry, Students, slug

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the image (Ubuntu; apt is available).
set -euo pipefail
apt-get install -y python3.11 python3.11-venv
python3.11 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --quiet /autograder/source/kit
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission. AUTOGRADER_ROOT and GRADER_PYTHON exist for local tests.
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{GRADER_PYTHON:-$ROOT/venv/bin/python}}"
export PYTHONPATH="$ROOT/source/kit"
cd "$ROOT"
exec "$PYTHON" -m grader.cli gradescope run --root "$ROOT" -a "$ROOT/source/kit/assignments/{assignment_id}"
"""


def build_autograder(assignment: Assignment, output: Path) -> list[str]:
    if assignment.reference is None:
        raise GraderError(f"{assignment.root / CONFIG_NAME}: the autograder needs the reference; build it from the kit")
    files: dict[str, bytes] = {
        "setup.sh": SETUP_SH.encode(),
        "run_autograder": RUN_AUTOGRADER.format(assignment_id=assignment.root.name).encode(),
    }
    files.update({name.replace("grader-kit/", "kit/", 1): data for name, data in grader_kit_files().items()})
    for path in sorted(assignment.root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[f"kit/assignments/{assignment.root.name}/{path.relative_to(assignment.root).as_posix()}"] = path.read_bytes()
    # The config names the reference relative to itself: keep that layout inside the kit.
    relative = _config_value(assignment, "reference")
    files[posixpath.normpath(f"kit/assignments/{assignment.root.name}/{relative}")] = assignment.reference.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    output.write_bytes(buffer.getvalue())
    return sorted(files)


def _config_value(assignment: Assignment, key: str) -> str:
    import tomllib

    return str(tomllib.loads((assignment.root / CONFIG_NAME).read_text(encoding="utf-8"))[key])


def run_in_autograder(root: Path, assignment: Assignment) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; return the result."""
    from grader.grading import grade_files, open_session
    from grader.results import write_json_atomic

    results_path = root / "results" / "results.json"
    try:
        metadata = _metadata(root)
        # The whole /autograder tree (kit, results, metadata) is covered in the worker's view.
        session = open_session(assignment, hide=[str(root.resolve())])
        try:
            result = grade_files(assignment, [root / "submission"], session=session)[0]
        finally:
            session.close()
        result["extra_data"]["gradescope"] = metadata
    except GraderError as error:
        result = _failure_result(str(error))
    except Exception as error:  # noqa: BLE001 - Gradescope must always get a results.json
        import traceback

        traceback.print_exc()  # goes to Gradescope's autograder log, for the instructor
        result = _failure_result(f"internal error ({type(error).__name__})")
    write_json_atomic(results_path, result)
    return result


def _metadata(root: Path) -> dict:
    path = root / "submission_metadata.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    users = data.get("users") if isinstance(data.get("users"), list) else []
    return {"submission_id": data.get("id"), "created_at": data.get("created_at"),
            "users": [{"id": u.get("id"), "email": u.get("email")} for u in users if isinstance(u, dict)]}


def _failure_result(message: str) -> dict:
    return {"score": 0, "output": f"The autograder could not grade this submission: {message}. "
                                  "Your instructor has been told; please contact them.",
            "tests": [], "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"status": "error", "error": message}}


# ---- "Export Submissions" zip ------------------------------------------------------------

def gradescope_entries(tree: dict[str, bytes], unattributed: list[str]) -> list[Entry]:
    # Only the export's own metadata, at its root: a student's file of the same name inside
    # their submission folder must never turn a class into a Gradescope export.
    meta_name = "submission_metadata.yml"
    if meta_name not in tree or isinstance(tree[meta_name], Unread):
        return []
    import yaml

    try:
        metadata = yaml.safe_load(tree[meta_name]) or {}
    except yaml.YAMLError as exc:
        raise GraderError(f"{meta_name}: not valid YAML ({str(exc).splitlines()[0]}); export again from Gradescope") from None
    if not isinstance(metadata, dict):
        raise GraderError(f"{meta_name}: not a Gradescope export's metadata (no submission map); export again")
    students = Students()
    claimed: set[str] = {meta_name}
    for folder, info in metadata.items():
        info = info if isinstance(info, dict) else {}
        people = info.get(":submitters") or info.get("submitters") or [{}]
        people = [p for p in people if isinstance(p, dict)] if isinstance(people, list) else []
        person, others = (people[0], people[1:]) if people else ({}, [])
        prefix = f"{folder}/"
        files = {name[len(prefix):]: data for name, data in tree.items() if name.startswith(prefix)}
        claimed.update(prefix + name for name in files)
        name = str(person.get(":name") or person.get("name") or folder)
        ids = {"gradescope_submission": str(folder).removeprefix("submission_"), **_gradescope_ids(person)}
        created = info.get(":created_at") or info.get("created_at")
        entry = students.get((str(folder),), slug(f"{name}_{ids['gradescope_submission']}"),
                             lambda key: Entry(student=key, name=name, ids=ids))
        entry.late = bool(info.get(":late") or info.get("late"))
        entry.files.update(files)
        entry.submitted_at = str(created) if created else None
        # A group submission lists every member: each of them gets the grade, not only the first.
        entry.members = [{"name": str(p.get(":name") or p.get("name") or ""), **_gradescope_ids(p)} for p in others]
    unattributed.extend(name for name in tree if name not in claimed)
    return students.finish()


def _gradescope_ids(person: dict) -> dict[str, str]:
    ids = {}
    for key in ("sid", "email"):
        value = person.get(f":{key}") or person.get(key)
        if value:
            ids[key] = str(value)
    return ids
