"""Uploads against faithful local doubles on 127.0.0.1 (tests/lms_doubles.py)."""
import time
from dataclasses import replace
from datetime import datetime, timezone
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from grader.errors import GraderError
from grader.lms.canvas import CanvasUploader
from grader.lms.lti import LtiConfig, LtiUploader, scores_url
from grader.lms.posting import PostedState
from lms_doubles import CanvasDouble, LtiDouble


def rows(n=25, missing_id=None):
    out = []
    for i in range(n):
        out.append({"student": f"s{i:02d}", "name": f"S {i}", "canvas_user_id": str(100 + i), "email": f"s{i}@x.edu",
                    "score": 40.0 + (i % 3), "max_score": 65.0, "final_score": 40.0 + (i % 3), "status": "graded",
                    "days_late": 0, "penalty_percent": 0.0, "reason": ""})
    out.append({"student": "absent", "canvas_user_id": "999", "email": "", "score": 0, "max_score": 65.0,
                "final_score": 0.0, "status": "missing", "reason": "no submission"})
    return out


def uploader(double, token="secret-token"):
    return CanvasUploader(double.url, "7", "99", token, sleep=lambda seconds: None)


def test_canvas_posts_in_bulk_polls_progress_and_paginates(tmp_path):
    students = [str(100 + i) for i in range(25)]
    with CanvasDouble("secret-token", students, page_size=10) as canvas:
        report = uploader(canvas).upload(rows(), PostedState(tmp_path / "state.json"), say=lambda _: None)
        assert report.count("posted") == 25 and report.outcomes["absent"][0] == "skipped"
        assert canvas.grades["101"]["posted_grade"] == "41" and canvas.comments["101"] == ["Autograder: 41/65"]
        user_pages = [r for r in canvas.requests if r["method"] == "GET" and "/users" in r["path"]]
        assert len(user_pages) == 3  # 25 students, 10 per page, Link rel="next" followed
        [post] = [r for r in canvas.requests if r["method"] == "POST"]
        keys = set(parse_qs(post["body"].decode()))
        assert "grade_data[100][posted_grade]" in keys and "grade_data[100][text_comment]" in keys


def test_canvas_rerun_sends_only_what_changed(tmp_path):
    students = [str(100 + i) for i in range(25)]
    state = tmp_path / "state.json"
    with CanvasDouble("secret-token", students) as canvas:
        uploader(canvas).upload(rows(), PostedState(state), say=lambda _: None)
        posts = canvas.posts
        again = uploader(canvas).upload(rows(), PostedState(state), say=lambda _: None)
        assert canvas.posts == posts and again.count("unchanged") == 25
        changed = rows()
        changed[3]["final_score"] = 55.0
        third = uploader(canvas).upload(changed, PostedState(state), say=lambda _: None)
        assert third.count("posted") == 1 and canvas.grades["103"]["posted_grade"] == "55"


def test_canvas_survives_throttling(tmp_path):
    with CanvasDouble("secret-token", [str(100 + i) for i in range(25)], throttle=3) as canvas:
        report = uploader(canvas).upload(rows(), PostedState(tmp_path / "s.json"), say=lambda _: None)
        assert report.count("posted") == 25
        assert sum(1 for r in canvas.requests if r["method"] == "GET") >= 6


def test_canvas_bad_token_is_one_clear_error(tmp_path):
    with CanvasDouble("secret-token", ["100"]) as canvas:
        with pytest.raises(GraderError, match="401.*CANVAS_TOKEN"):
            uploader(canvas, token="wrong").upload(rows(1), PostedState(tmp_path / "s.json"), say=lambda _: None)
    with pytest.raises(GraderError, match="CANVAS_TOKEN is not set"):
        CanvasUploader("http://127.0.0.1:9", "7", "99", "")


def test_canvas_unknown_students_reported_not_posted(tmp_path):
    # 110 and 111 are in the batch but not in the course; 112 is listed by Canvas but then not found.
    listed = [str(100 + i) for i in range(25) if i not in (10, 11)]
    with CanvasDouble("secret-token", listed) as canvas:
        canvas.students = listed  # the listing
        up = uploader(canvas)
        up._students = lambda: set(listed) | {"112"}  # Canvas lists 112 ...
        canvas.students = [s for s in listed if s != "112"]  # ... but the job cannot find it
        report = up.upload(rows(), PostedState(tmp_path / "s.json"), say=lambda _: None)
        assert report.outcomes["s10"][0] == "unknown" and report.outcomes["s12"][0] == "unknown"
        assert report.count("posted") == 22 and "112" not in canvas.grades and "113" in canvas.grades


def test_canvas_network_error_midway_reports_nothing_false(tmp_path):
    students = [str(100 + i) for i in range(120)]
    many = rows(120)
    state = tmp_path / "s.json"
    with CanvasDouble("secret-token", students, drop_post=2, page_size=100) as canvas:
        up = uploader(canvas)
        report = up.upload(many, PostedState(state), say=lambda _: None)
        posted = {s for s, (status, _) in report.outcomes.items() if status == "posted"}
        assert 0 < len(posted) < 120
        assert {f"s{int(uid) - 100:02d}" for uid in canvas.grades} == posted  # posted == what Canvas holds
        assert report.count("failed") == 120 - len(posted)
        resumed = uploader(canvas).upload(many, PostedState(state), say=lambda _: None)
        assert resumed.count("posted") == 120 - len(posted) and len(canvas.grades) == 120


def test_canvas_dry_run_sends_nothing_and_needs_no_token(tmp_path):
    lines = []
    with CanvasDouble("secret-token", ["100"]) as canvas:
        report = uploader(canvas).upload(rows(1), PostedState(tmp_path / "s.json"), dry_run=True, say=lines.append)
        assert canvas.requests == [] and report.count("dry-run") == 1
        tokenless = CanvasUploader(canvas.url, "7", "99", "", dry_run=True)
        assert tokenless.upload(rows(1), PostedState(tmp_path / "t.json"), dry_run=True, say=lines.append).count("dry-run") == 1
        assert canvas.requests == []
    assert "grade_data[100][posted_grade]=40" in lines[0] and "secret-token" not in lines[0]


def test_canvas_scales_to_points_possible_and_never_above(tmp_path):
    full = dict(rows(1)[0], score=65.0, final_score=65.0)
    with CanvasDouble("secret-token", ["100", "101"], points_possible=10.0) as canvas:
        second = dict(rows(2)[1], final_score=41.0)
        report = uploader(canvas).upload([full, second], PostedState(tmp_path / "s.json"), say=lambda _: None)
        assert report.count("posted") == 2
        assert canvas.grades["100"]["posted_grade"] == "10" and canvas.grades["101"]["posted_grade"] == "6.3077"
        assert canvas.comments["101"] == ["Autograder: 41/65 (= 6.3077/10)"]


def late_assignment(assignment, applied_by):
    return replace(assignment, due=datetime(2026, 11, 1, tzinfo=timezone.utc),
                   late_policy={"percent_per_day": 10.0, "max_percent": 50.0, "grace_hours": 0.0,
                                "applied_by": applied_by})


CANVAS_LATE_POLICY = {"late_submission_deduction_enabled": True, "late_submission_deduction": 5.0,
                      "late_submission_interval": "day", "missing_submission_deduction_enabled": False}


def test_canvas_late_policy_kit_uses_seconds_late_and_warns_when_canvas_deducts_too(tmp_path, assignment):
    said = []
    # 100: 2 hours late by Canvas's clock, with no LATE marker; 101: a LATE marker, but on time for Canvas.
    marked = [dict(r, late="yes" if r["student"] == "s01" else "") for r in rows(2)]
    with CanvasDouble("secret-token", ["100", "101"], seconds_late={"100": 7200}, late_policy=CANVAS_LATE_POLICY) as canvas:
        uploader(canvas).upload(marked, PostedState(tmp_path / "s.json"), say=said.append,
                                assignment=late_assignment(assignment, "kit"))
        assert canvas.grades["100"]["posted_grade"] == "36"  # 40 less the kit's 10 % for one started day
        assert canvas.grades["101"]["posted_grade"] == "41"  # no penalty: Canvas says it was on time
        assert canvas.grades["100"]["score"] == 36 - 65 * 0.05  # and Canvas deducts again: what the warning says
    assert any("late policy deducts too" in line for line in said)


def test_canvas_late_policy_lms_posts_raw_scores_so_only_canvas_deducts(tmp_path, assignment):
    said = []
    with CanvasDouble("secret-token", ["100"], seconds_late={"100": 7200}, late_policy=CANVAS_LATE_POLICY) as canvas:
        uploader(canvas).upload(rows(1), PostedState(tmp_path / "s.json"), say=said.append,
                                assignment=late_assignment(assignment, "lms"))
        assert canvas.grades["100"] == {"posted_grade": "40", "score": 40 - 65 * 0.05}
    assert not any("deducts too" in line for line in said)


def test_canvas_group_gets_one_comment_each_and_every_member_a_grade(tmp_path):
    leader = dict(rows(1)[0], group="team-a")
    member = dict(rows(2)[1], final_score=40.0, group="team-a", group_of="s00")
    with CanvasDouble("secret-token", ["100", "101", "102"], groups=[["100", "101", "102"]]) as canvas:
        report = uploader(canvas).upload([leader, member], PostedState(tmp_path / "s.json"), say=lambda _: None)
        assert report.count("posted") == 2
        assert {uid: g["posted_grade"] for uid, g in canvas.grades.items()} == {"100": "40", "101": "40", "102": "40"}
        assert all(canvas.comments[uid] == ["Autograder: 40/65"] for uid in ("100", "101", "102"))


def test_canvas_inactive_students_are_graded_not_unknown(tmp_path):
    with CanvasDouble("secret-token", ["100", "101"], inactive=["101"]) as canvas:
        report = uploader(canvas).upload(rows(2), PostedState(tmp_path / "s.json"), say=lambda _: None)
        assert report.count("posted") == 2 and "101" in canvas.grades


def test_canvas_refused_progress_is_reported_per_student_not_a_traceback(tmp_path):
    said = []
    with CanvasDouble("secret-token", ["100", "101"], progress_status=403) as canvas:
        report = uploader(canvas).upload(rows(2), PostedState(tmp_path / "s.json"), say=said.append)
    assert report.count("failed") == 2 and "403" in said[-1]


def test_canvas_wrong_address_fails_fast_with_one_line(tmp_path):
    started = time.monotonic()
    with pytest.raises(GraderError, match="cannot connect to http://127.0.0.1:9"):
        CanvasUploader("http://127.0.0.1:9", "7", "99", "t", sleep=lambda s: None).upload(
            rows(1), PostedState(tmp_path / "s.json"), say=lambda _: None)
    assert time.monotonic() - started < 10
    with pytest.raises(GraderError, match="not an address"):
        CanvasUploader("canvas.example.edu", "7", "99", "t")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "tool.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, public


def lti(double, key_path, **settings):
    config = LtiConfig(client_id="tool-1", key_file=key_path, token_url=double.token_url, **settings)
    if "lineitem" not in settings and "lineitems" not in settings:
        config.lineitem = double.lineitem
    if "user_id_column" not in settings and "memberships" not in settings:
        config.user_id_column = "email"
    return LtiUploader(config, sleep=lambda seconds: None)


def test_scores_url_keeps_the_query_after_the_path():
    assert scores_url("https://lms/x/lineitem?type_id=3") == "https://lms/x/lineitem/scores?type_id=3"
    assert scores_url("https://lms/x/lineitem/") == "https://lms/x/lineitem/scores"


@pytest.mark.parametrize("flavour", ["moodle", "canvas"])
def test_lti_posts_signed_scores_and_reruns_send_nothing(tmp_path, keys, flavour):
    key_path, public = keys
    users = [f"s{i}@x.edu" for i in range(5)]
    state = tmp_path / "lti.json"
    with LtiDouble("tool-1", public, users, flavour=flavour) as platform:
        report = lti(platform, key_path).upload(rows(5), PostedState(state), say=lambda _: None)
        assert report.count("posted") == 5 and platform.scores["s1@x.edu"]["scoreGiven"] == 41.0
        score = platform.scores["s1@x.edu"]
        assert score["activityProgress"] == "Completed" and score["gradingProgress"] == "FullyGraded"
        assert score["scoreMaximum"] == 65.0 and score["comment"].startswith("Autograder")
        sent = len(platform.requests)
        again = lti(platform, key_path).upload(rows(5), PostedState(state), say=lambda _: None)
        assert again.count("unchanged") == 5 and len(platform.requests) == sent


def test_lti_moodle_stale_and_invalid_answers_are_per_student_and_the_run_goes_on(tmp_path, keys):
    # Moodle answers 409 and 400 with the body "[]": the reason is only in the status line.
    key_path, public = keys
    users = ["s0@x.edu", "s2@x.edu"]
    with LtiDouble("tool-1", public, users, flavour="moodle") as platform:
        platform.scores["s0@x.edu"] = {"timestamp": "2999-01-01T00:00:00.000000+00:00"}
        up = lti(platform, key_path)
        up.now = lambda: datetime(2026, 1, 1, tzinfo=timezone.utc)
        report = up.upload(rows(3), PostedState(tmp_path / "s.json"), say=lambda _: None)
    assert report.outcomes["s00"][0] == "stale" and "Refusing score" in report.outcomes["s00"][1]
    assert report.outcomes["s01"][0] == "invalid" and "Incorrect score received" in report.outcomes["s01"][1]
    assert report.outcomes["s02"][0] == "posted" and "s2@x.edu" in platform.scores


def test_lti_canvas_stale_and_unknown_user(tmp_path, keys):
    key_path, public = keys
    with LtiDouble("tool-1", public, ["s0@x.edu"], flavour="canvas") as platform:
        platform.scores["s0@x.edu"] = {"timestamp": "2999-01-01T00:00:00.000000+00:00"}
        up = lti(platform, key_path)
        up.now = lambda: datetime(2026, 1, 1, tzinfo=timezone.utc)
        report = up.upload(rows(2), PostedState(tmp_path / "s.json"), say=lambda _: None)
        assert report.outcomes["s00"][0] == "stale" and report.outcomes["s01"][0] == "unknown"


def test_lti_scores_do_not_make_late_canvas_submissions(tmp_path, keys):
    # Canvas makes every score post a new submission "now" (late after the due date) unless the
    # post says new_submission: false; submittedAt carries the real time.
    key_path, public = keys
    due = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with LtiDouble("tool-1", public, ["s0@x.edu"], flavour="canvas", due=due) as platform:
        row = dict(rows(1)[0], submitted_at="2026-10-31T12:00:00+00:00")
        config = lti(platform, key_path, platform="canvas").config
        report = LtiUploader(config).upload([row], PostedState(tmp_path / "s.json"), say=lambda _: None)
        sent = platform.scores["s0@x.edu"]
    assert report.count("posted") == 1 and platform.submissions == {}
    assert sent["submission"]["submittedAt"].startswith("2026-10-31T12:00:00")
    assert sent["https://canvas.instructure.com/lti/submission"]["new_submission"] is False


def lti_route(platform, key_path, **settings):
    """The route from only issuer, client id, key, the course's context and a roster of emails."""
    context = {"moodle": dict(context_id="2", type_id="3"), "canvas": dict(context_id="7")}[platform.flavour]
    config = LtiConfig(client_id="tool-1", key_file=key_path, token_url="", issuer=platform.url,
                       platform=platform.flavour, **context, **settings).derived()
    return LtiUploader(config, sleep=lambda seconds: None)


@pytest.mark.parametrize("flavour", ["moodle", "canvas"])
def test_lti_finds_users_by_email_and_creates_the_line_item(tmp_path, keys, flavour):
    key_path, public = keys
    members = [{"user_id": f"lti-{i}", "email": f"S{i}@X.edu", "status": "Active", "roles": ["Learner"]}
               for i in range(5)]
    assignment = SimpleNamespace(id="stage1_autodiff", title="DeZero stage 1")
    with LtiDouble("tool-1", public, [m["user_id"] for m in members], flavour=flavour, members=members,
                   fail_gets=1) as platform:
        lines = []
        dry = lti_route(platform, key_path)
        assert dry.find_lineitem(assignment, rows(5), create=False, say=lines.append) == ""
        assert "would create line item" in lines[-1] and '"resourceId": "stage1_autodiff"' in lines[-1]
        report = dry.upload(rows(5), PostedState(tmp_path / "d.json"), dry_run=True, say=lines.append)
        assert report.count("dry-run") == 5 and platform.scores == {} and len(platform.lineitems) == 1
        up = lti_route(platform, key_path)
        item = up.find_lineitem(assignment, rows(5), create=True, say=lines.append)
        report = up.upload(rows(5), PostedState(tmp_path / "s.json"), say=lambda _: None)
        assert report.count("posted") == 5 and platform.scores["lti-3"]["scoreGiven"] == 40.0
        again = lti_route(platform, key_path).find_lineitem(assignment, rows(5), create=True, say=lines.append)
        assert again == item and len(platform.lineitems) == 2  # found by resourceId, not created twice
        # 5 members on pages of 2, through a mixed-case opaque next link
        assert sum("PaGe=3" in r["path"] for r in platform.requests) >= 1


def test_lti_scores_are_scaled_to_the_line_items_maximum(tmp_path, keys):
    key_path, public = keys
    with LtiDouble("tool-1", public, ["s0@x.edu"], flavour="canvas") as platform:
        platform.lineitems[5]["scoreMaximum"] = 10.0
        up = lti(platform, key_path)
        assert up.find_lineitem(SimpleNamespace(id="a", title="A"), rows(1), create=False, say=lambda _: None)
        report = up.upload([dict(rows(1)[0], final_score=65.0)], PostedState(tmp_path / "s.json"), say=lambda _: None)
        sent = platform.scores["s0@x.edu"]
    assert report.count("posted") == 1 and (sent["scoreGiven"], sent["scoreMaximum"]) == (10.0, 10.0)


def test_lti_token_audience_is_configurable(tmp_path, keys):
    key_path, public = keys
    with LtiDouble("tool-1", public, ["s0@x.edu"], audience="https://platform.example/auth") as platform:
        with pytest.raises(GraderError, match="invalid_client"):
            lti(platform, key_path).upload(rows(1), PostedState(tmp_path / "a.json"), say=lambda _: None)
        report = lti(platform, key_path, audience="https://platform.example/auth").upload(
            rows(1), PostedState(tmp_path / "b.json"), say=lambda _: None)
        assert report.count("posted") == 1


def test_lti_server_errors_on_a_score_post_are_not_retried_blindly(tmp_path, keys, monkeypatch):
    key_path, public = keys
    with LtiDouble("tool-1", public, ["s0@x.edu", "s1@x.edu"]) as platform:
        up = lti(platform, key_path)
        original = platform.httpd.RequestHandlerClass._score
        calls = []

        def flaky(handler, body, item):
            calls.append(1)
            if len(calls) == 1:
                handler._send(503, b"busy", "text/plain")
                return
            original(handler, body, item)

        monkeypatch.setattr(platform.httpd.RequestHandlerClass, "_score", flaky)
        report = up.upload(rows(2), PostedState(tmp_path / "s.json"), say=lambda _: None)
    assert report.outcomes["s00"][0] == "failed" and report.outcomes["s01"][0] == "posted" and len(calls) == 2


def test_lti_wrong_key_is_refused_and_the_key_is_never_shown(tmp_path, keys):
    key_path, public = keys
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    with LtiDouble("tool-1", public, ["s0@x.edu"]) as platform:
        with pytest.raises(GraderError) as error:
            lti(platform, wrong).upload(rows(1), PostedState(tmp_path / "s.json"), say=lambda _: None)
    assert "invalid_client" in str(error.value) and "PRIVATE KEY" not in str(error.value)


def test_lti_timestamps_strictly_increase(keys, tmp_path):
    key_path, public = keys
    with LtiDouble("tool-1", public, []) as platform:
        up = lti(platform, key_path)
        fixed = datetime(2026, 1, 1, tzinfo=timezone.utc)
        up.now = lambda: fixed
        stamps = [up._timestamp() for _ in range(3)]
    assert stamps == sorted(set(stamps)) and all("." in s and s.endswith("+00:00") for s in stamps)


def test_lti_fetches_a_new_token_when_the_old_one_expires(tmp_path, keys):
    key_path, public = keys
    users = [f"s{i}@x.edu" for i in range(5)]
    with LtiDouble("tool-1", public, users, expire_tokens_after=2) as platform:
        report = lti(platform, key_path).upload(rows(5), PostedState(tmp_path / "s.json"), say=lambda _: None)
        token_requests = [r for r in platform.requests if r["path"] == "/mod/lti/token.php"]
    assert report.count("posted") == 5 and len(platform.scores) == 10 and len(token_requests) == 2
