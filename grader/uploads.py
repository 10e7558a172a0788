"""Posting scores to an LMS: Canvas (update_grades) and LTI 1.3 Assignment and Grade Services.

Both keep a state file of what the LMS confirmed, so a re-run sends only what changed and a
failure midway never reports as posted something that was not. Secrets (the Canvas token,
the LTI private key) are read from the environment or the instructor's key file and never
printed, logged or written.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from grader.errors import GraderError
from grader.exporters import comment_for
from grader.report import csv_text
from grader.results import write_json_atomic

BATCH_SIZE = 50
MAX_RETRIES = 6


@dataclass
class UploadReport:
    """What happened to each student: posted, unchanged, unknown, skipped or failed (with why)."""

    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def set(self, student: str, status: str, detail: str = "") -> None:
        self.outcomes[student] = (status, detail)

    def count(self, status: str) -> int:
        return sum(1 for s, _ in self.outcomes.values() if s == status)

    def write_csv(self, path: Path) -> None:
        lines = ["student,status,detail"] + [f"{_csv(s)},{st},{_csv(d)}" for s, (st, d) in sorted(self.outcomes.items())]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _csv(text: str) -> str:
    text = csv_text(text)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def _fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class PostedState:
    """student -> fingerprint of what the LMS confirmed; saved after every confirmation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.posted: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.posted = {}

    def changed(self, student: str, payload: dict) -> bool:
        return self.posted.get(student) != _fingerprint(payload)

    def confirm(self, items: dict[str, dict]) -> None:
        for student, payload in items.items():
            self.posted[student] = _fingerprint(payload)
        write_json_atomic(self.path, self.posted)


# ---- Canvas ------------------------------------------------------------------------------

class CanvasUploader:
    """``POST .../assignments/:id/submissions/update_grades`` and its Progress, politely."""

    def __init__(self, base_url: str, course: str, assignment: str, token: str, *,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        if not token:
            raise GraderError("CANVAS_TOKEN is not set: create a token in Canvas (Account > Settings > "
                              "New Access Token) and export CANVAS_TOKEN=...")
        self.api = base_url.rstrip("/") + "/api/v1"
        self.course, self.assignment = course, assignment
        self.sleep = sleep
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30, transport=transport)

    def upload(self, rows: list[dict], state: PostedState, *, dry_run: bool = False,
               say: Callable[[str], None] = print) -> UploadReport:
        report = UploadReport()
        pending: dict[str, dict] = {}
        by_uid: dict[str, str] = {}
        for row in rows:
            uid = row.get("canvas_user_id")
            if not uid or row["status"] == "missing":
                report.set(row["student"], "skipped", "no Canvas user id" if not uid else "no submission")
                continue
            payload = {"posted_grade": f"{row['final_score']:g}", "text_comment": comment_for(row)}
            if not state.changed(uid, payload):
                report.set(row["student"], "unchanged")
                continue
            pending[uid], by_uid[uid] = payload, row["student"]
        if dry_run:
            for uid, payload in pending.items():
                say(f"would POST {self._grades_url()} grade_data[{uid}][posted_grade]={payload['posted_grade']} "
                    f"grade_data[{uid}][text_comment]={payload['text_comment']!r}")
                report.set(by_uid[uid], "dry-run")
            return report
        if not pending:
            return report
        known = self._students()
        for uid in [u for u in pending if u not in known]:
            report.set(by_uid[uid], "unknown", "not a student of this Canvas course")
            del pending[uid]
        uids = list(pending)
        for start in range(0, len(uids), BATCH_SIZE):
            chunk = {uid: pending[uid] for uid in uids[start:start + BATCH_SIZE]}
            try:
                rejected = self._post_chunk(chunk)
            except (httpx.TransportError, GraderError) as error:
                for uid in uids[start:]:
                    report.set(by_uid[uid], "failed", f"not posted: {_describe(error)}")
                say(f"stopped: {_describe(error)}; {len(uids) - start} students were not posted, re-run to retry")
                break
            confirmed = {uid: payload for uid, payload in chunk.items() if uid not in rejected}
            state.confirm(confirmed)
            for uid in chunk:
                report.set(by_uid[uid], "unknown" if uid in rejected else "posted",
                           "Canvas could not find this user" if uid in rejected else "")
        return report

    def _grades_url(self) -> str:
        return f"{self.api}/courses/{self.course}/assignments/{self.assignment}/submissions/update_grades"

    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One request with Canvas's throttling and transient failures handled by backoff."""
        delay = 1.0
        for attempt in range(MAX_RETRIES):
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError:
                # A POST that may have reached Canvas is not repeated: it could post comments twice.
                if method != "GET" or attempt == MAX_RETRIES - 1:
                    raise
                self.sleep(delay)
                delay *= 2
                continue
            if response.status_code == 403 and b"Rate Limit Exceeded" in response.content:
                self.sleep(delay)
                delay *= 2
                continue
            if response.status_code == 401:
                raise GraderError("Canvas refused the token (401): check that CANVAS_TOKEN is current and "
                                  "belongs to a teacher of this course")
            if response.status_code >= 500 and attempt < MAX_RETRIES - 1:
                self.sleep(delay)
                delay *= 2
                continue
            remaining = response.headers.get("X-Rate-Limit-Remaining")
            if remaining is not None and _float(remaining) < 100:
                self.sleep(0.5)  # slow down before Canvas starts refusing
            return response
        raise GraderError("Canvas kept throttling (403 Rate Limit Exceeded); wait a few minutes and re-run")

    def _students(self) -> set[str]:
        url = f"{self.api}/courses/{self.course}/users"
        params: dict | None = {"enrollment_type[]": "student", "per_page": 100}
        found: set[str] = set()
        while url:
            response = self._request("GET", url, params=params)
            if response.status_code == 404:
                raise GraderError(f"Canvas course {self.course} not found (404); check --course")
            response.raise_for_status()
            found |= {str(user["id"]) for user in response.json()}
            url, params = response.links.get("next", {}).get("url"), None  # next links carry their own query
        return found

    def _post_chunk(self, chunk: dict[str, dict]) -> set[str]:
        form = {}
        for uid, payload in chunk.items():
            for key, value in payload.items():
                form[f"grade_data[{uid}][{key}]"] = value
        response = self._request("POST", self._grades_url(), data=form)
        if response.status_code == 404:
            raise GraderError(f"Canvas assignment {self.assignment} not found in course {self.course} (404)")
        if response.status_code >= 400:
            raise GraderError(f"Canvas answered {response.status_code}: {response.text[:200]}")
        return self._await(response.json())

    def _await(self, progress: dict) -> set[str]:
        """Poll the Progress until it ends; return the ids Canvas could not find."""
        url = progress.get("url") or f"{self.api}/progress/{progress['id']}"
        delay = 0.2
        for _ in range(200):
            state = progress.get("workflow_state")
            if state == "completed":
                return set()
            if state == "failed":
                message = progress.get("message") or ""
                # "Couldn't find User(s) with API ids '12', '13'": the ids follow "ids".
                missing = (set(re.findall(r"'([^']+)'", message.split(" ids ", 1)[1]))
                           if "find User" in message and " ids " in message else None)
                if missing is None:
                    raise GraderError(f"Canvas reported the update failed: {message[:200]}")
                return missing
            self.sleep(delay)
            delay = min(delay * 1.5, 5.0)
            response = self._request("GET", url)
            response.raise_for_status()
            progress = response.json()
        raise GraderError("Canvas did not finish the update in time; re-run later to post the rest")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


def _describe(error: Exception) -> str:
    if isinstance(error, httpx.TransportError):
        return f"network error ({type(error).__name__})"
    return str(error)


# ---- LTI 1.3 AGS ---------------------------------------------------------------------------

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"


@dataclass
class LtiConfig:
    client_id: str
    key_file: Path
    token_url: str
    lineitem: str
    user_id_column: str
    key_id: str | None = None

    @classmethod
    def load(cls, path: Path) -> "LtiConfig":
        import tomllib

        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise GraderError(f"{path}: cannot read the LTI config ({exc}); fix the file") from None
        try:
            return cls(client_id=str(raw["client_id"]), key_file=(path.parent / raw["key_file"]).resolve(),
                       token_url=str(raw["token_url"]), lineitem=str(raw["lineitem"]),
                       user_id_column=str(raw.get("user_id_column", "email")), key_id=raw.get("key_id"))
        except KeyError as exc:
            raise GraderError(f"{path}: missing setting {exc}; see docs/lms.md for the LTI config") from None


def scores_url(lineitem: str) -> str:
    """``{lineitem}/scores`` with the line item's query string kept after it (Moodle's ?type_id=)."""
    parts = urlsplit(lineitem)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


class LtiUploader:
    def __init__(self, config: LtiConfig, *, transport: httpx.BaseTransport | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.config = config
        try:
            self._key = config.key_file.read_bytes()
        except OSError as exc:
            raise GraderError(f"{config.key_file}: cannot read the private key ({exc.strerror}); check key_file") from None
        self.client = httpx.Client(timeout=30, transport=transport)
        self.now = now
        self._token: str | None = None
        self._last_stamp: datetime | None = None

    def client_assertion(self) -> str:
        import jwt

        issued = int(time.time())
        claims = {"iss": self.config.client_id, "sub": self.config.client_id, "aud": self.config.token_url,
                  "iat": issued - 5, "exp": issued + 300, "jti": uuid.uuid4().hex}
        headers = {"kid": self.config.key_id} if self.config.key_id else None
        try:
            return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)
        except (ValueError, TypeError):
            raise GraderError(f"{self.config.key_file}: not an RSA private key in PEM form") from None

    def token(self) -> str:
        if self._token is None:
            response = self.client.post(self.config.token_url, data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.client_assertion(), "scope": SCORE_SCOPE})
            if response.status_code != 200:
                raise GraderError(f"the platform refused the access token request ({response.status_code}: "
                                  f"{_oauth_error(response)}); check client_id, key_file and token_url")
            self._token = response.json()["access_token"]
        return self._token

    def _timestamp(self) -> str:
        """ISO 8601 with microseconds and zone, strictly increasing within this run."""
        stamp = self.now()
        if self._last_stamp is not None and stamp <= self._last_stamp:
            stamp = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = stamp
        return stamp.isoformat(timespec="microseconds")

    def upload(self, rows: list[dict], state: PostedState, *, dry_run: bool = False,
               say: Callable[[str], None] = print) -> UploadReport:
        report = UploadReport()
        url = scores_url(self.config.lineitem)
        pending: list[tuple[str, str, dict]] = []
        for row in rows:
            user = row.get(self.config.user_id_column)
            if not user or row["status"] == "missing":
                report.set(row["student"], "skipped", f"no {self.config.user_id_column}" if not user else "no submission")
                continue
            payload = {"userId": str(user), "scoreGiven": float(row["final_score"]),
                       "scoreMaximum": float(row["max_score"]), "comment": comment_for(row),
                       "activityProgress": "Completed", "gradingProgress": "FullyGraded"}
            if not state.changed(str(user), payload):
                report.set(row["student"], "unchanged")
            elif dry_run:
                say(f"would POST {url} {json.dumps(payload, ensure_ascii=False)}")
                report.set(row["student"], "dry-run")
            else:
                pending.append((row["student"], str(user), payload))
        if pending:
            self.token()  # a refused client is a configuration error, not one student's failure
        for index, (student, user, payload) in enumerate(pending):
            try:
                status, detail = self._post(url, payload)
            except (httpx.TransportError, GraderError) as error:
                say(f"stopped: {_describe(error)}; re-run to post the rest")
                for later, _, _ in pending[index:]:
                    report.set(later, "failed", f"not posted: {_describe(error)}")
                break
            if status == "posted":
                state.confirm({user: payload})
            report.set(student, status, detail)
        return report

    def _post(self, url: str, payload: dict) -> tuple[str, str]:
        for attempt in range(2):
            body = dict(payload, timestamp=self._timestamp())
            response = self.client.post(url, content=json.dumps(body).encode(), headers={
                "Authorization": f"Bearer {self.token()}", "Content-Type": SCORE_MEDIA_TYPE})
            if response.status_code == 401 and attempt == 0:
                self._token = None  # expired: fetch a new token once
                continue
            if response.status_code in (200, 201, 204):
                return "posted", ""
            if response.status_code in (400, 409) and "timestamp" in response.text.lower():
                return "stale", "the platform holds a newer score for this user"
            if response.status_code in (404,):
                raise GraderError("the line item was not found (404); check lineitem in the LTI config")
            if response.status_code in (400, 422):
                return "unknown", f"rejected by the platform ({response.status_code}): {response.text[:120]}"
            raise GraderError(f"the platform answered {response.status_code}")
        raise GraderError("the platform refused a fresh token (401)")


def _oauth_error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", "error"))
    except ValueError:
        return "error"
