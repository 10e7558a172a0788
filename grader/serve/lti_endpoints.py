"""The tool's LTI 1.3 endpoints: OIDC login initiation, the launch (redirect URI), the tool's JWKS, and
the Canvas developer-key JSON (public facts only: addresses, scopes, the public key's address)."""
from __future__ import annotations

import secrets
import time
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse

from grader.lms.lti import LINEITEM_READ_SCOPE, LINEITEM_SCOPE, NRPS_SCOPE, SCORE_SCOPE
from grader.serve.launch import Launch, LaunchError, login_redirect, read_launch, verify_id_token
from grader.serve.service import Service, render, service
from grader.serve.storage import TooManyLogins, courses, links, users
from grader.serve.texts import language, text
from grader.serve.web import INSTRUCTOR, STUDENT, sign_in

STATE_COOKIE = "lti_state"
LOGIN_PARAMS = ("iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id", "lti_deployment_id")


async def login(request: Request):
    """Step 1 of the launch: the platform sends the browser here (GET or POST); we send it to the
    platform's authorisation endpoint with a fresh state (also in a cookie) and nonce."""
    values = dict(request.query_params)
    if request.method == "POST":
        form = await request.form(max_files=0, max_fields=16, max_part_size=16 << 10)
        values.update({k: v for k, v in form.items() if isinstance(v, str)})
    return await run_in_threadpool(_login, request, {k: values[k] for k in LOGIN_PARAMS if values.get(k)})


def _login(request: Request, params: dict):
    svc = service(request)
    platform = svc.config.platform(params.get("iss", ""), params.get("client_id"))
    if platform is None or not params.get("login_hint"):
        return _refused(request, "the login names no registered platform (iss / client_id) or no login_hint")
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    try:
        svc.store.save_login_state(state, nonce, platform.issuer, platform.client_id, time.time(), params)
    except TooManyLogins:
        return _refused(request, "too many logins are under way; try again in a few minutes", 503)
    target = login_redirect(platform, login_hint=params["login_hint"], lti_message_hint=params.get("lti_message_hint"),
                            redirect_uri=f"{svc.config.public_url}/lti/launch", state=state, nonce=nonce)
    response = RedirectResponse(target, status_code=302)
    secure = svc.config.secure_cookies
    response.set_cookie(STATE_COOKIE, state, max_age=600, httponly=True, secure=secure,
                        samesite="none" if secure else "lax", partitioned=secure)
    return response


async def launch(request: Request):
    """Step 3: the platform posts the id_token here. Checked, then the user has a session and goes to the link."""
    form = await request.form(max_files=0, max_fields=8, max_part_size=64 << 10)
    return await run_in_threadpool(_launch, request, str(form.get("id_token", "")), str(form.get("state", "")))


def _launch(request: Request, id_token: str, state: str):
    svc = service(request)
    login_state = svc.store.take_login_state(state, time.time()) if state else None
    if login_state is None:
        return _refused(request, "this launch's login was not started here, was already used, or took too long")
    if request.cookies.get(STATE_COOKIE) != state:
        # The browser did not send our cookie back inside the LMS's iframe: start again in a window of our own.
        again = "/lti/login?" + "&".join(f"{k}={_quote(v)}" for k, v in login_state["params"].items())
        return render(request, "cookies.html", {"again": again}, 400)
    platform = svc.config.platform(login_state["issuer"], login_state["client_id"])
    try:
        claims = verify_id_token(platform, id_token, login_state["nonce"], svc.keysets)
    except LaunchError as error:
        return _refused(request, str(error))
    link_id, user_id = record_launch(svc, platform.issuer, platform.client_id, read_launch(claims))
    sign_in(request, user_id)
    response = RedirectResponse(f"/links/{link_id}", status_code=303)
    response.delete_cookie(STATE_COOKIE)
    return response


def record_launch(svc: Service, issuer: str, client_id: str, launch: Launch) -> tuple[int, int]:
    """The user, course, membership and link a verified launch describes; (link id, user id)."""
    store = svc.store
    user = store.upsert(users, {"issuer": issuer, "subject": launch.subject},
                        {"name": launch.name[:255], "email": launch.email[:255], "locale": launch.locale[:35]})
    course = store.upsert(courses, {"issuer": issuer, "context_id": launch.context_id},
                          {"client_id": client_id, "title": launch.context_title[:255]})
    store.set_member(user, course, INSTRUCTOR if launch.staff else STUDENT, launch.lms_ids)
    values = {"title": launch.resource_link_title[:255], "lineitem": launch.lineitem, "lineitems": launch.lineitems,
              "ags_scopes": launch.ags_scopes, "memberships_url": launch.memberships_url}
    if launch.due_at:
        values["due_at"] = launch.due_at
    if launch.lms_assignment_id:
        values["lms_assignment_id"] = launch.lms_assignment_id
    link = store.upsert(links, {"course_id": course, "resource_link_id": launch.resource_link_id}, values)
    chosen = launch.assignment
    if chosen in svc.assignments and not (store.link(link) or {}).get("assignment_id"):
        store.update_link(link, assignment_id=chosen)
    return link, user


def _refused(request: Request, reason: str, status: int = 400):
    lang = language(request.headers.get("accept-language"))
    return render(request, "error.html", {"message": text(lang, "launch.failed", reason=reason)}, status)


def _quote(value: str) -> str:
    return quote(str(value), safe="")


def jwks(request: Request):
    """The tool's public key (only its public half), which platforms use to check AGS token requests."""
    return JSONResponse(service(request).key.jwks())


def canvas_config(request: Request):
    """The JSON a Canvas admin pastes (Developer Keys > + LTI Key > Paste JSON); see docs/serve.md."""
    base = service(request).config.public_url
    placement = {"text": "DeZero autograder", "enabled": True, "message_type": "LtiResourceLinkRequest",
                 "target_link_uri": f"{base}/lti/launch"}
    return JSONResponse({
        "title": "DeZero autograder", "description": "Grades DeZero homework in a sandbox and posts the score.",
        "oidc_initiation_url": f"{base}/lti/login", "target_link_uri": f"{base}/lti/launch",
        "public_jwk_url": f"{base}/lti/jwks",
        "scopes": [SCORE_SCOPE, LINEITEM_SCOPE, LINEITEM_READ_SCOPE,
                   "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly", NRPS_SCOPE],
        "extensions": [{"platform": "canvas.instructure.com", "privacy_level": "public",
                        "settings": {"placements": [dict(placement, placement="assignment_selection"),
                                                    dict(placement, placement="link_selection")]}}],
        "custom_fields": {"canvas_user_id": "$Canvas.user.id", "canvas_assignment_id": "$Canvas.assignment.id",
                          "due_at": "$Canvas.assignment.dueAt.iso8601"}})
