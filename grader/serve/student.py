"""The students' pages: their assignments, the upload page, a submission's result (instructors see the same
page with everything in it), and the file they submitted."""
from __future__ import annotations

import json
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from grader.serve.feedback import student_view
from grader.serve.service import render, service
from grader.serve.storage import DONE, QUEUED, RUNNING, RateLimited
from grader.serve.texts import language, text
from grader.serve.uploads import UploadRefused, check_upload
from grader.serve.web import Access, check_csrf, link_access, session_user, submission_access
from grader.serve.worker import due_date
from grader.submission import MAX_FILE_BYTES, MAX_ZIP_BYTES


def home(request: Request):
    svc = service(request)
    user = session_user(request, svc.store)
    links = svc.store.links_of(user["id"]) if user else []
    return render(request, "home.html", {"links": links, "user": user})


def assignment_page(request: Request, access: Access, error: str = "", status: int = 200):
    svc = service(request)
    link = access.link
    assignment = svc.assignments.get(link["assignment_id"] or "")
    submissions = svc.store.submissions_of(link["id"], access.user["id"]) if assignment else []
    return render(request, "assignment.html", {
        "link": link, "assignment": assignment, "submissions": submissions, "error": error,
        "file_mib": MAX_FILE_BYTES >> 20, "zip_mib": MAX_ZIP_BYTES >> 20,
        "limit": svc.config.uploads_per_window, "minutes": round(svc.config.window_seconds / 60)}, status)


async def upload(request: Request):
    """The upload form: kept, queued, and on to its result page (which updates itself until graded)."""
    # Who is asking is known from the session cookie: a stranger's body (up to 50 MiB) is never read.
    access = await run_in_threadpool(_access, request)
    form = await request.form(max_files=1, max_fields=4, max_part_size=8 << 10)
    check_csrf(request, form)
    file = form.get("file")
    name = getattr(file, "filename", None)
    data = await file.read() if name else b""
    return await run_in_threadpool(_accept, request, access, name, data)


def _access(request: Request) -> Access:
    svc = service(request)
    return link_access(session_user(request, svc.store), svc.store, int(request.path_params["link_id"]))


def _accept(request: Request, access: Access, name: str | None, data: bytes):
    svc = service(request)
    lang = language(access.user["locale"])
    if not access.link["assignment_id"] or access.link["assignment_id"] not in svc.assignments:
        return assignment_page(request, access, text(lang, "page.not_set_up"), 409)
    if not name:
        return assignment_page(request, access, text(lang, "upload.no_file"), 400)
    try:
        ident = svc.accept(access.link, access.user, check_upload(name, data), data)
    except UploadRefused as refused:
        return assignment_page(request, access, text(lang, refused.key, **refused.params), 400)
    except RateLimited as limited:
        page = assignment_page(request, access, text(lang, "upload.rate_limited", count=limited.count,
                                                     minutes=round(limited.seconds / 60), wait=round(limited.wait)), 429)
        page.headers["Retry-After"] = str(round(limited.wait))
        return page
    return RedirectResponse(f"/submissions/{ident}", status_code=303)


def submission_page(request: Request):
    svc = service(request)
    submission, access = submission_access(session_user(request, svc.store), svc.store, request.path_params["sid"])
    link = access.link
    assignment = svc.assignments.get(link["assignment_id"] or "")
    latest = svc.store.gradings_of(submission["id"])[0]
    done = svc.store.latest_done(submission["id"])
    result = json.loads(done["result"]) if done else None
    if result is not None and not access.staff:
        result = student_view(result, due=due_date(link, assignment) if assignment else None, released=link["released"])
    owner = svc.store.user(submission["user_id"])
    post = svc.store.posts_of(link["id"]).get(submission["user_id"]) if (link["lineitem"] or link["lineitems"]) else None
    return render(request, "submission.html", {
        "submission": submission, "link": link, "assignment": assignment, "latest": latest, "result": result,
        "staff": access.staff, "owner": owner, "post": post, "pending": latest["status"] in (QUEUED, RUNNING),
        "ahead": svc.store.queue_position(latest["id"]) if latest["status"] == QUEUED else 0,
        "events": svc.store.events_of(submission["id"]) if access.staff else [],
        "review": (result or {}).get("extra_data", {}).get("review", []) if access.staff else [],
        "graded": latest["status"] == DONE or done is not None})


def submission_file(request: Request):
    """The bytes the student sent, as a download (never rendered: it is the student's text)."""
    svc = service(request)
    submission, _ = submission_access(session_user(request, svc.store), svc.store, request.path_params["sid"])
    data = svc.store.submission_bytes(submission["id"])
    disposition = f"attachment; filename=\"submission\"; filename*=UTF-8''{quote(submission['filename'])}"
    return Response(data, media_type="application/octet-stream", headers={"Content-Disposition": disposition})
