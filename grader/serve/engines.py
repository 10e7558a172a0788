"""How workers hear of jobs. The job table (``jobs``) is the truth in both; an engine only carries the news.

- ``EmbeddedEngine``: none besides the table. Workers on this machine poll it (an indexed read, a few
  times a second when idle), so ``grader serve`` alone runs everything, with nothing else installed.
- ``CeleryEngine``: Celery on Redis, for workers on other machines. A message carries a grading id
  only (the bytes stay in the database); ``acks_late`` + ``reject_on_worker_lost``: a message is
  acknowledged after the result is recorded, and one whose worker died goes back to Redis. A message
  that arrives twice, or for a grading another worker already holds, finds it claimed and is dropped.
"""
from __future__ import annotations

import time
import warnings
from typing import Callable

from sqlalchemy import exists, select

from grader.serve.storage import QUEUED, Store, gradings

TASK = "grader.serve.grade"
QUEUE = "dezero-grader"
# Redis gives an unacknowledged message to another worker after this long. It must exceed the longest
# grading (submission_seconds plus start-up); the job table's lease finds a dead worker much sooner.
VISIBILITY_SECONDS = 900

Handler = Callable[[int | None], bool]  # claim and grade one grading (None: the next queued); False if none


class EmbeddedEngine:
    name = "embedded"

    def __init__(self, store: Store, poll_seconds: float = 0.2) -> None:
        self.store, self.poll_seconds = store, poll_seconds

    def publish(self, grading_ids: list[int]) -> None:
        """Nothing to send: a queued row is the message."""

    def consume(self, handle: Handler, stopping: Callable[[], bool]) -> None:
        while not stopping():
            if not (self._any_queued() and handle(None)):
                time.sleep(self.poll_seconds)

    def _any_queued(self) -> bool:
        # A read first: claiming is a write transaction, which an idle poll should not take.
        with self.store.reading() as conn:
            return bool(conn.execute(select(exists().where(gradings.c.status == QUEUED))).scalar())

    def close(self) -> None:
        pass


class CeleryEngine:
    name = "celery"

    def __init__(self, url: str) -> None:
        from celery import Celery

        self.url = url
        self.app = Celery("grader_serve", broker=url, set_as_current=False)
        self.app.conf.update(
            task_default_queue=QUEUE, task_acks_late=True, task_reject_on_worker_lost=True, task_ignore_result=True,
            worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
            broker_transport_options={"visibility_timeout": VISIBILITY_SECONDS}, worker_send_task_events=False,
            task_serializer="json", accept_content=["json"])

    def publish(self, grading_ids: list[int]) -> None:
        for ident in grading_ids:
            self.app.send_task(TASK, args=[int(ident)], queue=QUEUE)

    def consume(self, handle: Handler, stopping: Callable[[], bool]) -> None:
        """A Celery worker in this process, one task at a time in its main thread (the sandbox's
        zygote is a child of the thread that starts it, so grading stays on one long-lived thread)."""
        def grade(grading_id: int) -> None:
            handle(int(grading_id))

        self.app.task(name=TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(grade)
        # Celery warns about root, for the sake of pickled messages; these are JSON only (accept_content),
        # and the grading sandbox needs root for its namespaces and uid drop.
        warnings.filterwarnings("ignore", message="You're running the worker with superuser privileges")
        worker = self.app.Worker(pool="solo", concurrency=1, loglevel="WARNING", quiet=True, without_gossip=True,
                                 without_mingle=True, without_heartbeat=True, queues=[QUEUE], optimization="fair")
        worker.start()

    def close(self) -> None:
        self.app.close()


def engine_for(queue: str, store: Store) -> EmbeddedEngine | CeleryEngine:
    return EmbeddedEngine(store) if queue == "embedded" else CeleryEngine(queue)
