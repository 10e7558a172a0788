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
import tenacity

from grader.errors import GraderError
from grader.exporters import apply_late_policy, comment_for, late_mode, scale_rows
from grader.report import csv_text
from grader.results import write_json_atomic

BATCH_SIZE = 50
MAX_RETRIES = 6
# A wrong address fails at connect time within this, instead of after the default 30 s.
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


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



class _Transient(Exception):
    """An answer worth asking again (throttled, 429, 5xx, a dropped connection on a GET)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)


def send(client: httpx.Client, method: str, url: str, *, sleep: Callable[[float], None], idempotent: bool,
         transient: Callable[[httpx.Response], bool], **kwargs) -> httpx.Response:
    """One request, with bounded exponential retries (tenacity) on transient answers.

    Only idempotent requests are repeated after a 5xx or a dropped connection: a POST that may
    have reached the LMS could post a comment twice. A POST is repeated only when the LMS said
    it did not process it (throttled). A connection that cannot be made at all (wrong address,
    DNS) fails at once with one line: retrying it only makes the instructor wait.
    """
    def attempt() -> httpx.Response:
        # A callable argument is rebuilt for every try (a token request signs a fresh assertion).
        arguments = {key: value() if callable(value) else value for key, value in kwargs.items()}
        try:
            response = client.request(method, url, **arguments)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise GraderError(f"cannot connect to {_origin(url)} ({type(exc).__name__}); check the address") from None
        except httpx.TransportError as exc:
            if idempotent:
                raise _Transient(f"network error ({type(exc).__name__})") from None
            raise
        if transient(response) or (idempotent and (response.status_code == 429 or response.status_code >= 500)):
            raise _Transient(f"{response.status_code} {response.reason_phrase}".strip())
        return response

    retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(MAX_RETRIES), sleep=sleep, reraise=True,
                                 wait=tenacity.wait_exponential(multiplier=1, max=30),
                                 retry=tenacity.retry_if_exception_type(_Transient))
    try:
        return retrying(attempt)
    except _Transient as exc:
        raise GraderError(f"{_origin(url)} kept answering {exc} after {MAX_RETRIES} tries; wait and re-run") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def _check_base_url(url: str, what: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GraderError(f"{what} '{url}' is not an address: give it as https://lms.example.edu")
    return url.rstrip("/")


def _pages(get: Callable[[str, dict | None], httpx.Response], url: str, params: dict | None) -> list:
    """Every page of a list, following ``Link: rel="next"`` as given (opaque, any header case)."""
    items: list = []
    while url:
        response = get(url, params)
        body = response.json()
        items += body if isinstance(body, list) else []
        url, params = response.links.get("next", {}).get("url"), None  # next links carry their own query
    return items


# ---- Canvas ------------------------------------------------------------------------------

class CanvasUploader:
    """``POST .../assignments/:id/submissions/update_grades`` and its Progress, politely."""

    def __init__(self, base_url: str, course: str, assignment: str, token: str, *, dry_run: bool = False,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        if not token and not dry_run:
            raise GraderError("CANVAS_TOKEN is not set: create a token in Canvas (Account > Settings > "
                              "New Access Token) and export CANVAS_TOKEN=...")
        self.api = _check_base_url(base_url, "--url") + "/api/v1"
        self.course, self.assignment = course, assignment
        self.sleep = sleep
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT, transport=transport)

    def upload(self, rows: list[dict], state: PostedState, *, dry_run: bool = False,
               say: Callable[[str], None] = print, assignment=None) -> UploadReport:
        report = UploadReport()
        if not dry_run:  # a dry run needs no token: it shows what it would send, from the batch alone
            rows = self._prepare(rows, assignment, say)
        pending: dict[str, dict] = {}
        by_uid: dict[str, str] = {}
        for row in rows:
            uid = row.get("canvas_user_id")
            if not uid or row["status"] == "missing":
                report.set(row["student"], "skipped", "no Canvas user id" if not uid else "no submission")
                continue
            payload = _canvas_payload(row)
            if not state.changed(uid, payload):
                report.set(row["student"], "unchanged")
                continue
            pending[uid], by_uid[uid] = payload, row["student"]
        if dry_run:
            for uid, payload in pending.items():
                fields = " ".join(f"grade_data[{uid}][{k}]={v!r}" if k == "text_comment" else f"grade_data[{uid}][{k}]={v}"
                                  for k, v in payload.items())
                say(f"would POST {self._grades_url()} {fields}")
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

    def _prepare(self, rows: list[dict], assignment, say: Callable[[str], None]) -> list[dict]:
        """Canvas's own facts: its points possible (scores are scaled to it), its late policy, and
        each submission's real ``seconds_late`` (not the download's LATE marker)."""
        info = self._get(f"{self.api}/courses/{self.course}/assignments/{self.assignment}", None,
                         f"Canvas assignment {self.assignment} in course {self.course}").json()
        if assignment is not None:
            mode = late_mode(assignment)
            canvas_late = self._canvas_late_policy()
            if canvas_late and mode == "kit":
                say("warning: this course's Canvas late policy deducts too, on top of the kit's penalty; set "
                    "late_policy = \"lms\" in assignment.toml to let Canvas alone deduct (raw scores are posted)")
            if mode == "kit":
                late = {str(s.get("user_id")): s.get("seconds_late") for s in self._submissions()}
                rows = apply_late_policy([dict(r, seconds_late=late.get(str(r.get("canvas_user_id")), r.get("seconds_late")))
                                          for r in rows], assignment)
        points = info.get("points_possible")
        return scale_rows(rows, float(points) if isinstance(points, (int, float)) and points > 0 else None)

    def _canvas_late_policy(self) -> bool:
        response = self._request("GET", f"{self.api}/courses/{self.course}/late_policy")
        if response.status_code == 404:
            return False  # no policy set for this course
        self._raise_for(response, "the course's late policy")
        policy = response.json().get("late_policy") or {}
        return bool(policy.get("late_submission_deduction_enabled") and float(policy.get("late_submission_deduction") or 0))

    def _submissions(self) -> list[dict]:
        url = f"{self.api}/courses/{self.course}/assignments/{self.assignment}/submissions"
        return _pages(lambda u, p: self._get(u, p, "the assignment's submissions"), url, {"per_page": 100})

    def _grades_url(self) -> str:
        return f"{self.api}/courses/{self.course}/assignments/{self.assignment}/submissions/update_grades"

    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One request with Canvas's throttling and transient failures handled by backoff."""
        def throttled(response: httpx.Response) -> bool:
            # Canvas refuses before doing anything: safe to repeat, even a POST (throttling.md).
            return response.status_code == 403 and b"Rate Limit Exceeded" in response.content

        try:
            response = send(self.client, method, url, sleep=self.sleep, idempotent=method == "GET",
                            transient=throttled, **kwargs)
        except GraderError as error:
            if "403" in str(error):
                raise GraderError("Canvas kept throttling (403 Rate Limit Exceeded); wait a few minutes and re-run") from None
            raise
        if response.status_code == 401:
            raise GraderError("Canvas refused the token (401): check that CANVAS_TOKEN is current and "
                              "belongs to a teacher of this course")
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        if remaining is not None and _float(remaining) < 100:
            self.sleep(0.5)  # slow down before Canvas starts refusing
        return response

    def _get(self, url: str, params: dict | None, what: str) -> httpx.Response:
        response = self._request("GET", url, params=params)
        self._raise_for(response, what)
        return response

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        if response.status_code == 404:
            raise GraderError(f"Canvas has no {what} (404); check --course and --lms-assignment")
        if response.status_code == 403:
            raise GraderError(f"Canvas refused access to {what} (403): the token's user must teach this course")
        if response.status_code >= 400:
            raise GraderError(f"Canvas answered {response.status_code} for {what}: {response.text[:120]}")

    def _students(self) -> set[str]:
        url = f"{self.api}/courses/{self.course}/users"
        # Inactive students are graded by update_grades too (students_visible_to include: :inactive).
        params = {"enrollment_type[]": "student", "enrollment_state[]": ["active", "invited", "inactive"],
                  "per_page": 100}
        users = _pages(lambda u, p: self._get(u, p, f"course {self.course}"), url, params)
        return {str(user["id"]) for user in users if isinstance(user, dict) and "id" in user}

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
            progress = self._get(url, None, "the update's progress").json()
        raise GraderError("Canvas did not finish the update in time; re-run later to post the rest")


def _canvas_payload(row: dict) -> dict:
    """The form fields for one student. A group's comment goes once, to every member
    (``group_comment``); the members' own rows then carry only the grade."""
    score = row.get("lms_score") if row.get("lms_score") not in (None, "") else row["final_score"]
    payload = {"posted_grade": f"{float(score):g}"}
    if row.get("group_of"):
        return payload
    payload["text_comment"] = comment_for(row)
    if row.get("group") or row.get("group_members"):
        payload["group_comment"] = "true"
    return payload


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
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCORE_MEDIA_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_MEDIA_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
NRPS_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
CANVAS_SUBMISSION = "https://canvas.instructure.com/lti/submission"
TOOL_TAG = "dezero-autograder"

# Where each platform keeps its services, from the platform's issuer (its base address).
_PLATFORM_URLS = {
    "canvas": {"token_url": "{issuer}/login/oauth2/token",
               "lineitems": "{issuer}/api/lti/courses/{context_id}/line_items",
               "memberships": "{issuer}/api/lti/courses/{context_id}/names_and_roles"},
    "moodle": {"token_url": "{issuer}/mod/lti/token.php",
               "lineitems": "{issuer}/mod/lti/services.php/{context_id}/lineitems?type_id={type_id}",
               "memberships": "{issuer}/mod/lti/services.php/CourseSection/{context_id}/bindings/{type_id}/memberships"},
}


@dataclass
class LtiConfig:
    client_id: str
    key_file: Path
    token_url: str
    lineitem: str = ""               # a fixed line item; otherwise found or created in `lineitems`
    user_id_column: str = ""         # a score column that already holds LTI user ids; otherwise NRPS
    key_id: str | None = None
    issuer: str = ""
    platform: str = "other"          # canvas | moodle | other
    context_id: str = ""
    type_id: str = ""
    audience: str = ""               # the token's `aud`; the token URL unless the platform says otherwise
    lineitems: str = ""
    memberships: str = ""
    match_by: str = "email"          # roster column used to find each student in the membership list
    new_submission: bool = False     # Canvas: a score is not a new attempt (no "late" from the post time)

    @classmethod
    def load(cls, path: Path) -> "LtiConfig":
        import tomllib

        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise GraderError(f"{path}: cannot read the LTI config ({exc}); fix the file") from None
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise GraderError(f"{path}: unknown setting(s) {', '.join(unknown)}; see docs/lms.md for the LTI config")
        try:
            values = {k: (str(v) if k not in ("new_submission",) else bool(v)) for k, v in raw.items()}
            values["key_file"] = (path.parent / raw["key_file"]).resolve()
            config = cls(**values)
        except (KeyError, TypeError) as exc:
            raise GraderError(f"{path}: missing setting {exc}; see docs/lms.md for the LTI config") from None
        return config.derived(path)

    def derived(self, where: Path | str = "the LTI config") -> "LtiConfig":
        """Fill in the service addresses a known platform keeps at fixed places."""
        templates = _PLATFORM_URLS.get(self.platform, {})
        if self.platform not in ("canvas", "moodle", "other"):
            raise GraderError(f"{where}: platform = '{self.platform}' is not canvas, moodle or other")
        for name, template in templates.items():
            if not getattr(self, name):
                if not self.issuer or not self.context_id or ("{type_id}" in template and not self.type_id):
                    continue
                setattr(self, name, template.format(issuer=self.issuer.rstrip("/"), context_id=self.context_id,
                                                    type_id=self.type_id))
        if not self.token_url:
            raise GraderError(f"{where}: no token_url; give it, or issuer + platform = \"canvas\" | \"moodle\"")
        if not self.lineitem and not self.lineitems:
            raise GraderError(f"{where}: no line item: give lineitems (or issuer, platform and context_id)")
        return self

    def lineitems_url(self) -> str:
        return self.lineitem or self.lineitems


def scores_url(lineitem: str) -> str:
    """``{lineitem}/scores`` with the line item's query string kept after it (Moodle's ?type_id=)."""
    parts = urlsplit(lineitem)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


class LtiUploader:
    def __init__(self, config: LtiConfig, *, transport: httpx.BaseTransport | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        try:
            self._key = config.key_file.read_bytes()
        except OSError as exc:
            raise GraderError(f"{config.key_file}: cannot read the private key ({exc.strerror}); check key_file") from None
        self.client = httpx.Client(timeout=TIMEOUT, transport=transport)
        self.now, self.sleep = now, sleep
        self._tokens: dict[str, str] = {}
        self._last_stamp: datetime | None = None
        self.lineitem: str = config.lineitem
        self.score_maximum: float | None = None
        self._members: dict[str, str] | None = None

    # -- tokens

    def client_assertion(self) -> str:
        import jwt

        issued = int(time.time())
        claims = {"iss": self.config.client_id, "sub": self.config.client_id,
                  "aud": self.config.audience or self.config.token_url,
                  "iat": issued - 5, "exp": issued + 300, "jti": uuid.uuid4().hex}
        headers = {"kid": self.config.key_id} if self.config.key_id else None
        try:
            return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)
        except (ValueError, TypeError):
            raise GraderError(f"{self.config.key_file}: not an RSA private key in PEM form") from None

    def token(self, scope: str = SCORE_SCOPE) -> str:
        if scope not in self._tokens:
            # Each try signs a fresh assertion (a new jti), so repeating the request is safe.
            response = self._send("POST", self.config.token_url, idempotent=True, data=lambda: {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.client_assertion(), "scope": scope})
            if response.status_code != 200:
                raise GraderError(f"the platform refused the access token request ({response.status_code}: "
                                  f"{_oauth_error(response)}); check client_id, key_file, token_url and audience")
            self._tokens[scope] = response.json()["access_token"]
        return self._tokens[scope]

    def _send(self, method: str, url: str, *, idempotent: bool, **kwargs) -> httpx.Response:
        return send(self.client, method, url, sleep=self.sleep, idempotent=idempotent, transient=lambda r: False,
                    **kwargs)

    def _get(self, url: str, scope: str, accept: str, params: dict | None = None) -> httpx.Response:
        for attempt in range(2):
            response = self._send("GET", url, idempotent=True, params=params,
                                  headers={"Authorization": f"Bearer {self.token(scope)}", "Accept": accept})
            if response.status_code == 401 and attempt == 0:
                self._tokens.pop(scope, None)  # expired: fetch a new token once
                continue
            if response.status_code >= 400:
                raise GraderError(f"the platform answered {response.status_code} {response.reason_phrase} for "
                                  f"{_origin(url)}{urlsplit(url).path}; check the config's addresses and the "
                                  "tool's services (scopes)")
            return response
        raise GraderError("the platform refused a fresh token (401)")

    # -- line item and members

    def find_lineitem(self, assignment, rows: list[dict], *, create: bool, say: Callable[[str], None] = print) -> str:
        """The line item for this assignment: the configured one, one tagged with the kit's
        assignment id in the lineitems container, or (unless ``create`` is false) a new one."""
        if self.config.lineitem:
            return self.config.lineitem
        maximum = float(next((r["max_score"] for r in rows if r.get("max_score") not in ("", None)), 0) or 0)
        items = _pages(lambda u, p: self._get(u, LINEITEM_SCOPE, LINEITEMS_MEDIA_TYPE, p), self.config.lineitems,
                       {"resource_id": assignment.id})
        found = [i for i in items if isinstance(i, dict) and i.get("resourceId") == assignment.id and i.get("id")]
        if found:
            self.lineitem, self.score_maximum = str(found[0]["id"]), _positive(found[0].get("scoreMaximum"))
            say(f"line item: {self.lineitem} ({found[0].get('label', '')}, max {self.score_maximum or maximum:g})")
            return self.lineitem
        item = {"label": assignment.title, "scoreMaximum": maximum, "resourceId": assignment.id, "tag": TOOL_TAG}
        if not create:
            say(f"would create line item in {self.config.lineitems}: {json.dumps(item, ensure_ascii=False)}")
            return ""
        response = self._send("POST", self.config.lineitems, idempotent=False, content=json.dumps(item).encode(),
                              headers={"Authorization": f"Bearer {self.token(LINEITEM_SCOPE)}",
                                       "Content-Type": LINEITEM_MEDIA_TYPE, "Accept": LINEITEM_MEDIA_TYPE})
        if response.status_code not in (200, 201):
            raise GraderError(f"the platform refused to create the line item ({response.status_code} "
                              f"{response.reason_phrase}); create it by hand and set lineitem in the config")
        created = response.json()
        self.lineitem, self.score_maximum = str(created["id"]), _positive(created.get("scoreMaximum"))
        say(f"created line item {self.lineitem} ({assignment.title}, max {maximum:g})")
        return self.lineitem

    def members(self) -> dict[str, str]:
        """roster email / student number (case-folded) -> LTI user id, from the NRPS membership list."""
        if self._members is None:
            if not self.config.memberships:
                raise GraderError("no memberships address: give memberships, or issuer, platform and context_id "
                                  "(or user_id_column if your scores already hold LTI user ids)")
            self._members = {}
            url, params = self.config.memberships, None
            while url:
                response = self._get(url, NRPS_SCOPE, NRPS_MEDIA_TYPE, params)
                for member in (response.json() or {}).get("members") or []:
                    if not isinstance(member, dict) or not member.get("user_id"):
                        continue
                    for key in ("email", "lis_person_sourcedid", "user_id"):
                        if member.get(key):
                            self._members.setdefault(str(member[key]).casefold(), str(member["user_id"]))
                url = response.links.get("next", {}).get("url")
        return self._members

    def _user_id(self, row: dict) -> str | None:
        if self.config.user_id_column:
            value = row.get(self.config.user_id_column)
            return str(value) if value else None
        column = {"sid": "sid", "email": "email"}.get(self.config.match_by, self.config.match_by)
        value = row.get(column)
        return self.members().get(str(value).casefold()) if value else None

    # -- scores

    def _timestamp(self) -> str:
        """ISO 8601 with microseconds and zone, strictly increasing within this run."""
        stamp = self.now()
        if self._last_stamp is not None and stamp <= self._last_stamp:
            stamp = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = stamp
        return stamp.isoformat(timespec="microseconds")

    def _payload(self, row: dict, user: str) -> dict:
        rows = scale_rows([row], self.score_maximum)
        scaled = rows[0]
        payload = {"userId": user, "scoreGiven": float(scaled["lms_score"]), "scoreMaximum": float(scaled["lms_max"]),
                   "comment": comment_for(scaled), "activityProgress": "Completed", "gradingProgress": "FullyGraded"}
        submitted = _iso_time(row.get("submitted_at"))
        if submitted:
            payload["submission"] = {"submittedAt": submitted}  # AGS v2: the real time, not the post's
        if self.config.platform == "canvas":
            # Canvas otherwise records every score post as a new submission made now: late, and
            # counted against the attempt limit (scores_controller.rb new_submission?).
            payload[CANVAS_SUBMISSION] = {"new_submission": self.config.new_submission}
            if submitted:
                payload[CANVAS_SUBMISSION]["submitted_at"] = submitted
        return payload

    def upload(self, rows: list[dict], state: PostedState, *, dry_run: bool = False,
               say: Callable[[str], None] = print) -> UploadReport:
        report = UploadReport()
        url = scores_url(self.lineitem) if self.lineitem else "(the new line item)/scores"
        pending: list[tuple[str, str, dict]] = []
        for row in rows:
            if row["status"] == "missing":
                report.set(row["student"], "skipped", "no submission")
                continue
            user = self._user_id(row)
            if not user:
                how = self.config.user_id_column or f"{self.config.match_by} in the platform's membership list"
                report.set(row["student"], "unknown", f"no LTI user id (by {how})")
                continue
            payload = self._payload(row, user)
            if not state.changed(user, payload):
                report.set(row["student"], "unchanged")
            elif dry_run:
                say(f"would POST {url} {json.dumps(payload, ensure_ascii=False)}")
                report.set(row["student"], "dry-run")
            else:
                pending.append((row["student"], user, payload))
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
            try:
                response = self._send("POST", url, idempotent=False, content=json.dumps(body).encode(), headers={
                    "Authorization": f"Bearer {self.token()}", "Content-Type": SCORE_MEDIA_TYPE})
            except httpx.TransportError as error:
                return "failed", f"not posted: {_describe(error)}; re-run to retry"
            if response.status_code == 401 and attempt == 0:
                self._tokens.pop(SCORE_SCOPE, None)  # expired: fetch a new token once
                continue
            return _score_outcome(response)
        raise GraderError("the platform refused a fresh token (401)")


def _score_outcome(response: httpx.Response) -> tuple[str, str]:
    """One student's outcome. Moodle answers with the body ``[]`` and puts the reason only in the
    status line (response.php send()), so the status code decides, never the body's words."""
    code, why = response.status_code, (response.reason_phrase or "").strip()
    text = response.text.strip()
    said = why if text in ("", "[]", "{}") else f"{why}: {text[:120]}".strip(": ")
    if code in (200, 201, 204):
        return "posted", ""
    if code == 409 or (code == 400 and "timestamp" in text.lower()):
        return "stale", f"the platform holds a newer score for this user ({code} {said})"
    if code == 404:
        raise GraderError("the line item was not found (404); check lineitem / lineitems in the LTI config")
    if code == 422:
        return "unknown", f"not a gradable user of this course ({code} {said})"
    if code == 400:
        return "invalid", f"the platform refused this score ({code} {said})"
    if code == 429 or code >= 500:
        return "failed", f"the platform answered {code} {said}; re-run to retry (a score is never re-sent blindly)"
    return "failed", f"the platform answered {code} {said}"


def _iso_time(value) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace(" +", "+").replace("Z", "+00:00"))
    except ValueError:
        return ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat(timespec="microseconds")


def _positive(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _oauth_error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", "error"))
    except ValueError:
        return "error"
