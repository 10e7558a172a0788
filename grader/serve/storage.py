"""The service's database, through SQLAlchemy Core: SQLite by default (one file in the data folder),
PostgreSQL by URL (``postgresql://…``), the same tables and statements on both.

Every submission is kept whole (its bytes, sha256, time, student, link) with every grading of it
(the job table: ``gradings``) and what happened to it (``events``). Times are ISO 8601 in UTC;
leases are epoch seconds, compared by the workers' clocks (keep them in time, as any cluster must).

SQLite: one writer at a time. Write transactions start with ``BEGIN IMMEDIATE`` so that two processes
never both read and then try to upgrade to a write (SQLite would fail one of them at once instead of
waiting); reads run in WAL mode beside the writer.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table,
                        Text, UniqueConstraint, create_engine, delete, event, func, insert, select, update)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("issuer", String(255), nullable=False),    # the LTI platform's issuer, or "demo"
    Column("subject", String(255), nullable=False),   # the LTI user id (id_token sub): what AGS wants
    Column("name", String(255), nullable=False, default=""),
    Column("email", String(255), nullable=False, default=""),
    Column("locale", String(35), nullable=False, default=""),
    UniqueConstraint("issuer", "subject"),
)
courses = Table(
    "courses", metadata,
    Column("id", Integer, primary_key=True),
    Column("issuer", String(255), nullable=False),
    Column("client_id", String(255), nullable=False, default=""),
    Column("context_id", String(255), nullable=False),
    Column("title", String(255), nullable=False, default=""),
    UniqueConstraint("issuer", "context_id"),
)
members = Table(
    "members", metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("course_id", ForeignKey("courses.id"), primary_key=True),
    Column("role", String(16), nullable=False),       # "instructor" or "student", from the latest launch
    Column("lms_ids", Text, nullable=False, default="{}"),
)
links = Table(
    "links", metadata,
    Column("id", Integer, primary_key=True),
    Column("course_id", ForeignKey("courses.id"), nullable=False),
    Column("resource_link_id", String(255), nullable=False),
    Column("title", String(255), nullable=False, default=""),
    Column("assignment_id", String(128)),             # chosen by the link's custom field or the instructor
    Column("lineitem", Text, nullable=False, default=""),
    Column("lineitems", Text, nullable=False, default=""),
    Column("ags_scopes", Text, nullable=False, default=""),
    Column("memberships_url", Text, nullable=False, default=""),
    Column("lms_assignment_id", String(64), nullable=False, default=""),
    Column("due_at", String(40)),                     # the LMS's due date, when the launch carries it
    Column("released", Boolean, nullable=False, default=False),  # hidden tests shown before the due date
    UniqueConstraint("course_id", "resource_link_id"),
)
submissions = Table(
    "submissions", metadata,
    Column("id", String(32), primary_key=True),       # random: a guessed id finds nothing
    Column("link_id", ForeignKey("links.id"), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("submitted_at", String(40), nullable=False),
    Index("submissions_by_student", "link_id", "user_id"),
    Index("submissions_by_time", "user_id", "submitted_at"),
)
gradings = Table(
    "gradings", metadata,
    Column("id", Integer, primary_key=True),
    Column("submission_id", ForeignKey("submissions.id"), nullable=False),
    Column("round", Integer, nullable=False),         # 1 on upload, one more for each regrade
    Column("status", String(8), nullable=False),      # queued | running | done | error
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(128)),
    Column("lease_expires", Float),
    Column("queued_at", String(40), nullable=False),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("result", Text),                           # the results.json of this grading
    Column("score", Float),
    Column("max_score", Float),
    Column("error", Text),
    UniqueConstraint("submission_id", "round"),
    Index("gradings_by_status", "status", "id"),
)
events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("submission_id", ForeignKey("submissions.id"), nullable=False, index=True),
    Column("at", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
)
score_posts = Table(
    "score_posts", metadata,
    Column("id", Integer, primary_key=True),
    Column("link_id", ForeignKey("links.id"), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),     # pending, then what the platform answered
    Column("tries", Integer, nullable=False, default=0),
    Column("next_try", Float, nullable=False, default=0.0),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", String(40), nullable=False),
    UniqueConstraint("link_id", "user_id"),
)
tokens = Table(
    "tokens", metadata,
    Column("digest", String(64), primary_key=True),   # sha256 of the token: the token itself is never stored
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("label", String(64), nullable=False, default=""),
    Column("created_at", String(40), nullable=False),
)
login_states = Table(
    "login_states", metadata,
    Column("state", String(64), primary_key=True),
    Column("nonce", String(64), nullable=False),
    Column("issuer", String(255), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("created", Float, nullable=False),
    Column("params", Text, nullable=False, default="{}"),  # the login's own parameters, to start it again
)

QUEUED, RUNNING, DONE, ERROR = "queued", "running", "done", "error"
LOGIN_SECONDS = 600  # an OIDC login must come back within this
MAX_PENDING_LOGINS = 20000  # logins anyone may start (the login URL is public): the table cannot grow without end


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def database_url(url: str) -> str:
    """``postgresql://`` (or ``postgres://``) means the psycopg 3 driver the extra installs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = database_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we say BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("writing")
                                   else "BEGIN")

    return engine


def new_id() -> str:
    return secrets.token_urlsafe(12)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """The database: one per process (never shared across a fork)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction, committed when the block ends."""
        with self.engine.connect().execution_options(writing=True) as conn:
            with conn.begin():
                yield conn

    # -- people, courses, links (from launches or the demo)

    def upsert(self, table: Table, keys: dict, values: dict) -> int:
        """The row with ``keys``, created or updated with ``values``; its id. Two launches racing to create the
        same row: the loser finds the winner's row on its second try."""
        for attempt in range(2):
            try:
                with self.writing() as conn:
                    found = conn.execute(select(table.c.id).filter_by(**keys)).scalar()
                    if found is None:
                        return conn.execute(insert(table).values(**keys, **values)).inserted_primary_key[0]
                    if values:
                        conn.execute(update(table).where(table.c.id == found).values(**values))
                    return found
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def set_member(self, user_id: int, course_id: int, role: str, lms_ids: dict | None = None) -> None:
        with self.writing() as conn:
            found = conn.execute(select(members.c.role).filter_by(user_id=user_id, course_id=course_id)).first()
            values = {"role": role, "lms_ids": json.dumps(lms_ids or {})}
            if found is None:
                conn.execute(insert(members).values(user_id=user_id, course_id=course_id, **values))
            else:
                conn.execute(update(members).filter_by(user_id=user_id, course_id=course_id).values(**values))

    def update_link(self, link_id: int, **values) -> None:
        with self.writing() as conn:
            conn.execute(update(links).where(links.c.id == link_id).values(**values))

    def user(self, user_id: int) -> dict | None:
        with self.reading() as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
        return dict(row) if row else None

    def link(self, link_id: int) -> dict | None:
        """A link with its course's issuer, client id, context and title."""
        query = (select(links, courses.c.issuer, courses.c.client_id, courses.c.context_id,
                        courses.c.title.label("course_title"))
                 .join(courses, courses.c.id == links.c.course_id).where(links.c.id == link_id))
        with self.reading() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def role(self, user_id: int, course_id: int) -> str | None:
        with self.reading() as conn:
            return conn.execute(select(members.c.role).filter_by(user_id=user_id, course_id=course_id)).scalar()

    def member(self, user_id: int, course_id: int) -> dict | None:
        with self.reading() as conn:
            row = conn.execute(select(members).filter_by(user_id=user_id, course_id=course_id)).mappings().first()
        return dict(row, lms_ids=json.loads(row["lms_ids"])) if row else None

    def links_of(self, user_id: int) -> list[dict]:
        """Every link of every course the user belongs to, with their role there."""
        query = (select(links.c.id, links.c.title, links.c.assignment_id, courses.c.title.label("course_title"),
                        members.c.role)
                 .join(courses, courses.c.id == links.c.course_id)
                 .join(members, (members.c.course_id == courses.c.id) & (members.c.user_id == user_id))
                 .order_by(courses.c.title, links.c.title))
        with self.reading() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def course_members(self, course_id: int) -> list[dict]:
        query = (select(users, members.c.role, members.c.lms_ids).join(members, members.c.user_id == users.c.id)
                 .where(members.c.course_id == course_id))
        with self.reading() as conn:
            return [dict(r, lms_ids=json.loads(r["lms_ids"])) for r in conn.execute(query).mappings()]

    # -- submissions

    def add_submission(self, link_id: int, user_id: int, filename: str, data: bytes,
                       limit: tuple[int, float] | None = None) -> tuple[str, int]:
        """Keep the upload and queue its first grading, in one transaction: (submission id, grading id).

        ``limit`` (count, seconds): refuse with ``RateLimited`` when this user already uploaded ``count``
        times in the last ``seconds`` (checked inside the transaction, so parallel uploads cannot all pass).
        """
        ident, now = new_id(), utc_now()
        with self.writing() as conn:
            if limit is not None:
                _check_rate(conn, user_id, *limit)
            conn.execute(insert(submissions).values(
                id=ident, link_id=link_id, user_id=user_id, filename=filename, data=data, size=len(data),
                sha256=hashlib.sha256(data).hexdigest(), submitted_at=now))
            grading = conn.execute(insert(gradings).values(submission_id=ident, round=1, status=QUEUED, attempts=0,
                                                           queued_at=now)).inserted_primary_key[0]
            add_event(conn, ident, "uploaded", f"{filename}, {len(data)} bytes")
        return ident, grading

    def submission(self, submission_id: str) -> dict | None:
        """A submission without its bytes, with its link's course id."""
        query = (select(*[c for c in submissions.c if c.name != "data"], links.c.course_id)
                 .join(links, links.c.id == submissions.c.link_id).where(submissions.c.id == submission_id))
        with self.reading() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row else None

    def submission_bytes(self, submission_id: str) -> bytes:
        with self.reading() as conn:
            return conn.execute(select(submissions.c.data).where(submissions.c.id == submission_id)).scalar()

    def gradings_of(self, submission_id: str) -> list[dict]:
        """Every grading of a submission, latest round first."""
        with self.reading() as conn:
            rows = conn.execute(select(gradings).where(gradings.c.submission_id == submission_id)
                                .order_by(gradings.c.round.desc())).mappings()
            return [dict(r) for r in rows]

    def grading(self, grading_id: int) -> dict | None:
        with self.reading() as conn:
            row = conn.execute(select(gradings).where(gradings.c.id == grading_id)).mappings().first()
        return dict(row) if row else None

    def submissions_of(self, link_id: int, user_id: int | None = None) -> list[dict]:
        """A link's submissions (one student's, or everyone's), newest first, each with its latest grading."""
        latest = (select(gradings.c.submission_id, func.max(gradings.c.round).label("round"))
                  .group_by(gradings.c.submission_id).subquery())
        query = (select(submissions.c.id, submissions.c.user_id, submissions.c.filename, submissions.c.size,
                        submissions.c.sha256, submissions.c.submitted_at, gradings.c.id.label("grading_id"),
                        gradings.c.status, gradings.c.score, gradings.c.max_score, gradings.c.round,
                        gradings.c.attempts)
                 .join(latest, latest.c.submission_id == submissions.c.id)
                 .join(gradings, (gradings.c.submission_id == latest.c.submission_id)
                       & (gradings.c.round == latest.c.round))
                 .where(submissions.c.link_id == link_id)
                 .order_by(submissions.c.submitted_at.desc()))
        if user_id is not None:
            query = query.where(submissions.c.user_id == user_id)
        with self.reading() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def results(self, grading_ids: list[int]) -> dict[int, dict]:
        """grading id -> its results.json, for the done ones among ``grading_ids``."""
        found: dict[int, dict] = {}
        with self.reading() as conn:
            for start in range(0, len(grading_ids), 500):
                chunk = grading_ids[start:start + 500]
                for ident, text in conn.execute(select(gradings.c.id, gradings.c.result).where(
                        gradings.c.id.in_(chunk) & (gradings.c.status == DONE))):
                    found[ident] = json.loads(text)
        return found

    def latest_done(self, submission_id: str) -> dict | None:
        """The latest finished grading of a submission (a regrade in progress leaves the last result shown)."""
        with self.reading() as conn:
            row = conn.execute(select(gradings).where((gradings.c.submission_id == submission_id)
                                                      & (gradings.c.status == DONE))
                               .order_by(gradings.c.round.desc()).limit(1)).mappings().first()
        return dict(row) if row else None

    def queue_position(self, grading_id: int) -> int:
        """How many queued gradings are ahead of this one."""
        with self.reading() as conn:
            return conn.execute(select(func.count()).select_from(gradings).where(
                (gradings.c.status == QUEUED) & (gradings.c.id < grading_id))).scalar()

    def queue_counts(self) -> dict[str, int]:
        with self.reading() as conn:
            rows = conn.execute(select(gradings.c.status, func.count()).group_by(gradings.c.status)).all()
        return {status: count for status, count in rows}

    def events_of(self, submission_id: str) -> list[dict]:
        with self.reading() as conn:
            return [dict(r) for r in conn.execute(select(events).where(events.c.submission_id == submission_id)
                                                  .order_by(events.c.id)).mappings()]

    def add_event(self, submission_id: str, kind: str, detail: str = "") -> None:
        with self.writing() as conn:
            add_event(conn, submission_id, kind, detail)

    def regrade(self, submission_ids: list[str]) -> list[int]:
        """A new grading round for each submission that has none queued or running; the new gradings' ids."""
        created = []
        with self.writing() as conn:
            for ident in submission_ids:
                rounds = conn.execute(select(gradings.c.round, gradings.c.status)
                                      .where(gradings.c.submission_id == ident)).all()
                if not rounds or any(status in (QUEUED, RUNNING) for _, status in rounds):
                    continue
                created.append(conn.execute(insert(gradings).values(
                    submission_id=ident, round=max(r for r, _ in rounds) + 1, status=QUEUED, attempts=0,
                    queued_at=utc_now())).inserted_primary_key[0])
                add_event(conn, ident, "regrade", "queued for grading again")
        return created

    # -- API tokens

    def create_token(self, user_id: int, label: str = "") -> str:
        token = secrets.token_urlsafe(24)
        with self.writing() as conn:
            conn.execute(insert(tokens).values(digest=token_digest(token), user_id=user_id, label=label[:64],
                                               created_at=utc_now()))
        return token

    def user_for_token(self, token: str) -> int | None:
        with self.reading() as conn:
            return conn.execute(select(tokens.c.user_id).where(tokens.c.digest == token_digest(token))).scalar()

    # -- OIDC login state: single use

    def save_login_state(self, state: str, nonce: str, issuer: str, client_id: str, now: float,
                         params: dict) -> None:
        with self.writing() as conn:
            conn.execute(delete(login_states).where(login_states.c.created < now - LOGIN_SECONDS))
            if conn.execute(select(func.count()).select_from(login_states)).scalar() >= MAX_PENDING_LOGINS:
                raise TooManyLogins()
            conn.execute(insert(login_states).values(state=state, nonce=nonce, issuer=issuer, client_id=client_id,
                                                     created=now, params=json.dumps(params)))

    def take_login_state(self, state: str, now: float) -> dict | None:
        """The login started with ``state`` (within LOGIN_SECONDS), removed as it is read: a second
        launch with it finds nothing."""
        with self.writing() as conn:
            row = conn.execute(select(login_states).where(login_states.c.state == state)).mappings().first()
            if row is None:
                return None
            if conn.execute(delete(login_states).where(login_states.c.state == state)).rowcount != 1:
                return None
        if row["created"] < now - LOGIN_SECONDS:
            return None
        return dict(row, params=json.loads(row["params"]))

    # -- scores for the LMS (an outbox the server's poster works through)

    def want_post(self, link_id: int, user_id: int, now: float) -> None:
        with self.writing() as conn:
            want_post(conn, link_id, user_id, now)

    def due_posts(self, now: float, limit: int = 50) -> list[dict]:
        with self.reading() as conn:
            return [dict(r) for r in conn.execute(select(score_posts).where(
                (score_posts.c.status == "pending") & (score_posts.c.next_try <= now))
                .order_by(score_posts.c.next_try).limit(limit)).mappings()]

    def record_post(self, post_id: int, status: str, detail: str, retry_at: float | None = None) -> None:
        values = {"detail": detail[:500], "updated_at": utc_now(), "tries": score_posts.c.tries + 1}
        if retry_at is None:
            values["status"] = status
        else:
            values["next_try"] = retry_at
        with self.writing() as conn:
            conn.execute(update(score_posts).where(score_posts.c.id == post_id).values(**values))

    def posts_of(self, link_id: int) -> dict[int, dict]:
        with self.reading() as conn:
            return {r["user_id"]: dict(r) for r in conn.execute(select(score_posts).where(
                score_posts.c.link_id == link_id)).mappings()}


class TooManyLogins(Exception):
    """More logins under way than any course makes: someone is flooding the public login address."""


class RateLimited(Exception):
    def __init__(self, count: int, seconds: float, wait: float) -> None:
        super().__init__(f"{count} uploads in {seconds:g} s")
        self.count, self.seconds, self.wait = count, seconds, wait


def _check_rate(conn: Connection, user_id: int, count: int, seconds: float) -> None:
    now = datetime.now(timezone.utc)
    since = datetime.fromtimestamp(now.timestamp() - seconds, timezone.utc).isoformat(timespec="microseconds")
    recent = conn.execute(select(submissions.c.submitted_at).where(
        (submissions.c.user_id == user_id) & (submissions.c.submitted_at >= since))
        .order_by(submissions.c.submitted_at.desc()).limit(count)).scalars().all()
    if len(recent) >= count:
        oldest = datetime.fromisoformat(recent[-1]).timestamp()
        raise RateLimited(count, seconds, max(1.0, oldest + seconds - now.timestamp()))


def want_post(conn: Connection, link_id: int, user_id: int, now: float) -> None:
    """This student's score on this link should be (re)sent; one pending row per student and link."""
    found = conn.execute(select(score_posts.c.id).filter_by(link_id=link_id, user_id=user_id)).scalar()
    values = {"status": "pending", "tries": 0, "next_try": now, "updated_at": utc_now()}
    if found is None:
        conn.execute(insert(score_posts).values(link_id=link_id, user_id=user_id, detail="", **values))
    else:
        conn.execute(update(score_posts).where(score_posts.c.id == found).values(**values))


def add_event(conn: Connection, submission_id: str, kind: str, detail: str = "") -> None:
    conn.execute(insert(events).values(submission_id=submission_id, at=utc_now(), kind=kind, detail=detail[:1000]))
