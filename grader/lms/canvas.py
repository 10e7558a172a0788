"""Canvas: its gradebook import CSV and its REST grade upload (its "Download Submissions" zip is read by
``grader.lms.canvas_download``, which a batch imports without the HTTP client this module needs).

Sources for each rule are the Canvas files named beside it (content_zipper.rb,
gradebook_importer.rb, submissions_api_controller.rb, submission.rb, doc/api/*.md); the table in
docs/lms.md lists them.
"""
from __future__ import annotations

import csv
import io
import re
import time
from typing import Callable

import httpx

from grader.assignment import Assignment
from grader.errors import GraderError
from grader.lms.posting import (BATCH_SIZE, TIMEOUT, PostedState, UploadReport, check_base_url, describe,
                                header_float, pages, send)
from grader.lms.scores import apply_late_policy, comment_for, late_mode, lms_max, lms_score, number, scale_rows
from grader.report import csv_text


# ---- gradebook import CSV ----------------------------------------------------------------

# Canvas's importer drops any column whose title matches these (an unanchored regex).
_CANVAS_IGNORED_TITLES = re.compile(r"(Current|Final|Override|Unposted).*(Score|Points|Grade|Status)", re.I)


def canvas_csv(rows: list[dict], assignment: Assignment, canvas_assignment_id: str) -> tuple[str, list[str]]:
    """Gradebook import CSV; returns the text and the students left out (no Canvas user id)."""
    title = f"{assignment.title} ({canvas_assignment_id})"
    if _CANVAS_IGNORED_TITLES.search(assignment.title):
        raise GraderError(f"assignment title '{assignment.title}' would be dropped by Canvas's importer "
                          "(it looks like a total column); change 'title' in assignment.toml")
    if not re.fullmatch(r"\d+", canvas_assignment_id or ""):
        raise GraderError("--canvas-assignment-id must be the number in the assignment's Canvas URL")
    buffer, skipped = io.StringIO(), []
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title])
    max_score = next((lms_max(r) for r in rows if r.get("max_score") not in ("", None)), "")
    writer.writerow(["    Points Possible", "", "", "", "", number(float(max_score)) if max_score != "" else ""])
    for row in rows:
        if not row.get("canvas_user_id"):
            skipped.append(row["student"])
            continue
        grade = "" if row["status"] == "missing" else number(lms_score(row))
        writer.writerow([csv_text(row.get("name", "")), csv_text(row["canvas_user_id"]), csv_text(row.get("sid", "")),
                         csv_text(row.get("email", "")), "", grade])
    return buffer.getvalue(), skipped


# ---- REST upload -------------------------------------------------------------------------

class CanvasUploader:
    """``POST .../assignments/:id/submissions/update_grades`` and its Progress, politely."""

    def __init__(self, base_url: str, course: str, assignment: str, token: str, *, dry_run: bool = False,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        if not token and not dry_run:
            raise GraderError("CANVAS_TOKEN is not set: create a token in Canvas (Account > Settings > "
                              "New Access Token) and export CANVAS_TOKEN=...")
        self.api = check_base_url(base_url, "--url") + "/api/v1"
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
                    report.set(by_uid[uid], "failed", f"not posted: {describe(error)}")
                say(f"stopped: {describe(error)}; {len(uids) - start} students were not posted, re-run to retry")
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
        return pages(lambda u, p: self._get(u, p, "the assignment's submissions"), url, {"per_page": 100})

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
        if remaining is not None and header_float(remaining) < 100:
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
        users = pages(lambda u, p: self._get(u, p, f"course {self.course}"), url, params)
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
