"""The job table's promises, on SQLite and on a real PostgreSQL: a grading is claimed by one worker at a
time, recorded once, given back when its worker dies, and given up after repeated interruptions."""
import threading
import time

import pytest

from serve_support import postgres_server, requires_serve

pytestmark = requires_serve


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('jobs') / 'grader.sqlite3'}"
    else:
        with postgres_server() as url:
            yield url


@pytest.fixture
def store(database):
    from grader.serve.storage import Store, metadata

    store = Store(database)
    metadata.drop_all(store.engine)
    metadata.create_all(store.engine)
    yield store
    store.close()


def _link_and_user(store, subject="s1", assignment="stage1_autodiff", locale=""):
    from grader.serve.storage import courses, links, users

    course = store.upsert(courses, {"issuer": "test", "context_id": "c"}, {"title": "Course"})
    link = store.upsert(links, {"course_id": course, "resource_link_id": assignment}, {"title": "L"})
    store.update_link(link, assignment_id=assignment)
    user = store.upsert(users, {"issuer": "test", "subject": subject}, {"name": subject, "email": "", "locale": locale})
    store.set_member(user, course, "student")
    return link, user


RESULT = {"score": 3.0, "max_score": 4.0, "tests": [], "extra_data": {}}


def test_each_grading_is_claimed_by_exactly_one_of_many_concurrent_workers(store, database):
    from grader.serve import jobs
    from grader.serve.storage import Store

    link, user = _link_and_user(store)
    queued = {store.add_submission(link, user, f"s{i}.py", b"x = 1\n")[1] for i in range(40)}
    claimed: list[tuple[str, int]] = []

    def worker(name: str) -> None:
        own = Store(database)  # its own connections, as a worker process has
        while taken := jobs.claim_batch(own, name, 30):
            claimed.extend((name, job["id"]) for job in taken)
        own.close()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [ident for _, ident in claimed]
    assert sorted(ids) == sorted(queued), "every grading claimed, none twice"


def test_a_batch_takes_queued_gradings_of_one_assignment_and_language_only(store):
    from grader.serve import jobs

    stage1, ann = _link_and_user(store, "ann", locale="en-US")
    stage2, _ = _link_and_user(store, "ann", "stage2_natural_code", locale="en-US")
    _, kim = _link_and_user(store, "kim", locale="ko-KR")
    order = [(stage1, ann), (stage2, ann), (stage1, kim), (stage1, ann), (stage1, ann), (stage1, ann), (stage1, ann)]
    ids = [store.add_submission(link, user, f"{n}.py", b"x\n")[1] for n, (link, user) in enumerate(order)]
    first = jobs.claim_batch(store, "A", 30)
    assert [job["id"] for job in first] == [ids[0], ids[3], ids[4], ids[5]], "stage 1 in English, four at most"
    assert [job["id"] for job in jobs.claim_batch(store, "B", 30)] == [ids[1]]
    assert [job["id"] for job in jobs.claim_batch(store, "B", 30)] == [ids[2]], "Korean feedback: a session of its own"
    assert [job["id"] for job in jobs.claim_batch(store, "B", 30, ids[6], limit=1)] == [ids[6]]
    assert jobs.claim_batch(store, "C", 30, ids[6]) == [], "a message for a grading already taken finds nothing"


def test_a_result_is_recorded_once_and_only_by_the_lease_holder(store):
    from grader.serve import jobs

    link, user = _link_and_user(store)
    submission, grading = store.add_submission(link, user, "a.py", b"x = 1\n")
    [job] = jobs.claim_batch(store, "A", 30)
    assert job["id"] == grading and job["attempts"] == 1
    assert jobs.claim_batch(store, "B", 30, grading) == [], "a running grading is not claimed again"
    assert not jobs.finish(store, grading, "B", RESULT)
    assert jobs.finish(store, grading, "A", RESULT)
    assert not jobs.finish(store, grading, "A", RESULT), "a second finish records nothing"
    kinds = [e["kind"] for e in store.events_of(submission)]
    assert kinds.count("graded") == 1 and store.grading(grading)["score"] == 3.0


def test_an_expired_lease_is_queued_again_and_the_old_worker_cannot_record(store):
    from grader.serve import jobs

    link, user = _link_and_user(store)
    submission, grading = store.add_submission(link, user, "a.py", b"x = 1\n")
    jobs.claim_batch(store, "A", 0.2)
    assert jobs.requeue_expired(store) == []
    time.sleep(0.3)
    assert jobs.requeue_expired(store) == [grading]
    assert jobs.heartbeat(store, [grading], "A", 30) == 0, "A has lost its lease"
    assert jobs.claim_batch(store, "B", 30)[0]["attempts"] == 2
    assert not jobs.finish(store, grading, "A", RESULT)
    assert jobs.finish(store, grading, "B", RESULT)
    assert [e["kind"] for e in store.events_of(submission)].count("graded") == 1


def test_a_dead_workers_gradings_go_back_at_once(store):
    from grader.serve import jobs

    link, user = _link_and_user(store)
    _, grading = store.add_submission(link, user, "a.py", b"x = 1\n")
    jobs.claim_batch(store, "A", 300)
    assert jobs.release_owner(store, "A", "its worker process ended (signal 9)") == [grading]
    assert store.grading(grading)["status"] == "queued"


def test_a_grading_interrupted_three_times_becomes_an_error(store):
    from grader.serve import jobs

    link, user = _link_and_user(store)
    submission, grading = store.add_submission(link, user, "a.py", b"x = 1\n")
    for attempt in range(jobs.MAX_ATTEMPTS):
        assert jobs.claim_batch(store, f"W{attempt}", 300)[0]["id"] == grading
        jobs.release_owner(store, f"W{attempt}", "killed")
    row = store.grading(grading)
    assert row["status"] == "error" and "interrupted 3 times" in row["error"]
    assert jobs.claim_batch(store, "W9", 300) == []


def test_a_regrade_is_a_new_round_and_never_doubles_a_queued_one(store):
    from grader.serve import jobs

    link, user = _link_and_user(store)
    submission, grading = store.add_submission(link, user, "a.py", b"x = 1\n")
    assert store.regrade([submission]) == [], "already queued"
    jobs.claim_batch(store, "A", 30)
    jobs.finish(store, grading, "A", RESULT)
    created = store.regrade([submission])
    assert len(created) == 1 and store.grading(created[0])["round"] == 2
    assert store.regrade([submission]) == []


def test_the_rate_limit_is_checked_in_the_upload_transaction(store):
    from grader.serve.storage import RateLimited

    link, user = _link_and_user(store)
    for n in range(2):
        store.add_submission(link, user, f"{n}.py", b"x\n", limit=(2, 600))
    with pytest.raises(RateLimited) as limited:
        store.add_submission(link, user, "3.py", b"x\n", limit=(2, 600))
    assert 590 <= limited.value.wait <= 600
    other_link, other = _link_and_user(store, "s2")
    store.add_submission(other_link, other, "x.py", b"x\n", limit=(2, 600))  # another student is not limited


def test_a_login_state_is_single_use_and_expires(store):
    from grader.serve.storage import LOGIN_SECONDS

    now = time.time()
    store.save_login_state("state-1", "nonce-1", "iss", "client", now, {"iss": "iss"})
    assert store.take_login_state("state-1", now)["nonce"] == "nonce-1"
    assert store.take_login_state("state-1", now) is None
    store.save_login_state("state-2", "nonce-2", "iss", "client", now - LOGIN_SECONDS - 1, {})
    assert store.take_login_state("state-2", now) is None


def test_a_recorded_result_always_asks_for_its_lms_post(store):
    from grader.serve import jobs

    link, user = _link_and_user(store)
    _, grading = store.add_submission(link, user, "a.py", b"x = 1\n")
    jobs.claim_batch(store, "A", 30)
    jobs.finish(store, grading, "A", RESULT, post=(link, user))
    assert [(p["link_id"], p["user_id"], p["status"]) for p in store.due_posts(time.time())] == [(link, user, "pending")]


def test_a_flood_of_logins_cannot_grow_the_table_without_end(store, monkeypatch):
    from grader.serve import storage

    monkeypatch.setattr(storage, "MAX_PENDING_LOGINS", 3)
    now = time.time()
    for n in range(3):
        store.save_login_state(f"s{n}", "n", "iss", "client", now, {})
    with pytest.raises(storage.TooManyLogins):
        store.save_login_state("s9", "n", "iss", "client", now, {})
    store.save_login_state("s10", "n", "iss", "client", now + storage.LOGIN_SECONDS + 1, {})  # expired ones make room
    assert store.take_login_state("s10", now + storage.LOGIN_SECONDS + 1) is not None
