"""Scores back to the LMS through LTI Assignment and Grade Services, with the kit's own client
(``grader.lms.lti``: the signed token request, the line item found or created, the Canvas and Moodle
answers it already knows), and the course roster through NRPS.

One thread in the server works through ``score_posts``: a grading that finished asked for its student's
score to be sent. What is sent is the student's current score (their newest graded submission), late
policy applied, with the submission's real time (``submission.submittedAt``). The tool's private key is
read from the data folder by the client; it never leaves this process.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from grader.assignment import Assignment, load_assignment
from grader.errors import GraderError
from grader.lms.lti import LtiConfig, LtiUploader
from grader.lms.posting import PostedState
from grader.report import score_rows
from grader.lms.scores import apply_late_policy
from grader.serve.config import ServeConfig
from grader.serve.keys import ToolKey
from grader.serve.storage import Store
from grader.serve.views import current_result, with_due

STALE_RETRIES = 5      # Moodle keeps whole seconds: a second score within one second is "stale"; wait, send again
FAILED_RETRIES = 8     # 429, 5xx, network: back off up to about ten minutes
ROSTER_SECONDS = 300   # the NRPS roster is read again after this long


class Passback:
    def __init__(self, store: Store, config: ServeConfig, key: ToolKey, say: Callable[[str], None] = print) -> None:
        self.store, self.config, self.key, self.say = store, config, key, say
        self._uploaders: dict[tuple[int, str], LtiUploader] = {}
        self._assignments: dict[str, Assignment] = {}
        self._rosters: dict[int, tuple[float, list[dict]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="score-poster")

    def start(self) -> "Passback":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.wait(0.5):
            try:
                for post in self.store.due_posts(time.time()):
                    self.send(post)
            except Exception as error:  # noqa: BLE001 - the poster must outlive any one bad post or outage
                self.say(f"grader serve: score poster: {type(error).__name__}: {error}")

    # -- one score

    def send(self, post: dict) -> str:
        """Send one pending score; returns the status recorded (or "retry")."""
        link, user = self.store.link(post["link_id"]), self.store.user(post["user_id"])
        current = current_result(self.store, link["id"], user["id"])
        if current is None:
            self.store.record_post(post["id"], "skipped", "no graded submission")
            return "skipped"
        submission_id, result = current
        try:
            status, detail = self._post(link, user, result)
        except GraderError as error:
            status, detail = "failed", str(error)
        return self._record(post, submission_id, status, detail, result)

    def _post(self, link: dict, user: dict, result: dict) -> tuple[str, str]:
        assignment = self.assignment(link["assignment_id"])
        rows = apply_late_policy(score_rows([result], None), with_due(assignment, link))
        rows[0]["lti_user_id"] = user["subject"]
        with self._lock:
            uploader = self.uploader(link)
            if not uploader.lineitem:
                found = uploader.find_lineitem(assignment, rows, create=True, say=self.say)
                self.store.update_link(link["id"], lineitem=found)
            report = uploader.upload(rows, PostedState(self._state_path(link)), say=self.say)
        return report.outcomes.get(rows[0]["student"], ("failed", "no outcome"))

    def _record(self, post: dict, submission_id: str, status: str, detail: str, result: dict) -> str:
        tries = post["tries"] + 1
        if status in ("stale", "failed"):
            limit = STALE_RETRIES if status == "stale" else FAILED_RETRIES
            if tries < limit:
                wait = 1.5 if status == "stale" else min(600.0, 15.0 * 2 ** (tries - 1))
                self.store.record_post(post["id"], status, detail, retry_at=time.time() + wait)
                return "retry"
        self.store.record_post(post["id"], status, detail)
        score = f"{result['score']:g}/{result['max_score']:g}"
        said = {"posted": f"score {score} sent to the LMS", "unchanged": f"score {score} already in the LMS"}
        self.store.add_event(submission_id, "lms", said.get(status, f"the LMS did not take the score: {status}: {detail}"))
        return status

    # -- the client for a link, and the roster

    def uploader(self, link: dict) -> LtiUploader:
        """The link's client, kept (its access tokens are reused until the platform refuses them)."""
        key = (link["id"], link["lineitem"])
        if key not in self._uploaders:
            self._uploaders[key] = self._client(link)
        return self._uploaders[key]

    def _client(self, link: dict) -> LtiUploader:
        platform = self.config.platform(link["issuer"], link["client_id"])
        if platform is None:
            raise GraderError(f"no registered platform for issuer {link['issuer']}; add it to serve.toml")
        config = LtiConfig(client_id=platform.client_id, key_file=self.key.path, token_url=platform.auth_token_url,
                           lineitem=link["lineitem"], lineitems=link["lineitems"], memberships=link["memberships_url"],
                           user_id_column="lti_user_id", key_id=self.key.kid, issuer=platform.issuer,
                           platform=platform.flavour, audience=platform.audience)
        return LtiUploader(config.derived(f"link {link['id']}"))

    def roster(self, link: dict) -> list[dict] | None:
        """The course's members as the LMS lists them (NRPS, read again after ROSTER_SECONDS), or None where
        the launch offered no roster or the LMS would not give it (the pages then list who launched the tool)."""
        if not link["memberships_url"]:
            return None
        cached = self._rosters.get(link["id"])
        if cached and time.monotonic() - cached[0] < ROSTER_SECONDS:
            return cached[1]
        try:
            members = self._client(link).member_list()
        except GraderError as error:
            self.say(f"grader serve: the course roster could not be read: {error}")
            return None
        self._rosters[link["id"]] = (time.monotonic(), members)
        return members

    def assignment(self, ident: str) -> Assignment:
        if ident not in self._assignments:
            self._assignments[ident] = load_assignment(ident)
        return self._assignments[ident]

    def _state_path(self, link: dict) -> Path:
        return self.config.data / "ags" / f"link-{link['id']}.json"
