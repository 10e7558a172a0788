"""The service's settings: ``serve.toml`` (see docs/serve.md), overridden by ``grader serve``'s options.

Secrets are not settings: the tool's private key and the session secret are files the service creates
in its data folder (``keys``); a platform's keys are fetched from its JWKS address. Nothing here is secret,
so a config file can be shown or committed.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from grader.assignment import Assignment, find_repo_root, list_assignments, load_assignment
from grader.compat import tomllib
from grader.errors import GraderError

FLAVOURS = ("canvas", "moodle", "other")


@dataclass(frozen=True)
class Platform:
    """One LMS registration: what the platform's admin page shows for this tool."""

    issuer: str                      # Canvas cloud: https://canvas.instructure.com; Moodle: the site's address
    client_id: str
    auth_login_url: str              # OIDC authorisation endpoint (Canvas: /api/lti/authorize_redirect)
    auth_token_url: str              # OAuth 2 token endpoint for AGS and NRPS
    key_set_url: str                 # the platform's JWKS: id_tokens are checked against it
    deployment_ids: tuple[str, ...] = ()   # empty: any deployment of this client id
    flavour: str = "other"           # canvas | moodle | other: how its AGS answers (grader.lms.lti)
    audience: str = ""               # the token request's aud, when not the token URL

    @property
    def origin(self) -> str:
        parts = urlsplit(self.auth_login_url)
        return f"{parts.scheme}://{parts.netloc}"


@dataclass
class ServeConfig:
    data: Path                               # keys, the SQLite database, AGS state
    database: str = ""                       # SQLAlchemy URL; default sqlite in the data folder
    queue: str = "embedded"                  # "embedded" or redis://host:port/db (Celery on Redis)
    workers: int = 2                         # grading processes this command starts (0: none)
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""                       # the public address (https://… behind a proxy); default http://host:port
    assignments: list[str] = field(default_factory=list)  # default: every assignment of the kit
    uploads_per_window: int = 10             # per student: at most this many uploads ...
    window_seconds: int = 600                # ... in this many seconds
    lease_seconds: float = 15.0              # a worker that stops renewing its lease for this long is presumed dead
    frame_ancestors: list[str] = field(default_factory=list)  # where the LMS shows the tool in a frame (below)
    platforms: list[Platform] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.data / 'grader.sqlite3'}"

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        """Behind TLS the cookies are Secure and SameSite=None (an LMS shows the tool in an iframe)."""
        return self.public_url.startswith("https://")

    def frame_origins(self) -> list[str]:
        """The pages allowed to show the tool in a frame: the addresses students see their LMS at (Canvas
        cloud's issuer and login host are not the institution's own address, so say it in frame_ancestors),
        and each platform's issuer and login host."""
        found = set(self.frame_ancestors)
        for platform in self.platforms:
            found |= {_origin(platform.issuer), platform.origin}
        return sorted(origin for origin in found if origin.startswith(("https://", "http://")))

    def platform(self, issuer: str, client_id: str | None) -> Platform | None:
        """The registration for ``issuer`` (and ``client_id`` when given, or when the issuer has several)."""
        found = [p for p in self.platforms if p.issuer == issuer and (client_id in (None, "") or p.client_id == client_id)]
        return found[0] if len(found) == 1 else None

    def check(self, where: str) -> "ServeConfig":
        if self.queue != "embedded" and not self.queue.startswith(("redis://", "rediss://")):
            raise GraderError(f"{where}: queue = '{self.queue}' is not \"embedded\" or a redis:// address")
        if self.workers < 0 or self.uploads_per_window < 1 or self.window_seconds < 1 or self.lease_seconds < 3:
            raise GraderError(f"{where}: workers must be 0 or more, uploads_per_window and window_seconds at least 1, "
                              "lease_seconds at least 3")
        if self.queue != "embedded" and self.database_url.startswith("sqlite") and self.workers == 0:
            raise GraderError(f"{where}: workers on other machines need a database they can reach: give "
                              "database = \"postgresql://…\" (SQLite is one machine's file)")
        return self


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def load_config(path: Path | None, data: Path | None = None) -> ServeConfig:
    """``serve.toml`` (if given) with its platforms; ``data`` overrides its data folder."""
    raw: dict = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise GraderError(f"{path}: cannot read the service's config ({exc}); fix the file") from None
    where = str(path or "grader serve")
    platforms = [_platform(entry, where) for entry in raw.pop("platform", [])]
    known = {f.name for f in fields(ServeConfig)} - {"platforms"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise GraderError(f"{where}: unknown setting(s) {', '.join(unknown)}; see docs/serve.md")
    folder = data or (Path(raw.pop("data")) if "data" in raw else None)
    raw.pop("data", None)
    if folder is None:
        raise GraderError(f"{where}: no data folder: give data = \"/var/lib/dezero-grader\" or --data DIR")
    try:
        config = ServeConfig(data=Path(folder), platforms=platforms, **raw)
    except TypeError as exc:
        raise GraderError(f"{where}: {exc}; see docs/serve.md") from None
    return config.check(where)


def _platform(entry: dict, where: str) -> Platform:
    try:
        values = {k: (tuple(str(d) for d in v) if k == "deployment_ids" else str(v)) for k, v in entry.items()}
        platform = Platform(**values)
    except TypeError as exc:
        raise GraderError(f"{where}: [[platform]]: {exc}; see docs/serve.md") from None
    if platform.flavour not in FLAVOURS:
        raise GraderError(f"{where}: [[platform]] flavour = '{platform.flavour}' is not {', '.join(FLAVOURS)}")
    for name in ("auth_login_url", "auth_token_url", "key_set_url"):
        if urlsplit(getattr(platform, name)).scheme not in ("http", "https"):
            raise GraderError(f"{where}: [[platform]] {name} = '{getattr(platform, name)}' is not an address")
    return platform


def installed_assignments(ids: list[str]) -> dict[str, Assignment]:
    """The assignments the service offers: those named in the config, else every one of the kit."""
    chosen = ids or [folder.name for folder in list_assignments(find_repo_root())]
    return {a.id: a for a in (load_assignment(ident) for ident in chosen)}
