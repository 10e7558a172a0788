"""An LTI 1.3 platform's token, line items, NRPS and scores, in Canvas's or Moodle's flavour
(lti/ims/scores_controller.rb; mod/lti/service/gradebookservices scores.php, ltiservice/response.php)."""
from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import jwt

from lms_doubles.server import Handler, Server


AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
AGS_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
AGS_LINEITEM_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

# Where each flavour keeps its services (Canvas routes; Moodle mod/lti/services.php templates).
_PATHS = {
    "moodle": {"token": "/mod/lti/token.php", "lineitems": "/mod/lti/services.php/2/lineitems",
               "lineitem": "/mod/lti/services.php/2/lineitems/{n}/lineitem", "query": "type_id=3",
               "memberships": "/mod/lti/services.php/CourseSection/2/bindings/3/memberships"},
    "canvas": {"token": "/login/oauth2/token", "lineitems": "/api/lti/courses/7/line_items",
               "lineitem": "/api/lti/courses/7/line_items/{n}", "query": "",
               "memberships": "/api/lti/courses/7/names_and_roles"},
}


class LtiDouble(Server):
    """A platform's token endpoint, line items, NRPS membership list and ``{lineitem}/scores``.

    ``flavour="moodle"`` answers as mod/lti does: a stale score is ``409`` with the reason only
    in the status line and the body ``[]``; any bad score or a user who is not gradable is
    ``400 Incorrect score received`` with the body ``[]`` (scores.php, response.php send()).
    ``flavour="canvas"`` answers as scores_controller.rb does: 422 for an unknown user, 400 with
    a JSON error for an earlier timestamp, and every score post without the
    ``https://canvas.instructure.com/lti/submission`` ``new_submission: false`` extension
    becomes a new submission made now, which is late after ``due``.
    """

    def __init__(self, client_id: str, public_key: bytes, users: list[str], *, flavour: str = "moodle",
                 token_lifetime: int = 3600, expire_tokens_after: int | None = None, audience: str | None = None,
                 members: list[dict] | None = None, due: datetime | None = None, allowed_scopes: tuple = (
                     AGS_SCORE, AGS_LINEITEM, AGS_LINEITEM_READ, NRPS), fail_gets: int = 0,
                 page_size: int = 2) -> None:
        super().__init__(getattr(self, "handler_class", None) or _LtiHandler)
        self.client_id, self.public_key, self.users, self.flavour = client_id, public_key, users, flavour
        self.token_lifetime, self.expire_tokens_after, self.accepted = token_lifetime, expire_tokens_after, 0
        self._audience, self.due, self.allowed_scopes = audience, due, allowed_scopes
        self.members = members if members is not None else [{"user_id": u, "status": "Active",
                                                             "roles": ["Learner"]} for u in users]
        self.fail_gets, self.page_size = fail_gets, page_size
        self.paths = _PATHS[flavour]
        self.tokens: dict[str, set[str]] = {}
        self.used_jti: set[str] = set()
        self.scores: dict[str, dict] = {}
        self.submissions: dict[str, dict] = {}  # Canvas: the submission each score post made
        self.lineitems: dict[int, dict] = {5: {"label": "Homework", "scoreMaximum": 65.0, "resourceId": "other"}}

    def tool_public_key(self, assertion: str):
        """The key the tool signs its token requests with, as registered on the platform."""
        return self.public_key

    @property
    def token_url(self) -> str:
        return self.url + self.paths["token"]

    @property
    def audience(self) -> str:
        return self._audience or self.token_url

    def lineitem_url(self, n: int) -> str:
        query = self.paths["query"]
        return self.url + self.paths["lineitem"].format(n=n) + (f"?{query}" if query else "")

    @property
    def lineitem(self) -> str:
        return self.lineitem_url(5)

    @property
    def lineitems_url(self) -> str:
        query = self.paths["query"]
        return self.url + self.paths["lineitems"] + (f"?{query}" if query else "")


class _LtiHandler(Handler):
    double: LtiDouble

    def _scoped(self, *scopes: str) -> bool:
        auth = self.headers.get("Authorization", "")
        granted = self.double.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if granted is None:
            self._send(401, {"error": "invalid_token"})
            return False
        if not granted & set(scopes):
            self._send(403, {"error": "insufficient_scope"})
            return False
        return True

    def _moodle_no(self, code: int, reason: str) -> None:
        # mod/lti/classes/local/ltiservice/response.php send(): reason in the status line, body "[]".
        self._send(code, b"[]", "application/json; charset=utf-8", reason=reason)

    def do_GET(self) -> None:
        self.double.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
        if self.double.fail_gets > 0:
            self.double.fail_gets -= 1
            self._send(503, b"Service Unavailable", "text/plain")
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == self.double.paths["lineitems"]:
            if self._scoped(AGS_LINEITEM, AGS_LINEITEM_READ):
                items = [dict(item, id=self.double.lineitem_url(n)) for n, item in self.double.lineitems.items()
                         if "resource_id" not in query or item.get("resourceId") == query["resource_id"][0]]
                self._send(200, items, "application/vnd.ims.lis.v2.lineitemcontainer+json")
            return
        for n, item in self.double.lineitems.items():
            if self.double.lineitem_url(n) == self.double.url + self.path:
                if self._scoped(AGS_LINEITEM, AGS_LINEITEM_READ):
                    self._send(200, dict(item, id=self.double.lineitem_url(n)), "application/vnd.ims.lis.v2.lineitem+json")
                return
        if url.path == self.double.paths["memberships"]:
            if self._scoped(NRPS):
                page, size = int(query.get("PaGe", ["1"])[0]), self.double.page_size
                members = self.double.members[(page - 1) * size:page * size]
                headers = {}
                if page * size < len(self.double.members):  # an opaque, mixed-case next URL (lowercasing breaks it)
                    headers["Link"] = f'<{self.double.url}{url.path}?PaGe={page + 1}>; rel="next"'
                self._send(200, {"id": self.double.url + url.path, "context": {"id": "ctx"}, "members": members},
                           "application/vnd.ims.lti-nrps.v2.membershipcontainer+json", headers)
            return
        self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        self.double.requests.append({"method": "POST", "path": self.path, "body": body,
                                     "headers": dict(self.headers)})
        url = urlsplit(self.path)
        if url.path == self.double.paths["token"]:
            self._token(parse_qs(body.decode()))
            return
        if url.path == self.double.paths["lineitems"]:
            self._create_lineitem(body)
            return
        for n in self.double.lineitems:
            item = urlsplit(self.double.lineitem_url(n))
            if url.path == item.path.rstrip("/") + "/scores" and url.query == item.query:
                self._score(body, n)
                return
        self._send(404, {"error": "not found"})

    def _token(self, form: dict) -> None:
        one = {k: v[0] for k, v in form.items()}
        if one.get("grant_type") != "client_credentials" or one.get("client_assertion_type") != \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            self._send(400, {"error": "unsupported_grant_type"})
            return
        try:
            assertion = one.get("client_assertion", "")
            claims = jwt.decode(assertion, self.double.tool_public_key(assertion), algorithms=["RS256"],
                                audience=self.double.audience,
                                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]})
        except jwt.PyJWTError:
            self._send(401, {"error": "invalid_client"})
            return
        if claims["iss"] != self.double.client_id or claims["sub"] != self.double.client_id \
                or claims["jti"] in self.double.used_jti:
            self._send(401, {"error": "invalid_client"})
            return
        self.double.used_jti.add(claims["jti"])
        granted = set(one.get("scope", "").split()) & set(self.double.allowed_scopes)
        if not granted:
            self._send(400, {"error": "invalid_scope"})
            return
        token = f"tok-{len(self.double.tokens) + 1}"
        self.double.tokens[token] = granted
        self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.double.token_lifetime,
                         "scope": " ".join(sorted(granted))})

    def _create_lineitem(self, body: bytes) -> None:
        if not self._scoped(AGS_LINEITEM):
            return
        item = json.loads(body)
        if not str(item.get("label", "")).strip() or not float(item.get("scoreMaximum") or 0) > 0:
            self._send(400, {"error": "label and a positive scoreMaximum are required"})
            return
        n = max(self.double.lineitems) + 1
        self.double.lineitems[n] = item
        self._send(201, dict(item, id=self.double.lineitem_url(n)), "application/vnd.ims.lis.v2.lineitem+json")

    def _score(self, body: bytes, item: int) -> None:
        moodle = self.double.flavour == "moodle"
        if not self._scoped(AGS_SCORE):
            return
        if self.headers.get("Content-Type") != "application/vnd.ims.lis.v1.score+json":
            self._send(415, {"error": "unsupported media type"})
            return
        try:
            score = json.loads(body)
        except ValueError:
            self._moodle_no(400, "Incorrect score received") if moodle else self._send(400, {"error": "invalid JSON"})
            return
        required = ("userId", "timestamp", "activityProgress", "gradingProgress")
        stamp = str(score.get("timestamp", ""))
        if any(key not in score for key in required) or score.get("gradingProgress") != "FullyGraded" \
                or ("scoreGiven" in score and "scoreMaximum" not in score) \
                or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+([+-]\d\d:\d\d|Z)", stamp):
            self._moodle_no(400, "Incorrect score received") if moodle else \
                self._send(400, {"errors": {"type": "bad_request", "message": "missing or invalid fields"}})
            return
        user = score["userId"]
        if user not in self.double.users:
            if moodle:  # scores.php: a user who is not gradable here is just another incorrect score
                self._moodle_no(400, "Incorrect score received")
            else:
                self._send(422, {"errors": {"type": "unprocessable_entity",
                                            "message": "User not found in course or is not a student"}})
            return
        key = f"{item}:{user}"
        previous = self.double.scores.get(key) or self.double.scores.get(user)
        def when(text: str) -> float:  # Moodle keeps whole seconds (grade.timemodified vs strtotime)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            return float(int(moment)) if moodle else moment

        if previous and when(previous["timestamp"]) >= when(stamp):
            if moodle:
                self._moodle_no(409, f"Refusing score with an earlier timestamp for item {item} and user {user}")
            else:
                self._send(400, {"errors": {"type": "bad_request", "message":
                                            f"Provided timestamp of {stamp} before last updated timestamp"}})
            return
        self.double.scores[key] = self.double.scores[user] = score
        if not moodle:
            self._canvas_submission(user, score)
        self.double.accepted += 1
        if self.double.accepted == self.double.expire_tokens_after:
            self.double.tokens.clear()  # every token issued so far expires now
        self._send(200, {"resultUrl": f"{self.double.url}/results/{user}"}, "application/vnd.ims.lis.v1.score+json")

    def _canvas_submission(self, user: str, score: dict) -> None:
        # scores_controller.rb new_submission?: true unless the extension says false; then
        # submit_homework(submitted_at: submission.submittedAt || now).
        extension = score.get("https://canvas.instructure.com/lti/submission") or {}
        if extension.get("new_submission") is False:
            return
        submitted = (score.get("submission") or {}).get("submittedAt") or datetime.now().astimezone().isoformat()
        moment = datetime.fromisoformat(submitted.replace("Z", "+00:00"))
        self.double.submissions[user] = {"submitted_at": submitted,
                                         "late": bool(self.double.due and moment > self.double.due)}
