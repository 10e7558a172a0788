"""Nothing is ever lost: a grading process killed with SIGKILL in the middle of a grading, and a whole
service killed with queued and running jobs, and each submission is still graded and recorded exactly once.
The scale-out shape too: Celery on a real Redis, a real PostgreSQL, and a second machine's worker."""
import os
import signal
import time

import httpx
import pytest

from conftest import EXAMPLES
from serve_support import ServeProcess, postgres_server, redis_server, requires_serve, submit, wait_done

pytestmark = [requires_serve, pytest.mark.e2e]

CORRECT = (EXAMPLES / "correct.py").read_bytes()


def slow(seconds: float) -> bytes:
    """A correct submission that takes ``seconds`` to load: long enough to be caught in the middle."""
    return f"import time\ntime.sleep({seconds})\n".encode() + CORRECT


def config_file(folder, **settings) -> str:
    lines = [f'data = "{folder / "data"}"', "lease_seconds = 4"]
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in settings.items()]
    path = folder / "serve.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def running_owner(store, ident: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = store.gradings_of(ident)[0]
        if latest["status"] == "running":
            return latest["lease_owner"]
        time.sleep(0.05)
    raise AssertionError(f"{ident} never ran: {store.gradings_of(ident)}")


def graded_once(store, ident: str) -> dict:
    """The submission's one grading, checked to be recorded once."""
    gradings = store.gradings_of(ident)
    kinds = [event["kind"] for event in store.events_of(ident)]
    assert len(gradings) == 1 and gradings[0]["status"] == "done", gradings
    assert kinds.count("graded") == 1, kinds
    return gradings[0]


def test_a_worker_killed_mid_grade_leaves_its_job_to_be_graded_again_exactly_once(tmp_path):
    from grader.serve.storage import Store

    with ServeProcess("--config", config_file(tmp_path, workers=2), "--demo") as server:
        store = Store(f"sqlite:///{tmp_path / 'data' / 'grader.sqlite3'}")
        ident = submit(httpx, server.url, server.students[0], "dezero_stage1.py", slow(3)).json()["id"]
        owner = running_owner(store, ident)
        victim = server.workers()[owner]
        os.kill(victim, signal.SIGKILL)
        done = wait_done(httpx, server.url, server.instructor, ident)
        assert done["status"] == "done" and done["result"]["score"] == 65
        grading = graded_once(store, ident)
        assert grading["attempts"] == 2 and grading["lease_owner"] is None
        kinds = [event["kind"] for event in store.events_of(ident)]
        assert kinds.count("requeued") == 1 and kinds.count("grading") == 2
        deadline = time.monotonic() + 20
        while len(server.workers()) != 2 or victim in server.workers().values():
            assert time.monotonic() < deadline, "the dead worker was replaced"
            time.sleep(0.1)
        store.close()


def test_a_killed_service_loses_no_queued_or_running_job(tmp_path):
    from grader.serve.storage import Store

    config = config_file(tmp_path, workers=2)
    first = ServeProcess("--config", config, "--demo").start()
    kinds = [slow(2), CORRECT, slow(1), CORRECT, (EXAMPLES / "syntax_error.py").read_bytes(), slow(2)]
    sent = [submit(httpx, first.url, first.students[n % 2], "dezero_stage1.py", data).json()["id"]
            for n, data in enumerate(kinds)]
    workers = list(first.workers().values())
    first.kill()  # SIGKILL: no shutdown at all, with jobs queued and one running
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in workers):
        assert time.monotonic() < deadline, "a grading process outlived its service"
        time.sleep(0.05)
    with ServeProcess("--config", config, "--demo") as second:
        for ident in sent:
            assert wait_done(httpx, second.url, first.instructor, ident)["status"] == "done"
        store = Store(f"sqlite:///{tmp_path / 'data' / 'grader.sqlite3'}")
        for ident in sent:
            graded_once(store, ident)
        store.close()


@pytest.fixture(scope="module")
def scale_out():
    with redis_server() as redis, postgres_server() as database:
        yield redis, database


def test_two_workers_on_two_machines_share_a_redis_queue_and_survive_a_kill(tmp_path, scale_out):
    """The web machine runs one grading process, "another machine" (grader serve --worker) one more;
    both pull from Redis (Celery) and record in PostgreSQL."""
    from grader.serve.storage import Store

    redis, database = scale_out
    config = config_file(tmp_path, workers=1, queue=redis, database=database)
    with ServeProcess("--config", config, "--demo") as server, \
            ServeProcess("--config", config, "--worker", "--workers", "1") as other:
        store = Store(database)
        ident = submit(httpx, server.url, server.students[0], "dezero_stage1.py", slow(6)).json()["id"]
        owner = running_owner(store, ident)
        quick = [submit(httpx, server.url, server.students[1], "dezero_stage1.py", CORRECT).json()["id"]
                 for _ in range(4)]
        for each in quick:
            assert wait_done(httpx, server.url, server.instructor, each, timeout=60)["result"]["score"] == 65
        assert store.gradings_of(ident)[0]["status"] == "running", "the quick ones went to the other worker"
        assert {store.gradings_of(each)[0]["attempts"] for each in quick} == {1}
        assert {store.events_of(each)[-2]["detail"].split(" by ")[1] for each in quick} != {owner}
        processes = {**server.workers(), **other.workers()}
        os.kill(processes[owner], signal.SIGKILL)
        assert wait_done(httpx, server.url, server.instructor, ident, timeout=90)["result"]["score"] == 65
        assert graded_once(store, ident)["attempts"] == 2
        for each in quick:
            graded_once(store, each)
        store.close()
