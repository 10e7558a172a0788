"""Canvas's REST grading API as Canvas answers (submissions_api_controller.rb, submission.rb,
progress_controller.rb, doc/api/pagination.md and throttling.md)."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from lms_doubles.server import Handler, Server

_GRADE_KEY = re.compile(r"^grade_data\[(\w+)\]\[(posted_grade|text_comment|excuse|group_comment)\]$")
_NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


class CanvasDouble(Server):
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


class _CanvasHandler(Handler):
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
