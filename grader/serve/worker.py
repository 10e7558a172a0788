"""A grading process: claims a grading, grades it with the kit's own Session (the sandbox, the hidden
tests, the feedback policy of ``grader grade``), records the result once, asks for the score to be posted.

Started by the supervisor as ``python -m grader.serve.worker`` with its settings in the environment
(``GRADER_SERVE_WORKER``, JSON: no secret is in them). It dies with the process that started it.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from grader.assignment import Assignment, load_assignment
from grader.errors import GraderError
from grader.grading import grade_loaded, open_session, upload_or_error
from grader.i18n import choose_language
from grader.runner import Session
from grader.serve import jobs
from grader.serve.engines import engine_for
from grader.serve.storage import Store
from grader.serve.texts import asked_language

SETTINGS_VARIABLE = "GRADER_SERVE_WORKER"
# Longer than any grading takes: the sandbox ends a submission after its submission_seconds (60 by default)
# and a fresh session starts in a second or two. Past this, the grading process itself is stuck.
STUCK_SECONDS = 600.0


@dataclass
class WorkerSettings:
    owner: str                # this process's name in the job table's leases
    database: str
    queue: str
    hide: list[str]           # folders the sandbox covers besides the kit's own (the service's data folder)
    lease_seconds: float = 15.0
    parent: int | None = None  # die with this process

    def to_env(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_env(cls) -> "WorkerSettings":
        return cls(**json.loads(os.environ[SETTINGS_VARIABLE]))


@dataclass
class Grader:
    """Sessions per (assignment, language), opened on first use and kept warm."""

    store: Store
    settings: WorkerSettings
    sessions: dict[tuple[str, str], Session] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)

    def run_one(self, grading_id: int | None) -> bool:
        """Claim and grade a grading (``None``: the oldest queued one), with batch-mates if a queue has built
        up (``jobs.claim_batch``). False if there was none to claim."""
        owner, lease = self.settings.owner, self.settings.lease_seconds
        taken = jobs.claim_batch(self.store, owner, lease, grading_id)
        if not taken:
            return False
        with Heartbeat(self.store, [job["id"] for job in taken], owner, lease, STUCK_SECONDS):
            try:
                graded = self.grade(taken)
            except Exception as error:  # noqa: BLE001 - the grader's failure on one job must not end the worker
                self.close()  # a session that failed may be broken: the next grading starts fresh ones
                if len(taken) == 1:
                    jobs.fail(self.store, taken[0]["id"], owner, _describe(error))
                    return True
                graded = None
            if graded is None:  # one of a batch broke the grader: each alone, so the others are not spoiled
                for job in taken:
                    self._grade_alone(job)
            else:
                for job, (result, post) in zip(taken, graded):
                    jobs.finish(self.store, job["id"], owner, result, post=post)
        return True

    def _grade_alone(self, job: dict) -> None:
        try:
            [(result, post)] = self.grade([job])
        except Exception as error:  # noqa: BLE001 - as above
            self.close()
            jobs.fail(self.store, job["id"], self.settings.owner, _describe(error))
        else:
            jobs.finish(self.store, job["id"], self.settings.owner, result, post=post)

    def grade(self, batch: list[dict]) -> list[tuple[dict, tuple[int, int] | None]]:
        """Each grading's result, annotated as ``grader batch`` annotates its results, with the (link, user)
        whose LMS score it changes, if the link posts scores. One assignment and language: one session."""
        people = [self._people(job) for job in batch]
        assignment = self.assignment(people[0][1]["assignment_id"])
        session = self.session(assignment, _language(people[0][2]["locale"], assignment))
        loaded = [(submission["filename"], upload_or_error(submission["filename"],
                                                           self.store.submission_bytes(submission["id"]), assignment))
                  for submission, _, _, _ in people]
        results = grade_loaded(assignment, loaded, session)
        return [self._annotated(result, job, *found, assignment) for result, job, found in zip(results, batch, people)]

    def _people(self, job: dict) -> tuple[dict, dict, dict, dict]:
        """(submission, link, user, membership) of a grading."""
        submission = self.store.submission(job["submission_id"])
        link, user = self.store.link(submission["link_id"]), self.store.user(submission["user_id"])
        return submission, link, user, self.store.member(user["id"], link["course_id"]) or {"lms_ids": {}}

    def _annotated(self, result: dict, job: dict, submission: dict, link: dict, user: dict, member: dict,
                   assignment: Assignment) -> tuple[dict, tuple[int, int] | None]:
        due = due_date(link, assignment)
        result["extra_data"].update({
            "student": student_key(user), "name": user["name"], "lms_ids": _lms_ids(user, member),
            "submitted_at": submission["submitted_at"], "submission_id": submission["id"], "round": job["round"],
            "late": bool(due and datetime.fromisoformat(submission["submitted_at"]) > due)})
        posts = bool(link["lineitem"] or link["lineitems"])
        return result, ((link["id"], user["id"]) if posts else None)

    def assignment(self, ident: str) -> Assignment:
        if ident not in self.assignments:
            self.assignments[ident] = load_assignment(ident)
        return self.assignments[ident]

    def session(self, assignment: Assignment, lang: str) -> Session:
        key = (assignment.id, lang)
        if key not in self.sessions:
            self.sessions[key] = open_session(assignment, self.settings.hide, lang=lang)
        return self.sessions[key]

    def close(self) -> None:
        for session in self.sessions.values():
            try:
                session.close()
            except Exception:  # noqa: BLE001 - closing a broken session must not stop the others closing
                pass
        self.sessions.clear()


class Heartbeat:
    """Renews the lease while a grading runs. A grading past ``limit`` seconds means this process is
    stuck (not the student's code: the sandbox bounds that): it exits, and the supervisor starts another."""

    def __init__(self, store: Store, grading_ids: list[int], owner: str, lease: float, limit: float) -> None:
        self.store, self.grading_ids, self.owner, self.lease, self.limit = store, grading_ids, owner, lease, limit
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        started = time.monotonic()
        while not self._done.wait(self.lease / 3):
            if time.monotonic() - started > self.limit:
                print(f"grader serve worker {self.owner}: gradings {self.grading_ids} are stuck; restarting",
                      file=sys.stderr, flush=True)
                os._exit(75)
            try:
                jobs.heartbeat(self.store, self.grading_ids, self.owner, self.lease)
            except Exception:  # noqa: BLE001 - a database hiccup: the next beat tries again within the lease
                pass


def student_key(user: dict) -> str:
    """How reports and exports name a student: their email, else their LMS user id."""
    return user["email"] or user["subject"]


def _lms_ids(user: dict, member: dict) -> dict:
    ids = {key: str(value) for key, value in (member.get("lms_ids") or {}).items() if value}
    if user["email"]:
        ids.setdefault("email", user["email"])
    return ids


def due_date(link: dict, assignment: Assignment) -> datetime | None:
    """The LMS's due date when the launch carried one, else the assignment's; always with a zone."""
    due = datetime.fromisoformat(link["due_at"].replace("Z", "+00:00")) if link.get("due_at") else assignment.due
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=timezone.utc)
    return due


def _language(locale: str, assignment: Assignment) -> str:
    return choose_language(asked_language(locale), assignment.language)


def _describe(error: Exception) -> str:
    if isinstance(error, GraderError):
        return str(error)
    return f"the grader failed on this submission ({type(error).__name__}); see the worker's log"


def main() -> int:
    settings = WorkerSettings.from_env()
    if settings.parent:
        from grader.sandbox.layers import die_with_parent

        die_with_parent(settings.parent)
    store = Store(settings.database)
    grader = Grader(store, settings)
    engine = engine_for(settings.queue, store)
    stop = threading.Event()
    if engine.name == "embedded":  # Celery's worker handles SIGTERM itself (a warm shutdown)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        engine.consume(grader.run_one, stop.is_set)
    finally:
        grader.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
