"""The web application: its routes, its error pages, and its lifetime (the workers, the lease reaper and
the score poster start with it and stop with it)."""
from __future__ import annotations

import contextlib
from importlib import resources
from typing import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from grader.report import MATRIX_SCRIPT
from grader.serve import api, instructor, lti_endpoints, student
from grader.serve.config import ServeConfig, installed_assignments
from grader.serve.engines import engine_for
from grader.serve.keys import private_folder, session_secret, tool_key
from grader.serve.passback import Passback
from grader.serve.service import Service, render, service
from grader.serve.storage import Store
from grader.serve.supervisor import Reaper, Supervisor
from grader.serve.texts import language, text
from grader.serve.uploads import MAX_UPLOAD_BYTES
from grader.serve.web import SecurityHeaders, check_csrf, link_access, session_user, sign_in

FORM_BYTES = 64 << 10  # every request but an upload: a form, a launch's id_token


def build_service(config: ServeConfig, say: Callable[[str], None] = print) -> Service:
    private_folder(config.data)  # before the database: SQLite's file goes there
    store = Store(config.database_url)
    key = tool_key(config.data)
    engine = engine_for(config.queue, store)
    return Service(config=config, store=store, engine=engine, key=key, passback=Passback(store, config, key, say),
                   assignments=installed_assignments(config.assignments), say=say)


def create_app(svc: Service, *, workers: int | None = None) -> Starlette:
    """The application for a built service; ``workers`` grading processes start with it (default: the config's)."""
    config = svc.config
    count = config.workers if workers is None else workers

    @contextlib.asynccontextmanager
    async def lifetime(app: Starlette):
        supervisor = Supervisor(count, svc.store, svc.engine.publish, database=config.database_url,
                                queue=config.queue, hide=[str(config.data)], lease_seconds=config.lease_seconds,
                                say=svc.say)
        app.state.supervisor = supervisor.start()
        reaper = Reaper(svc.store, svc.engine.publish, say=svc.say).start()
        svc.passback.start()
        try:
            yield
        finally:
            await run_in_threadpool(supervisor.stop)
            reaper.stop()
            svc.passback.stop()
            svc.engine.close()

    secure = config.secure_cookies
    app = Starlette(
        routes=routes(), lifespan=lifetime, max_body_size=FORM_BYTES,
        middleware=[Middleware(SecurityHeaders, frame_ancestors=config.frame_origins()),
                    Middleware(SessionMiddleware, secret_key=session_secret(config.data), session_cookie="grader_session",
                               max_age=8 * 3600, same_site="none" if secure else "lax", https_only=secure,
                               partitioned=secure)],
        exception_handlers={HTTPException: _http_error})
    app.state.service = svc
    return app


def routes() -> list:
    upload = {"max_body_size": MAX_UPLOAD_BYTES}
    return [
        Route("/", student.home),
        Route("/healthz", _health),
        Route("/login", _login_page, methods=["GET", "POST"]),
        Route("/logout", _logout, methods=["POST"]),
        Route("/lti/login", lti_endpoints.login, methods=["GET", "POST"]),
        Route("/lti/launch", lti_endpoints.launch, methods=["POST"]),
        Route("/lti/jwks", lti_endpoints.jwks),
        Route("/lti/canvas.json", lti_endpoints.canvas_config),
        Route("/links/{link_id:int}", _link_page),
        Route("/links/{link_id:int}/submissions", student.upload, methods=["POST"], **upload),
        Route("/links/{link_id:int}/assignment", instructor.choose_assignment, methods=["POST"]),
        Route("/links/{link_id:int}/release", instructor.release, methods=["POST"]),
        Route("/links/{link_id:int}/regrade", instructor.regrade_all, methods=["POST"]),
        Route("/links/{link_id:int}/post-scores", instructor.post_scores, methods=["POST"]),
        Route("/links/{link_id:int}/token", instructor.new_token, methods=["POST"]),
        Route("/links/{link_id:int}/report", instructor.report),
        Route("/links/{link_id:int}/tests", instructor.by_test),
        Route("/links/{link_id:int}/students/{uid:int}", instructor.student_page),
        Route("/links/{link_id:int}/scores.csv", instructor.scores_csv),
        Route("/links/{link_id:int}/export/{kind}", instructor.export),
        Route("/submissions/{sid}", student.submission_page),
        Route("/submissions/{sid}/file", student.submission_file),
        Route("/submissions/{sid}/regrade", instructor.regrade_one, methods=["POST"]),
        Route("/api/v1/submissions", api.submit, methods=["POST"], **upload),
        Route("/api/v1/submissions/{sid}", api.status),
        Route("/assets/matrix.js", _matrix_script),
        Mount("/static", StaticFiles(directory=str(resources.files("grader.serve") / "static")), name="static"),
    ]


def _link_page(request: Request):
    svc = service(request)
    access = link_access(session_user(request, svc.store), svc.store, int(request.path_params["link_id"]))
    if access.staff:
        return instructor.dashboard(request, access)
    return student.assignment_page(request, access)


def _health(request: Request):
    return JSONResponse({"ok": True, "queue": service(request).store.queue_counts()})


async def _login_page(request: Request):
    """Sign in with a token (the demo's, or an instructor's script token) where there is no LMS to launch from."""
    if request.method == "GET":
        return render(request, "login.html", {"error": ""})
    form = await request.form(max_files=0, max_fields=4, max_part_size=4 << 10)
    check_csrf(request, form)
    return await run_in_threadpool(_sign_in_with_token, request, str(form.get("token", "")).strip())


def _sign_in_with_token(request: Request, token: str):
    svc = service(request)
    user = svc.store.user_for_token(token) if token else None
    if user is None:
        return render(request, "login.html", {"error": "That token is not valid."}, 403)
    sign_in(request, user)
    return RedirectResponse("/", status_code=303)


async def _logout(request: Request):
    form = await request.form(max_files=0, max_fields=4, max_part_size=4 << 10)
    check_csrf(request, form)
    request.session.clear()
    return RedirectResponse("/", status_code=303)


async def _http_error(request: Request, error: HTTPException):
    """JSON for the API, a page in the user's language for everything else; never a traceback."""
    if request.url.path.startswith("/api/"):
        messages = {413: "the upload is larger than 50 MiB: submit only your code", 403: "forbidden",
                    404: "not found", 405: "method not allowed", 400: "bad request"}
        return JSONResponse({"error": messages.get(error.status_code, "refused")}, status_code=error.status_code)
    return await run_in_threadpool(_error_page, request, error.status_code, error.detail)


def _error_page(request: Request, status: int, detail: str):
    svc = service(request)
    user = session_user(request, svc.store)
    lang = language(user["locale"] if user else request.headers.get("accept-language"))
    key = {401: "page.open_from_lms", 403: "page.csrf" if detail == "csrf" else "page.forbidden",
           404: "page.not_found", 413: "upload.request_too_large"}.get(status)
    message = text(lang, key) if key else f"{status}: {text(lang, 'page.not_found')}"
    return render(request, "error.html", {"message": message, "user": user}, status)


def _matrix_script(request: Request):
    """report.html's matrix script, served as a file (the pages' policy runs no inline script)."""
    body = MATRIX_SCRIPT.strip().removeprefix("<script>").removesuffix("</script>")
    return Response(body, media_type="text/javascript")
