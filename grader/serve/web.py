"""The HTTP layer's rules, in one place: who is asking (session cookie or API token), what they may see,
CSRF on every form, and the headers every answer carries.

- A page answers 404, never 403, for anything of another course or another student: an id that is not
  yours is indistinguishable from one that does not exist. Instructor pages answer a student 403.
- Every form carries a CSRF token bound to the session (compared in constant time); the API takes a
  bearer token only, never the cookie, so it needs none.
- Content-Security-Policy: scripts only from this service (no inline script runs), frames only from the
  registered LMSs, no plugins, forms post only here. Answers are never cached: results are private.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader.serve.storage import Store

INSTRUCTOR, STUDENT = "instructor", "student"


class NotYours(HTTPException):
    """404: it does not exist, or it is not this user's to see."""

    def __init__(self) -> None:
        super().__init__(status_code=404)


class StaffOnly(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=403)


class SignedOut(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=401)


@dataclass
class Access:
    user: dict
    link: dict
    role: str

    @property
    def staff(self) -> bool:
        return self.role == INSTRUCTOR


def session_user(request: Request, store: Store) -> dict | None:
    ident = request.session.get("uid")
    return store.user(ident) if isinstance(ident, int) else None


def bearer_user(request: Request, store: Store) -> dict | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    ident = store.user_for_token(token.strip())
    return store.user(ident) if ident is not None else None


def link_access(user: dict | None, store: Store, link_id: int, *, staff: bool = False) -> Access:
    """The user's access to a link: a member of its course, or 404; an instructor there, or 403 when asked."""
    if user is None:
        raise SignedOut()
    link = store.link(link_id)
    role = store.role(user["id"], link["course_id"]) if link else None
    if role is None:
        raise NotYours()
    if staff and role != INSTRUCTOR:
        raise StaffOnly()
    return Access(user, link, role)


def submission_access(user: dict | None, store: Store, submission_id: str, *, staff: bool = False
                      ) -> tuple[dict, Access]:
    """A submission its owner or the course's instructors may see; 404 for anyone else."""
    if user is None:
        raise SignedOut()
    submission = store.submission(submission_id)
    if submission is None:
        raise NotYours()
    access = link_access(user, store, submission["link_id"])
    if not access.staff and (staff or submission["user_id"] != user["id"]):
        raise NotYours()
    return submission, access


def sign_in(request: Request, user_id: int) -> None:
    """A new session for this user (whatever the old one held: no session fixation)."""
    request.session.clear()
    request.session["uid"] = user_id
    request.session["csrf"] = secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    if not isinstance(request.session.get("csrf"), str):
        request.session["csrf"] = secrets.token_urlsafe(32)
    return request.session["csrf"]


def check_csrf(request: Request, form) -> None:
    sent, kept = form.get("csrf"), request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(kept, str) or not hmac.compare_digest(sent, kept):
        raise HTTPException(status_code=403, detail="csrf")


class SecurityHeaders:
    """Pure ASGI middleware (it must not buffer uploads or streamed downloads)."""

    def __init__(self, app: ASGIApp, frame_ancestors: list[str]) -> None:
        self.app = app
        ancestors = " ".join(["'self'", *frame_ancestors])
        self.headers = [
            (b"content-security-policy", (
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}").encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in self.headers if h[0] not in names]
            await send(message)

        await self.app(scope, receive, with_headers)
