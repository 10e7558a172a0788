"""LTI 1.3 Assignment and Grade Services (and Names and Role Provisioning) from outside a launch:
the token, the line item, who is who, and the scores.

What each platform really does is in Canvas's lti/ims/scores_controller.rb and Moodle's
mod/lti/service/gradebookservices (scores.php) and ltiservice/response.php; docs/lms.md lists them.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from grader.errors import GraderError
from grader.lms.posting import TIMEOUT, PostedState, UploadReport, describe, origin, pages, send
from grader.lms.scores import comment_for, scale_rows

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
LINEITEM_READ_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
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
    token_url: str = ""              # derived from issuer + platform when not given
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
        self._member_list: list[dict] | None = None

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
                                  f"{origin(url)}{urlsplit(url).path}; check the config's addresses and the "
                                  "tool's services (scopes)")
            return response
        raise GraderError("the platform refused a fresh token (401)")

    # -- line item and members

    def find_lineitem(self, assignment, rows: list[dict], *, create: bool, say: Callable[[str], None] = print) -> str:
        """The line item for this assignment: the configured one, one tagged with the kit's
        assignment id in the lineitems container, or (unless ``create`` is false) a new one."""
        if self.config.lineitem:
            try:  # its scoreMaximum, to scale to; a tool without the read scope posts on the kit's scale
                item = self._get(self.config.lineitem, LINEITEM_READ_SCOPE, LINEITEM_MEDIA_TYPE).json()
                self.score_maximum = _positive(item.get("scoreMaximum")) if isinstance(item, dict) else None
            except (GraderError, ValueError):
                say("note: could not read the line item's maximum; scores are sent out of the kit's maximum")
            return self.config.lineitem
        maximum = float(next((r["max_score"] for r in rows if r.get("max_score") not in ("", None)), 0) or 0)
        items = pages(lambda u, p: self._get(u, LINEITEM_SCOPE, LINEITEMS_MEDIA_TYPE, p), self.config.lineitems,
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

    def member_list(self) -> list[dict]:
        """Every member of the course as NRPS lists them (``user_id``, ``name``, ``email``, ``roles``,
        ``status``...), following the membership container's next links as given."""
        if self._member_list is None:
            if not self.config.memberships:
                raise GraderError("no memberships address: give memberships, or issuer, platform and context_id "
                                  "(or user_id_column if your scores already hold LTI user ids)")
            found: list[dict] = []
            url, params = self.config.memberships, None
            while url:
                response = self._get(url, NRPS_SCOPE, NRPS_MEDIA_TYPE, params)
                found += [m for m in (response.json() or {}).get("members") or []
                          if isinstance(m, dict) and m.get("user_id")]
                url, params = response.links.get("next", {}).get("url"), None
            self._member_list = found
        return self._member_list

    def members(self) -> dict[str, str]:
        """roster email / student number (case-folded) -> LTI user id, from the NRPS membership list."""
        if self._members is None:
            self._members = {}
            for member in self.member_list():
                for key in ("email", "lis_person_sourcedid", "user_id"):
                    if member.get(key):
                        self._members.setdefault(str(member[key]).casefold(), str(member["user_id"]))
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
                say(f"stopped: {describe(error)}; re-run to post the rest")
                for later, _, _ in pending[index:]:
                    report.set(later, "failed", f"not posted: {describe(error)}")
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
                return "failed", f"not posted: {describe(error)}; re-run to retry"
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
