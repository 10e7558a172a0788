"""The instructor's pages (the launch's Instructor role; students get 403): a link's dashboard, the live
report (report.html's sections and matrix), results by test and by student, regrading, releasing the
hidden tests, API tokens, scores.csv and the LMS exports built by ``grader.lms`` from the same score rows."""
from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from grader.errors import GraderError
from grader.lms.canvas import canvas_csv
from grader.lms.moodle import moodle_csv
from grader.lms.scores import plain_csv
from grader.report import report_sections, test_columns, write_scores_csv
from grader.serve.service import render, service
from grader.serve.storage import ERROR, QUEUED, RUNNING
from grader.serve.views import link_rows
from grader.serve.web import Access, check_csrf, link_access, session_user, submission_access
from grader.serve.worker import due_date, student_key

EXPORTS = ("csv", "canvas", "moodle")


def _staff(request: Request) -> Access:
    svc = service(request)
    return link_access(session_user(request, svc.store), svc.store, int(request.path_params["link_id"]), staff=True)


def dashboard(request: Request, access: Access, notice: str = ""):
    svc = service(request)
    link = access.link
    assignment = svc.assignments.get(link["assignment_id"] or "")
    if assignment is None:
        return render(request, "choose.html", {"link": link, "assignments": svc.assignments, "notice": notice})
    submissions = svc.store.submissions_of(link["id"])
    _, rows = link_rows(svc.store, link, assignment, svc.passback.roster(link))
    people = {student_key(m): m for m in svc.store.course_members(link["course_id"])}
    posts = svc.store.posts_of(link["id"])
    counts = {status: sum(s["status"] == status for s in submissions) for status in (QUEUED, RUNNING, ERROR)}
    return render(request, "dashboard.html", {
        "link": link, "assignment": assignment, "rows": rows, "people": people, "posts": posts,
        "submissions": submissions, "counts": counts, "due": due_date(link, assignment), "notice": notice,
        "assignments": svc.assignments, "exports": EXPORTS,
        "counted": {u: sum(s["user_id"] == u for s in submissions) for u in {s["user_id"] for s in submissions}}})


def report(request: Request):
    access = _staff(request)
    svc = service(request)
    assignment = _assignment_of(svc, access)
    results, rows = link_rows(svc.store, access.link, assignment, svc.passback.roster(access.link))
    people = {student_key(m): m["id"] for m in svc.store.course_members(access.link["course_id"])}

    def student_link(row: dict) -> str | None:
        user = people.get(row["student"])
        return f"/links/{access.link['id']}/students/{user}" if user is not None else None

    sections = report_sections(results, rows, student_link)
    return render(request, "report.html", {"link": access.link, "assignment": assignment, "sections": sections,
                                           "live": request.query_params.get("live", "1") != "0"})


def by_test(request: Request):
    access = _staff(request)
    svc = service(request)
    assignment = _assignment_of(svc, access)
    results, _ = link_rows(svc.store, access.link, assignment)
    people = {student_key(m): m["id"] for m in svc.store.course_members(access.link["course_id"])}
    graded = [r for r in results if r["extra_data"]["status"] == "graded"]
    tests = []
    for column in test_columns(graded):
        failed = [r["extra_data"]["student"] for r in graded for t in r["tests"]
                  if (t.get("tags") or [t["name"]])[-1] == column["id"] and t["status"] != "passed"]
        tests.append({**column, "failed": sorted(failed, key=str.casefold), "graded": len(graded)})
    return render(request, "tests.html", {"link": access.link, "assignment": assignment, "tests": tests,
                                          "people": people})


def student_page(request: Request):
    access = _staff(request)
    svc = service(request)
    person = svc.store.user(int(request.path_params["uid"]))
    if person is None or svc.store.role(person["id"], access.link["course_id"]) is None:
        raise HTTPException(status_code=404)
    return render(request, "student.html", {
        "link": access.link, "person": person, "assignment": _assignment_of(svc, access),
        "submissions": svc.store.submissions_of(access.link["id"], person["id"]),
        "post": svc.store.posts_of(access.link["id"]).get(person["id"])})


def scores_csv(request: Request):
    access = _staff(request)
    svc = service(request)
    _, rows = link_rows(svc.store, access.link, _assignment_of(svc, access), svc.passback.roster(access.link))
    with TemporaryDirectory() as folder:
        path = Path(folder) / "scores.csv"
        write_scores_csv(rows, path)
        return _download(path.read_bytes(), "scores.csv")


def export(request: Request):
    """An LMS import file from the same rows, or one line saying which ids the LMS would need."""
    access = _staff(request)
    svc = service(request)
    kind = request.path_params["kind"]
    if kind not in EXPORTS:
        raise HTTPException(status_code=404)
    assignment = _assignment_of(svc, access)
    _, rows = link_rows(svc.store, access.link, assignment, svc.passback.roster(access.link))
    try:
        if kind == "canvas":
            text, skipped = canvas_csv(rows, assignment, access.link["lms_assignment_id"])
        elif kind == "moodle":
            text, skipped = moodle_csv(rows, assignment)
        else:
            text, skipped = plain_csv(rows), []
    except GraderError as error:
        return dashboard(request, access, f"{kind} export: {error}")
    if len(skipped) == len(rows):
        return dashboard(request, access, f"{kind} export: no student has a {kind} id (docs/serve.md says which "
                                          "custom fields give them)")
    return _download(text.encode("utf-8"), f"{assignment.id}-{kind}.csv")


def _download(data: bytes, name: str) -> Response:
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _assignment_of(svc, access: Access):
    assignment = svc.assignments.get(access.link["assignment_id"] or "")
    if assignment is None:
        raise HTTPException(status_code=404)
    return assignment


# -- forms: each checks the CSRF token, then acts in a worker thread (the database is synchronous)

def form_action(act):
    """An endpoint for a form: its fields read (small, no files), its CSRF token checked, then ``act(request, form)``."""
    async def endpoint(request: Request):
        form = await request.form(max_files=0, max_fields=8, max_part_size=8 << 10)
        check_csrf(request, form)
        return await run_in_threadpool(act, request, form)

    return endpoint


@form_action
def choose_assignment(request: Request, form):
    access = _staff(request)
    svc = service(request)
    ident = str(form.get("assignment", ""))
    if ident not in svc.assignments:
        return dashboard(request, access, f"unknown assignment {ident!r}")
    if svc.store.submissions_of(access.link["id"]) and access.link["assignment_id"] != ident:
        return dashboard(request, access, "this link already has submissions for another assignment; "
                                          "make a new link in the LMS instead")
    svc.store.update_link(access.link["id"], assignment_id=ident)
    return RedirectResponse(f"/links/{access.link['id']}", status_code=303)


@form_action
def release(request: Request, form):
    access = _staff(request)
    service(request).store.update_link(access.link["id"], released=form.get("released") == "1")
    return RedirectResponse(f"/links/{access.link['id']}", status_code=303)


@form_action
def regrade_all(request: Request, form):
    access = _staff(request)
    svc = service(request)
    count = svc.regrade([s["id"] for s in svc.store.submissions_of(access.link["id"])])
    return dashboard(request, access, f"{count} submission(s) queued for grading again")


@form_action
def regrade_one(request: Request, form):
    svc = service(request)
    submission, _ = submission_access(session_user(request, svc.store), svc.store, request.path_params["sid"],
                                      staff=True)
    svc.regrade([submission["id"]])
    return RedirectResponse(f"/submissions/{submission['id']}", status_code=303)


@form_action
def post_scores(request: Request, form):
    access = _staff(request)
    svc = service(request)
    if not (access.link["lineitem"] or access.link["lineitems"]):
        return dashboard(request, access, "this link's launch offered no grade service (AGS): nothing to send")
    users = {s["user_id"] for s in svc.store.submissions_of(access.link["id"])}
    for user in users:
        svc.store.want_post(access.link["id"], user, time.time())
    return dashboard(request, access, f"{len(users)} score(s) will be sent to the LMS again")


@form_action
def new_token(request: Request, form):
    access = _staff(request)
    token = service(request).store.create_token(access.user["id"], str(form.get("label", ""))[:64] or "instructor script")
    return render(request, "token.html", {"link": access.link, "token": token})
