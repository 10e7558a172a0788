"""A grading's life in the job table (``storage.gradings``): queued → running (claimed, with a lease) →
done or error. This is what makes "nothing is ever lost, nothing is graded twice" true whatever the
queue engine does:

- a worker claims a grading with one conditional UPDATE (a lease: owner + expiry); two workers can
  never both hold it, and a message delivered twice (Celery redelivers, the reaper re-sends) finds it
  claimed or done and is dropped;
- while grading, the worker's heartbeat extends the lease; a worker killed with SIGKILL stops
  extending it, and ``requeue_expired`` (the server's reaper) or ``release_owner`` (the supervisor,
  which saw the process die) puts the grading back in the queue;
- the result is written by ``finish`` only if the worker still holds the lease: a worker that lost it
  (thought dead, then woke up) writes nothing, so each grading is recorded once.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import select, update

from grader.serve.storage import (DONE, ERROR, QUEUED, RUNNING, Store, add_event, gradings, links, submissions, users,
                                  utc_now, want_post)
from grader.serve.texts import asked_language

# A grading interrupted this many times (its worker died each time) is recorded as an error, not tried forever.
MAX_ATTEMPTS = 3
# When a queue has built up, a worker takes up to this many gradings of one assignment and language at once and
# grades them in one pytest session: about 1.6x the throughput of one at a time (benchmarks/README.md). Without
# a queue there is only one to take, so a lone upload never waits for others.
BATCH = 4
LOOKAHEAD = 32  # queued gradings looked at for batch-mates


def claim_batch(store: Store, owner: str, lease: float, first: int | None = None, limit: int = BATCH) -> list[dict]:
    """Grading ``first`` (or the oldest queued one) and up to ``limit - 1`` more queued gradings of the same
    assignment and feedback language, all now running under ``owner``'s lease; [] if ``first`` is not queued."""
    with store.writing() as conn:
        if first is None:
            first = conn.execute(select(gradings.c.id).where(gradings.c.status == QUEUED).order_by(gradings.c.id)
                                 .limit(1).with_for_update(skip_locked=True)).scalar()
        found = conn.execute(_with_key(select(gradings.c.id)).where(gradings.c.id == first)).first() if first else None
        if found is None:
            return []
        ids = [first]
        if limit > 1:
            queued = conn.execute(_with_key(select(gradings.c.id))
                                  .where((gradings.c.status == QUEUED) & (gradings.c.id != first))
                                  .order_by(gradings.c.id).limit(LOOKAHEAD)
                                  .with_for_update(of=gradings, skip_locked=True)).all()
            ids += [row.id for row in queued if _key(row) == _key(found)][:limit - 1]
        return [row for row in (_take(conn, ident, owner, lease) for ident in ids) if row is not None]


def _with_key(query):
    """Each grading's batch key: its link's assignment and its student's language."""
    return (query.add_columns(links.c.assignment_id, users.c.locale)
            .join(submissions, submissions.c.id == gradings.c.submission_id)
            .join(links, links.c.id == submissions.c.link_id).join(users, users.c.id == submissions.c.user_id))


def _key(row) -> tuple:
    return row.assignment_id, asked_language(row.locale)


def _take(conn, grading_id: int, owner: str, lease: float) -> dict | None:
    taken = conn.execute(update(gradings).where((gradings.c.id == grading_id) & (gradings.c.status == QUEUED))
                         .values(status=RUNNING, lease_owner=owner, lease_expires=time.time() + lease,
                                 attempts=gradings.c.attempts + 1, started_at=utc_now()))
    if taken.rowcount != 1:
        return None
    row = dict(conn.execute(select(gradings).where(gradings.c.id == grading_id)).mappings().first())
    add_event(conn, row["submission_id"], "grading", f"round {row['round']}, attempt {row['attempts']} by {owner}")
    return row


def heartbeat(store: Store, grading_ids: list[int], owner: str, lease: float) -> int:
    """Extend the leases; how many this worker still holds."""
    with store.writing() as conn:
        return conn.execute(update(gradings).where(
            gradings.c.id.in_(grading_ids) & (gradings.c.status == RUNNING) & (gradings.c.lease_owner == owner))
            .values(lease_expires=time.time() + lease)).rowcount


def finish(store: Store, grading_id: int, owner: str, result: dict, *, post: tuple[int, int] | None = None) -> bool:
    """Record the result, once: only while ``owner`` holds the lease. False if it no longer does.

    ``post`` (link id, user id): in the same transaction, ask for that student's LMS score to be sent,
    so a recorded result never misses its post, whenever the process dies."""
    with store.writing() as conn:
        done = conn.execute(update(gradings).where(_held(grading_id, owner)).values(
            status=DONE, result=json.dumps(result, ensure_ascii=False), score=float(result["score"]),
            max_score=float(result["max_score"]), finished_at=utc_now(), lease_owner=None, lease_expires=None))
        if done.rowcount != 1:
            return False
        submission = conn.execute(select(gradings.c.submission_id).where(gradings.c.id == grading_id)).scalar()
        add_event(conn, submission, "graded", f"score {result['score']:g}/{result['max_score']:g}")
        if post is not None:
            want_post(conn, *post, time.time())
    return True


def fail(store: Store, grading_id: int, owner: str, why: str) -> bool:
    """The grading could not be done at all (the grader's fault, never the student's); recorded once."""
    with store.writing() as conn:
        done = conn.execute(update(gradings).where(_held(grading_id, owner)).values(
            status=ERROR, error=why[:1000], finished_at=utc_now(), lease_owner=None, lease_expires=None))
        if done.rowcount != 1:
            return False
        submission = conn.execute(select(gradings.c.submission_id).where(gradings.c.id == grading_id)).scalar()
        add_event(conn, submission, "error", why)
    return True


def _held(grading_id: int, owner: str):
    return (gradings.c.id == grading_id) & (gradings.c.status == RUNNING) & (gradings.c.lease_owner == owner)


def release_owner(store: Store, owner: str, why: str) -> list[int]:
    """Every grading ``owner`` was running goes back to the queue (its process is known to be dead)."""
    with store.writing() as conn:
        held = conn.execute(select(gradings.c.id).where((gradings.c.status == RUNNING)
                                                        & (gradings.c.lease_owner == owner))).scalars().all()
        return [ident for ident in held if _requeue(conn, ident, why)]


def requeue_expired(store: Store, now: float | None = None) -> list[int]:
    """Gradings whose worker stopped renewing its lease go back to the queue; the re-queued ids."""
    now = time.time() if now is None else now
    with store.writing() as conn:
        expired = conn.execute(select(gradings.c.id).where((gradings.c.status == RUNNING)
                                                           & (gradings.c.lease_expires < now))).scalars().all()
        return [ident for ident in expired if _requeue(conn, ident, "its worker stopped (lease expired)")]


def _requeue(conn, grading_id: int, why: str) -> bool:
    """Back to the queue, or an error after MAX_ATTEMPTS interrupted attempts. True if queued again."""
    row = conn.execute(select(gradings).where(gradings.c.id == grading_id)).mappings().first()
    if row["attempts"] >= MAX_ATTEMPTS:
        reason = f"grading was interrupted {row['attempts']} times ({why}); not tried again"
        conn.execute(update(gradings).where((gradings.c.id == grading_id) & (gradings.c.status == RUNNING)).values(
            status=ERROR, error=reason, finished_at=utc_now(), lease_owner=None, lease_expires=None))
        add_event(conn, row["submission_id"], "error", reason)
        return False
    moved = conn.execute(update(gradings).where((gradings.c.id == grading_id) & (gradings.c.status == RUNNING))
                         .values(status=QUEUED, lease_owner=None, lease_expires=None))
    if moved.rowcount == 1:
        add_event(conn, row["submission_id"], "requeued", why)
    return moved.rowcount == 1


def queued_ids(store: Store) -> list[int]:
    with store.reading() as conn:
        return conn.execute(select(gradings.c.id).where(gradings.c.status == QUEUED)
                            .order_by(gradings.c.id)).scalars().all()
