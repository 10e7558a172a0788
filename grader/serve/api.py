"""The script API, a contract tests and instructors' scripts rely on (docs/serve.md):

    POST /api/v1/submissions       multipart ``file``, ``assignment``; ``Authorization: Bearer T``
                                   → 202 {"id": ..., "status": "queued"}
    GET  /api/v1/submissions/{id}  → {"id", "status": "queued"|"running"|"done"|"error", "result": ...}

``result`` is the results.json of the latest finished grading: whole for the course's instructors, as the
feedback policy lets the student see it for the student (``feedback.student_view``). A token is a person's:
it sees what that person sees in the pages, and another student's submission answers 404. The cookie is
never accepted here (so no CSRF), and every refusal is JSON with one line in ``error``.
"""
from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from grader.serve.feedback import student_view
from grader.serve.service import service
from grader.serve.storage import RateLimited
from grader.serve.texts import text
from grader.serve.uploads import UploadRefused, check_upload
from grader.serve.web import NotYours, bearer_user, submission_access
from grader.serve.worker import due_date


def refusal(status: int, message: str, **headers) -> JSONResponse:
    extra = {"WWW-Authenticate": 'Bearer realm="grader"'} if status == 401 else {}
    return JSONResponse({"error": message}, status_code=status, headers={**extra, **headers})


async def submit(request: Request):
    # Who is asking is known from the headers: a stranger's body (up to 50 MiB) is never read.
    user = await run_in_threadpool(bearer_user, request, service(request).store)
    if user is None:
        return refusal(401, "give a valid token: Authorization: Bearer T")
    form = await request.form(max_files=1, max_fields=4, max_part_size=8 << 10)
    file = form.get("file")
    name = getattr(file, "filename", None)
    data = await file.read() if name else b""
    return await run_in_threadpool(_submit, request, user, name, data, str(form.get("assignment", "")))


def _submit(request: Request, user: dict, name: str | None, data: bytes, assignment: str):
    svc = service(request)
    if not name:
        return refusal(400, "no file: send the submission as the multipart field 'file'")
    candidates = [link for link in svc.store.links_of(user["id"])
                  if assignment and assignment in (link["assignment_id"], str(link["id"]))]
    if not candidates:
        return refusal(404, f"no assignment {assignment!r} in your courses (send its id as the field 'assignment')")
    if len(candidates) > 1:
        ids = ", ".join(str(link["id"]) for link in candidates)
        return refusal(409, f"{assignment!r} is in several of your courses; send the link id instead ({ids})")
    link = svc.store.link(candidates[0]["id"])
    try:
        ident = svc.accept(link, user, check_upload(name, data), data)
    except UploadRefused as refused:
        return refusal(400, text("en", refused.key, **refused.params))
    except RateLimited as limited:
        return refusal(429, text("en", "upload.rate_limited", count=limited.count,
                                 minutes=round(limited.seconds / 60), wait=round(limited.wait)),
                       **{"Retry-After": str(round(limited.wait))})
    return JSONResponse({"id": ident, "status": "queued"}, status_code=202)


def status(request: Request):
    svc = service(request)
    user = bearer_user(request, svc.store)
    if user is None:
        return refusal(401, "give a valid token: Authorization: Bearer T")
    try:
        submission, access = submission_access(user, svc.store, request.path_params["sid"])
    except NotYours:
        return refusal(404, "no such submission")
    latest = svc.store.gradings_of(submission["id"])[0]
    done = svc.store.latest_done(submission["id"])
    answer = {"id": submission["id"], "status": latest["status"], "submitted_at": submission["submitted_at"],
              "result": None}
    if latest["status"] == "error":
        answer["error"] = latest["error"]
    if done is not None:
        result = json.loads(done["result"])
        if not access.staff:
            assignment = svc.assignments.get(access.link["assignment_id"] or "")
            result = student_view(result, due=due_date(access.link, assignment) if assignment else None,
                                  released=access.link["released"])
        answer["result"] = result
    return JSONResponse(answer)
