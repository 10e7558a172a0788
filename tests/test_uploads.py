"""Uploads against faithful local doubles on 127.0.0.1 (tests/lms_doubles.py)."""
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from grader.errors import GraderError
from grader.uploads import CanvasUploader, LtiConfig, LtiUploader, PostedState, scores_url
from lms_doubles import CanvasDouble, LtiDouble


def rows(n=25, missing_id=None):
    out = []
    for i in range(n):
        out.append({"student": f"s{i:02d}", "name": f"S {i}", "canvas_user_id": str(100 + i), "email": f"s{i}@x.edu",
                    "score": 40.0 + (i % 3), "max_score": 56.0, "final_score": 40.0 + (i % 3), "status": "graded",
                    "days_late": 0, "penalty_percent": 0.0, "reason": ""})
    out.append({"student": "absent", "canvas_user_id": "999", "email": "", "score": 0, "max_score": 56.0,
                "final_score": 0.0, "status": "missing", "reason": "no submission"})
    return out


def uploader(double, token="secret-token"):
    return CanvasUploader(double.url, "7", "99", token, sleep=lambda seconds: None)


def test_canvas_posts_in_bulk_polls_progress_and_paginates(tmp_path):
    students = [str(100 + i) for i in range(25)]
    with CanvasDouble("secret-token", students, page_size=10) as canvas:
        report = uploader(canvas).upload(rows(), PostedState(tmp_path / "state.json"), say=lambda _: None)
        assert report.count("posted") == 25 and report.outcomes["absent"][0] == "skipped"
        assert canvas.grades["101"] == {"posted_grade": "41"} and canvas.comments["101"] == ["Autograder: 41/56"]
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
        assert sum(1 for r in canvas.requests if r["method"] == "GET") >= 4


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


def test_canvas_dry_run_sends_nothing(tmp_path):
    lines = []
    with CanvasDouble("secret-token", ["100"]) as canvas:
        report = uploader(canvas).upload(rows(1), PostedState(tmp_path / "s.json"), dry_run=True, say=lines.append)
        assert canvas.requests == [] and report.count("dry-run") == 1
    assert "grade_data[100][posted_grade]=40" in lines[0] and "secret-token" not in lines[0]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "tool.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, public


def lti(double, key_path):
    config = LtiConfig(client_id="tool-1", key_file=key_path, token_url=double.token_url, lineitem=double.lineitem,
                       user_id_column="email")
    return LtiUploader(config)


def test_scores_url_keeps_the_query_after_the_path():
    assert scores_url("https://lms/x/lineitem?type_id=3") == "https://lms/x/lineitem/scores?type_id=3"
    assert scores_url("https://lms/x/lineitem/") == "https://lms/x/lineitem/scores"


@pytest.mark.parametrize("stale_status", [400, 409])
def test_lti_posts_signed_scores_and_reruns_send_nothing(tmp_path, keys, stale_status):
    key_path, public = keys
    users = [f"s{i}@x.edu" for i in range(5)]
    state = tmp_path / "lti.json"
    with LtiDouble("tool-1", public, users, stale_status=stale_status) as platform:
        report = lti(platform, key_path).upload(rows(5), PostedState(state), say=lambda _: None)
        assert report.count("posted") == 5 and platform.scores["s1@x.edu"]["scoreGiven"] == 41.0
        score = platform.scores["s1@x.edu"]
        assert score["activityProgress"] == "Completed" and score["gradingProgress"] == "FullyGraded"
        assert score["scoreMaximum"] == 56.0 and score["comment"].startswith("Autograder")
        sent = len(platform.requests)
        again = lti(platform, key_path).upload(rows(5), PostedState(state), say=lambda _: None)
        assert again.count("unchanged") == 5 and len(platform.requests) == sent


def test_lti_stale_timestamp_and_unknown_user_are_reported(tmp_path, keys):
    from datetime import datetime, timezone

    key_path, public = keys
    with LtiDouble("tool-1", public, ["s0@x.edu"], stale_status=409) as platform:
        platform.scores["s0@x.edu"] = {"timestamp": "2999-01-01T00:00:00.000000+00:00"}
        up = lti(platform, key_path)
        up.now = lambda: datetime(2026, 1, 1, tzinfo=timezone.utc)
        report = up.upload(rows(2), PostedState(tmp_path / "s.json"), say=lambda _: None)
        assert report.outcomes["s00"][0] == "stale" and report.outcomes["s01"][0] == "unknown"


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
    from datetime import datetime, timezone

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
        token_requests = [r for r in platform.requests if r["path"] == "/token"]
    assert report.count("posted") == 5 and len(platform.scores) == 5 and len(token_requests) == 2
