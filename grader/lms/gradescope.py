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
from grader.grading import answer_book
from grader.handout import grader_kit_files
from grader.hints.book import RECORDED_NAME
from grader.i18n import Message, choose_language
from grader.lms.layouts import Entry, Students, slug

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the image (Ubuntu; apt is available). Python 3.11 where the
# archive has it (22.04), else the image's own python3 when that is 3.11 or newer (24.04).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"  # for local tests, as in run_autograder
apt-get install -y libseccomp2 || true
if apt-get install -y python3.11 python3.11-venv; then
    PYTHON=python3.11
else
    apt-get install -y python3 python3-venv
    PYTHON=python3
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "the grader needs Python 3.11 or newer: choose the Ubuntu 22.04 or 24.04 base image" >&2
    exit 1
fi
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet "$ROOT/source/kit"
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
    # The known bugs' answers, so that each student's container names bugs without recording them.
    files[f"kit/assignments/{assignment.root.name}/{RECORDED_NAME}"] = json.dumps(
        answer_book(assignment).to_data(shipped=True), ensure_ascii=False).encode()
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


# Gradescope's container has 768 MB by default for everything: the worker's address space is
# capped below that, so a memory bomb ends the worker, never the grader that writes results.json.
CONTAINER_WORKER_BYTES = 512 << 20


def run_in_autograder(root: Path, assignment: Assignment) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; return the result.

    A provisional error result is written first, so even a grader killed from outside (out of
    memory, time limit) leaves Gradescope a valid results.json saying so.
    """
    from grader.results import write_json_atomic

    results_path = root / "results" / "results.json"
    lang = choose_language(None, assignment.language)
    write_json_atomic(results_path, _failure_result(Message("gradescope.stopped").render(lang), lang))
    try:
        result = _grade_here(root, assignment)
    except GraderError as error:
        result = _failure_result(str(error), lang)
    except BaseException as error:  # noqa: BLE001 - Gradescope must always get a results.json
        import traceback

        traceback.print_exc()  # goes to Gradescope's autograder log, for the instructor
        result = _failure_result(f"internal error ({type(error).__name__})", lang)
    write_json_atomic(results_path, result)
    return result


def _grade_here(root: Path, assignment: Assignment) -> dict:
    from dataclasses import replace

    from grader.grading import grade_files, open_session

    metadata, raw = _metadata(root), _raw_metadata(root)
    lock_secrets(root)
    limits = replace(assignment.limits, memory_bytes=min(assignment.limits.memory_bytes, CONTAINER_WORKER_BYTES))
    assignment = replace(assignment, limits=limits)
    # The whole /autograder tree (kit, results, metadata) is covered in the worker's view where a
    # mount namespace is allowed; in Gradescope's container, lock_secrets and the uid drop do it.
    session = open_session(assignment, hide=[str(root.resolve())])
    try:
        result = grade_files(assignment, [root / "submission"], session=session)[0]
    finally:
        session.close()
    result["extra_data"]["gradescope"] = metadata
    return _apply_late_policy(result, raw, assignment)


def lock_secrets(root: Path) -> list[str]:
    """The container profile's file layer: what a worker must not read becomes root-only.

    Inside Gradescope's container there is usually no mount namespace (no CAP_SYS_ADMIN, Docker's
    default seccomp profile) to cover the kit, and maybe no Landlock. The worker runs as an
    unprivileged uid there too, so folders that are not searchable by others keep it out of the
    hidden tests and the reference (``source/``), other group members' data
    (``submission_metadata.json``) and the results. Only as root: elsewhere the mounts do this.
    """
    import os

    if os.geteuid() != 0:
        return []
    # /autograder itself stays enterable (not listable): the worker imports from /autograder/venv.
    os.chmod(root, 0o711)
    locked = []
    for name, mode in (("source", 0o700), ("results", 0o700), ("submission_metadata.json", 0o600)):
        path = root / name
        if path.exists() and not path.is_symlink():
            os.chmod(path, mode)
            locked.append(name)
    return locked


def _apply_late_policy(result: dict, raw: dict, assignment: Assignment) -> dict:
    """The kit's late penalty from Gradescope's own times (created_at against the due date)."""
    from grader.lms.scores import apply_late_policy, late_mode

    due = (raw.get("assignment") or {}).get("due_date") if isinstance(raw.get("assignment"), dict) else None
    if late_mode(assignment) != "kit" or not raw.get("created_at"):
        return result
    try:
        when = _aware(due) if due else assignment.due
    except ValueError:
        return result
    if when is None:
        return result
    from dataclasses import replace

    row = {"score": result["score"], "submitted_at": str(raw["created_at"])}
    [row] = apply_late_policy([row], replace(assignment, due=when))
    if row["penalty_percent"]:
        result["score"] = row["final_score"]
        note = Message("gradescope.late", {"days": row["days_late"], "percent": f"{row['penalty_percent']:g}",
                                           "final": f"{row['final_score']:g}", "score": f"{row['score']:g}"})
        result["output"] = note.render(choose_language(None, assignment.language)) + "\n" + result.get("output", "")
        result["extra_data"]["late"] = {"days": row["days_late"], "penalty_percent": row["penalty_percent"]}
    return result


def _aware(text: str):
    from datetime import datetime

    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _raw_metadata(root: Path) -> dict:
    path = root / "submission_metadata.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (ValueError, OSError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _metadata(root: Path) -> dict:
    data = _raw_metadata(root)
    users = data.get("users") if isinstance(data.get("users"), list) else []
    return {"submission_id": data.get("id"), "created_at": data.get("created_at"),
            "users": [{"id": u.get("id"), "email": u.get("email")} for u in users if isinstance(u, dict)]}


def _failure_result(message: str, lang: str = "en") -> dict:
    return {"score": 0, "output": Message("gradescope.could_not_grade", {"reason": message}).render(lang),
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
