"""Local stand-ins for Canvas and an LTI 1.3 platform (Canvas or Moodle flavour), on 127.0.0.1.

They answer as the real servers do (status line, body and headers as quoted in
shared/research/lms-audit.md, with the platform file each comes from), including the answers
a client is tempted to assume away: Moodle's bare ``[]`` bodies with the reason only in the
status line, Canvas's late policy applied on top of an entered score, Canvas's AGS "new
submission" on every score post. They record every request for wire-format assertions.
"""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt

_GRADE_KEY = re.compile(r"^grade_data\[(\w+)\]\[(posted_grade|text_comment|excuse|group_comment)\]$")
_NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


class _Server:
    def __init__(self, handler_cls) -> None:
        handler_cls.double = self
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    double: "_Server"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, code: int, body, content_type: str = "application/json", headers: dict | None = None,
              reason: str | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class CanvasDouble(_Server):
    """Canvas's update_grades with async Progress, pagination, throttling and partial failure.

    Also what decides the grade a student finally sees: the assignment's ``points_possible``
    (a plain posted number is points on that scale, above it is extra credit), the course's
    late policy applied on top of the entered score (submission.rb apply_late_policy /
    score_late_or_none), each submission's ``seconds_late``, group assignments graded as a
    group with comments reaching every member only with ``group_comment``, and inactive
    students who are graded but listed only when ``enrollment_state[]`` asks for them.
    """

    def __init__(self, token: str, students: list[str], *, page_size: int = 10, throttle: int = 0,
                 drop_post: int | None = None, steps: int = 2, points_possible: float = 65.0,
                 late_policy: dict | None = None, seconds_late: dict[str, float] | None = None,
                 groups: list[list[str]] | None = None, inactive: list[str] | None = None,
                 progress_status: int | None = None) -> None:
        super().__init__(_CanvasHandler)
        self.token, self.students = token, students
        self.page_size, self.throttle, self.drop_post, self.steps = page_size, throttle, drop_post, steps
        self.points_possible, self.late_policy = points_possible, late_policy
        self.seconds_late, self.groups = seconds_late or {}, groups or []
        self.inactive, self.progress_status = inactive or [], progress_status
        self.grades: dict[str, dict] = {}
        self.comments: dict[str, list[str]] = {}
        self.progress: dict[int, dict] = {}
        self.posts = 0

    def group_of(self, uid: str) -> list[str]:
        return next((g for g in self.groups if uid in g), [uid])

    def stored_score(self, uid: str, posted: float) -> float:
        """What Canvas keeps: the entered points less its own late deduction, per late interval."""
        policy, late = self.late_policy, self.seconds_late.get(uid, 0)
        if not policy or not policy.get("late_submission_deduction_enabled") or late <= 0:
            return posted
        interval = 3600 if policy.get("late_submission_interval") == "hour" else 86400
        percent = float(policy["late_submission_deduction"]) * -(-late // interval)
        return round(posted - self.points_possible * min(percent, 100) / 100, 4)


class _CanvasHandler(_Handler):
    double: CanvasDouble

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.double.token}":
            self._send(401, {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]},
                       headers={"WWW-Authenticate": 'Bearer realm="canvas-lms"'})
            return False
        if self.double.throttle > 0:
            self.double.throttle -= 1
            self._send(403, b"403 Forbidden (Rate Limit Exceeded)\n", "text/plain",
                       {"X-Rate-Limit-Remaining": "0.0", "X-Request-Cost": "1.0"})
            return False
        return True

    def do_GET(self) -> None:
        self.double.requests.append({"method": "GET", "path": self.path})
        if not self._authorised():
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if re.fullmatch(r"/api/v1/courses/7/users", url.path):
            states = query.get("enrollment_state[]", ["active", "invited"])  # Canvas omits inactive by default
            listed = [s for s in self.double.students if s not in self.double.inactive or "inactive" in states]
            self._page(url.path, query, [{"id": int(s), "name": f"user {s}"} for s in listed])
            return
        if url.path == "/api/v1/courses/7/assignments/99":
            self._send(200, {"id": 99, "points_possible": self.double.points_possible, "grading_type": "points",
                             "group_category_id": 5 if self.double.groups else None})
            return
        if url.path == "/api/v1/courses/7/assignments/99/submissions":
            self._page(url.path, query, [{"user_id": int(s), "seconds_late": self.double.seconds_late.get(s, 0),
                                          "late": self.double.seconds_late.get(s, 0) > 0}
                                         for s in self.double.students])
            return
        if url.path == "/api/v1/courses/7/late_policy":
            if self.double.late_policy is None:
                self._send(404, _NOT_FOUND)
            else:
                self._send(200, {"late_policy": {"id": 1, "course_id": 7, **self.double.late_policy}})
            return
        match = re.fullmatch(r"/api/v1/progress/(\d+)", url.path)
        if match and int(match[1]) in self.double.progress:
            if self.double.progress_status:  # e.g. 403 for a token that may grade but not read progress
                self._send(self.double.progress_status, {"status": "unauthorized", "errors": [
                    {"message": "user not authorized to perform that action"}]})
                return
            self._send(200, self._advance(int(match[1])))
            return
        self._send(404, _NOT_FOUND)

    def _page(self, path: str, query: dict, items: list) -> None:
        """Canvas pagination (pagination.md): opaque absolute Link URLs, in a mixed-case header."""
        page = int(query.get("page", ["1"])[0])
        size = min(int(query.get("per_page", query.get("Per_Page", [self.double.page_size]))[0]),
                   self.double.page_size)
        links = [f'<{self.double.url}{path}?page={page}&Per_Page={size}>; rel="current"']
        if page * size < len(items):
            links.append(f'<{self.double.url}{path}?page={page + 1}&Per_Page={size}>; rel="next"')
        self._send(200, items[(page - 1) * size:page * size], headers={"link": ", ".join(links), "X-Request-Cost": "0.5"})

    def _advance(self, ident: int) -> dict:
        progress = self.double.progress[ident]
        progress["_polls"] += 1
        if progress["workflow_state"] in ("completed", "failed"):
            return _public(progress)
        if progress["_polls"] < self.double.steps:
            progress["workflow_state"] = "running"
            return _public(progress)
        missing = []
        for uid, fields in progress["_grade_data"].items():
            if uid not in self.double.students:
                missing.append(uid)
                continue
            group = self.double.group_of(uid)
            if "posted_grade" in fields:  # a group assignment graded as a group: every member
                for member in group:
                    self.double.grades[member] = {"posted_grade": fields["posted_grade"], "score": self.double.stored_score(
                        member, float(fields["posted_grade"]))}
            if "text_comment" in fields:  # reaches the others only with group_comment (update_submission_runner)
                for member in group if fields.get("group_comment") == "true" else [uid]:
                    self.double.comments.setdefault(member, []).append(fields["text_comment"])
        if missing:
            progress.update(workflow_state="failed",
                            message="Couldn't find User(s) with API ids " + ", ".join(f"'{m}'" for m in missing))
        else:
            progress.update(workflow_state="completed", completion=100)
        return _public(progress)

    def do_POST(self) -> None:
        body = self._body()
        self.double.requests.append({"method": "POST", "path": self.path, "body": body,
                                     "content_type": self.headers.get("Content-Type")})
        if not self._authorised():
            return
        if self.path != "/api/v1/courses/7/assignments/99/submissions/update_grades":
            self._send(404, {"errors": [{"message": "The specified resource does not exist."}]})
            return
        self.double.posts += 1
        if self.double.drop_post is not None and self.double.posts == self.double.drop_post:
            self.connection.close()  # the network fails midway: no answer at all
            return
        if "application/x-www-form-urlencoded" not in (self.headers.get("Content-Type") or ""):
            self._send(400, {"error": "expected form data"})
            return
        grade_data: dict[str, dict] = {}
        for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
            match = _GRADE_KEY.match(key)
            if not match:
                self._send(400, {"error": f"unexpected parameter {key}"})
                return
            grade_data.setdefault(match[1], {})[match[2]] = values[0]
        if not grade_data:
            self._send(400, {"error": "'grade_data' parameter required"})
            return
        ident = len(self.double.progress) + 1
        self.double.progress[ident] = {"id": ident, "context_id": 7, "context_type": "Course", "user_id": 1,
                                       "tag": "submissions_update", "completion": 0, "workflow_state": "queued",
                                       "message": None, "url": f"{self.double.url}/api/v1/progress/{ident}",
                                       "_polls": 0, "_grade_data": grade_data}
        self._send(200, _public(self.double.progress[ident]))


def _public(progress: dict) -> dict:
    return {k: v for k, v in progress.items() if not k.startswith("_")}


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


class LtiDouble(_Server):
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
        super().__init__(_LtiHandler)
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


class _LtiHandler(_Handler):
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
            claims = jwt.decode(one.get("client_assertion", ""), self.double.public_key, algorithms=["RS256"],
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
