"""Local stand-ins for Canvas and an LTI 1.3 platform, on 127.0.0.1 only, started by the tests.

They check what the real services check (research notes: shared/research/lms.md §6) and record
every request, so tests can assert the exact wire format and what ended up stored.
"""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt

_GRADE_KEY = re.compile(r"^grade_data\[(\w+)\]\[(posted_grade|text_comment|excuse)\]$")


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

    def _send(self, code: int, body, content_type: str = "application/json", headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class CanvasDouble(_Server):
    """Canvas's update_grades with async Progress, pagination, throttling and partial failure."""

    def __init__(self, token: str, students: list[str], *, page_size: int = 10, throttle: int = 0,
                 drop_post: int | None = None, steps: int = 2) -> None:
        super().__init__(_CanvasHandler)
        self.token, self.students = token, students
        self.page_size, self.throttle, self.drop_post, self.steps = page_size, throttle, drop_post, steps
        self.grades: dict[str, dict] = {}
        self.comments: dict[str, list[str]] = {}
        self.progress: dict[int, dict] = {}
        self.posts = 0


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
            page = int(query.get("page", ["1"])[0])
            size = self.double.page_size
            users = [{"id": int(s), "name": f"user {s}"} for s in self.double.students[(page - 1) * size:page * size]]
            links = [f'<{self.double.url}/api/v1/courses/7/users?page={page}&Per_Page={size}>; rel="current"']
            if page * size < len(self.double.students):
                links.append(f'<{self.double.url}/api/v1/courses/7/users?page={page + 1}&Per_Page={size}>; rel="next"')
            self._send(200, users, headers={"link": ", ".join(links), "X-Request-Cost": "0.5"})
            return
        match = re.fullmatch(r"/api/v1/progress/(\d+)", url.path)
        if match and int(match[1]) in self.double.progress:
            self._send(200, self._advance(int(match[1])))
            return
        self._send(404, {"errors": [{"message": "The specified resource does not exist."}]})

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
            if "posted_grade" in fields:
                self.double.grades[uid] = {"posted_grade": fields["posted_grade"]}
            if "text_comment" in fields:
                self.double.comments.setdefault(uid, []).append(fields["text_comment"])
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


class LtiDouble(_Server):
    """A platform's token endpoint and ``{lineitem}/scores`` with the checks AGS requires."""

    def __init__(self, client_id: str, public_key: bytes, users: list[str], *, stale_status: int = 400,
                 token_lifetime: int = 3600, expire_tokens_after: int | None = None) -> None:
        super().__init__(_LtiHandler)
        self.client_id, self.public_key, self.users = client_id, public_key, users
        self.stale_status, self.token_lifetime = stale_status, token_lifetime
        self.expire_tokens_after, self.accepted = expire_tokens_after, 0
        self.tokens: set[str] = set()
        self.used_jti: set[str] = set()
        self.scores: dict[str, dict] = {}

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def lineitem(self) -> str:
        return f"{self.url}/mod/lti/services.php/2/lineitems/5/lineitem?type_id=3"


class _LtiHandler(_Handler):
    double: LtiDouble

    def do_POST(self) -> None:
        body = self._body()
        self.double.requests.append({"method": "POST", "path": self.path, "body": body,
                                     "headers": dict(self.headers)})
        url = urlsplit(self.path)
        if url.path == "/token":
            self._token(parse_qs(body.decode()))
        elif url.path == "/mod/lti/services.php/2/lineitems/5/lineitem/scores" and url.query == "type_id=3":
            self._score(body)
        else:
            self._send(404, {"error": "not found"})

    def _token(self, form: dict) -> None:
        one = {k: v[0] for k, v in form.items()}
        if one.get("grant_type") != "client_credentials" or one.get("client_assertion_type") != \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            self._send(400, {"error": "unsupported_grant_type"})
            return
        try:
            claims = jwt.decode(one.get("client_assertion", ""), self.double.public_key, algorithms=["RS256"],
                                audience=self.double.token_url, options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]})
        except jwt.PyJWTError:
            self._send(401, {"error": "invalid_client"})
            return
        if claims["iss"] != self.double.client_id or claims["sub"] != self.double.client_id \
                or claims["jti"] in self.double.used_jti:
            self._send(401, {"error": "invalid_client"})
            return
        self.double.used_jti.add(claims["jti"])
        if "https://purl.imsglobal.org/spec/lti-ags/scope/score" not in one.get("scope", "").split():
            self._send(400, {"error": "invalid_scope"})
            return
        token = f"tok-{len(self.double.tokens) + 1}"
        self.double.tokens.add(token)
        self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.double.token_lifetime,
                         "scope": "https://purl.imsglobal.org/spec/lti-ags/scope/score"})

    def _score(self, body: bytes) -> None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.double.tokens:
            self._send(401, {"error": "invalid_token"})
            return
        if self.headers.get("Content-Type") != "application/vnd.ims.lis.v1.score+json":
            self._send(415, {"error": "unsupported media type"})
            return
        try:
            score = json.loads(body)
        except ValueError:
            self._send(400, {"error": "invalid JSON"})
            return
        required = ("userId", "timestamp", "activityProgress", "gradingProgress")
        if any(key not in score for key in required) or score.get("gradingProgress") != "FullyGraded" \
                or ("scoreGiven" in score and "scoreMaximum" not in score):
            self._send(400, {"error": "missing or invalid fields"})
            return
        stamp = score["timestamp"]
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+([+-]\d\d:\d\d|Z)", stamp):
            self._send(400, {"error": "timestamp needs sub-second precision and a zone"})
            return
        if score["userId"] not in self.double.users:
            self._send(422, {"error": "user not found in course"})
            return
        previous = self.double.scores.get(score["userId"])
        if previous and datetime.fromisoformat(previous["timestamp"]) >= datetime.fromisoformat(stamp):
            self._send(self.double.stale_status, {"error": "timestamp is not later than the stored score"})
            return
        self.double.scores[score["userId"]] = score
        self.double.accepted += 1
        if self.double.accepted == self.double.expire_tokens_after:
            self.double.tokens.clear()  # every token issued so far expires now
        self._send(200, {"resultUrl": f"{self.double.url}/results/{score['userId']}"},
                   "application/vnd.ims.lis.v1.score+json")
