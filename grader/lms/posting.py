"""What every score upload shares: the per-student report, the state of what the LMS confirmed, and
one request with bounded retries.

A state file of what the LMS confirmed means a re-run sends only what changed and a failure
midway never reports as posted something that was not. Secrets (the Canvas token, the LTI
private key) are read from the environment or the instructor's key file and never printed,
logged or written. The platforms' clients are in ``canvas`` and ``lti``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import httpx
import tenacity

from grader.errors import GraderError
from grader.report import csv_text
from grader.results import write_json_atomic

BATCH_SIZE = 50
MAX_RETRIES = 6
# A wrong address fails at connect time within this, instead of after the default 30 s.
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass
class UploadReport:
    """What happened to each student: posted, unchanged, unknown, skipped or failed (with why)."""

    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)

    def set(self, student: str, status: str, detail: str = "") -> None:
        self.outcomes[student] = (status, detail)

    def count(self, status: str) -> int:
        return sum(1 for s, _ in self.outcomes.values() if s == status)

    def write_csv(self, path: Path) -> None:
        lines = ["student,status,detail"] + [f"{_csv(s)},{st},{_csv(d)}" for s, (st, d) in sorted(self.outcomes.items())]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _csv(text: str) -> str:
    text = csv_text(text)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def _fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class PostedState:
    """student -> fingerprint of what the LMS confirmed; saved after every confirmation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.posted: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.posted = {}

    def changed(self, student: str, payload: dict) -> bool:
        return self.posted.get(student) != _fingerprint(payload)

    def confirm(self, items: dict[str, dict]) -> None:
        for student, payload in items.items():
            self.posted[student] = _fingerprint(payload)
        write_json_atomic(self.path, self.posted)



class _Transient(Exception):
    """An answer worth asking again (throttled, 429, 5xx, a dropped connection on a GET)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)


def send(client: httpx.Client, method: str, url: str, *, sleep: Callable[[float], None], idempotent: bool,
         transient: Callable[[httpx.Response], bool], **kwargs) -> httpx.Response:
    """One request, with bounded exponential retries (tenacity) on transient answers.

    Only idempotent requests are repeated after a 5xx or a dropped connection: a POST that may
    have reached the LMS could post a comment twice. A POST is repeated only when the LMS said
    it did not process it (throttled). A connection that cannot be made at all (wrong address,
    DNS) fails at once with one line: retrying it only makes the instructor wait.
    """
    def attempt() -> httpx.Response:
        # A callable argument is rebuilt for every try (a token request signs a fresh assertion).
        arguments = {key: value() if callable(value) else value for key, value in kwargs.items()}
        try:
            response = client.request(method, url, **arguments)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise GraderError(f"cannot connect to {origin(url)} ({type(exc).__name__}); check the address") from None
        except httpx.TransportError as exc:
            if idempotent:
                raise _Transient(f"network error ({type(exc).__name__})") from None
            raise
        if transient(response) or (idempotent and (response.status_code == 429 or response.status_code >= 500)):
            raise _Transient(f"{response.status_code} {response.reason_phrase}".strip())
        return response

    retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(MAX_RETRIES), sleep=sleep, reraise=True,
                                 wait=tenacity.wait_exponential(multiplier=1, max=30),
                                 retry=tenacity.retry_if_exception_type(_Transient))
    try:
        return retrying(attempt)
    except _Transient as exc:
        raise GraderError(f"{origin(url)} kept answering {exc} after {MAX_RETRIES} tries; wait and re-run") from None


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def check_base_url(url: str, what: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GraderError(f"{what} '{url}' is not an address: give it as https://lms.example.edu")
    return url.rstrip("/")


def pages(get: Callable[[str, dict | None], httpx.Response], url: str, params: dict | None) -> list:
    """Every page of a list, following ``Link: rel="next"`` as given (opaque, any header case)."""
    items: list = []
    while url:
        response = get(url, params)
        body = response.json()
        items += body if isinstance(body, list) else []
        url, params = response.links.get("next", {}).get("url"), None  # next links carry their own query
    return items


def header_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


def describe(error: Exception) -> str:
    if isinstance(error, httpx.TransportError):
        return f"network error ({type(error).__name__})"
    return str(error)
