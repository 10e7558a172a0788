"""What every route shares: the running service (settings, database, queue engine, keys, assignments) and
how a page is rendered (autoescaped Jinja2, the student's language, the form's CSRF token)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import jinja2
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from grader.assignment import Assignment
from grader.serve.config import ServeConfig
from grader.serve.engines import CeleryEngine, EmbeddedEngine
from grader.serve.keys import ToolKey
from grader.serve.launch import KeySets
from grader.serve.passback import Passback
from grader.serve.storage import Store
from grader.serve.texts import language, text
from grader.serve.web import csrf_token, session_user


@dataclass
class Service:
    config: ServeConfig
    store: Store
    engine: EmbeddedEngine | CeleryEngine
    key: ToolKey
    passback: Passback
    assignments: dict[str, Assignment]
    keysets: KeySets = field(default_factory=KeySets)
    say: Callable[[str], None] = print

    def accept(self, link: dict, user: dict, name: str, data: bytes) -> str:
        """Keep an upload and queue it (rate limit checked in the same transaction); its submission id."""
        ident, grading = self.store.add_submission(link["id"], user["id"], name, data,
                                                   limit=(self.config.uploads_per_window, self.config.window_seconds))
        self.engine.publish([grading])
        return ident

    def regrade(self, submission_ids: list[str]) -> int:
        created = self.store.regrade(submission_ids)
        self.engine.publish(created)
        return len(created)


_ENVIRONMENT = jinja2.Environment(loader=jinja2.PackageLoader("grader.serve", "templates"), autoescape=True,
                                  undefined=jinja2.StrictUndefined)
TEMPLATES = Jinja2Templates(env=_ENVIRONMENT)


def service(request: Request) -> Service:
    return request.app.state.service


def render(request: Request, name: str, context: dict, status: int = 200):
    """A page in the signed-in user's language (their LMS locale), with the CSRF token its forms carry."""
    svc = service(request)
    user = context.get("user") or session_user(request, svc.store)
    lang = language(user["locale"] if user else None)
    base = {"user": user, "lang": lang, "t": functools.partial(text, lang), "csrf": csrf_token(request),
            "when": shown_time}
    return TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status)


def shown_time(stamp: str | None) -> str:
    """An ISO time as people read it, in UTC (the page cannot know the reader's zone without a script)."""
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
