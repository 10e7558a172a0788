"""LTI 1.3 end to end, against platform doubles that sign as Canvas and Moodle do: the OIDC launch as a
browser makes it (every redirect and auto-submitted form followed by hand), the assignment the link
chooses, the upload, and the score that comes back through AGS with the submission's real time."""
import html
import re
import time

import httpx
import pytest

from conftest import EXAMPLES
from serve_support import ServeProcess, requires_serve

pytestmark = [requires_serve, pytest.mark.e2e]

CORRECT = (EXAMPLES / "correct.py").read_bytes()
BUGGY = (EXAMPLES / "exp_backward_bug.py").read_bytes()
MEMBERS = [{"user_id": "u-ann", "name": "Ann Kim", "email": "ann@x.edu", "status": "Active",
            "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]},
           {"user_id": "u-bo", "name": "Bo Lee", "email": "bo@x.edu", "status": "Active",
            "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]},
           {"user_id": "u-cy", "name": "Cy Park", "email": "cy@x.edu", "status": "Active",
            "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]},
           {"user_id": "u-teacher", "name": "Dr Teacher", "email": "t@x.edu", "status": "Active",
            "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]}]
USERS = [m["user_id"] for m in MEMBERS]


def platform_toml(platform, flavour: str) -> str:
    return (f'[[platform]]\nissuer = "{platform.issuer}"\nclient_id = "{platform.client_id}"\n'
            f'auth_login_url = "{platform.auth_url}"\nauth_token_url = "{platform.token_url}"\n'
            f'key_set_url = "{platform.jwks_url}"\ndeployment_ids = ["{platform.deployment_id}"]\n'
            f'flavour = "{flavour}"\n')


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    """A Canvas and a Moodle, both registered with one running service."""
    from lms_doubles.launch import LaunchingPlatform

    folder = tmp_path_factory.mktemp("lti")
    with LaunchingPlatform("10000000000123", USERS, flavour="canvas", members=MEMBERS) as canvas, \
            LaunchingPlatform("moodle-client-7", USERS, flavour="moodle", members=MEMBERS) as moodle:
        config = folder / "serve.toml"
        config.write_text(f'data = "{folder / "data"}"\nworkers = 2\n\n' + platform_toml(canvas, "canvas") + "\n"
                          + platform_toml(moodle, "moodle"), encoding="utf-8")
        with ServeProcess("--config", str(config)) as server:
            canvas.register_tool(server.url)
            moodle.register_tool(server.url)
            yield server, canvas, moodle


def form_of(page: str) -> tuple[str, dict]:
    action = html.unescape(re.search(r"action='([^']*)'", page)[1])
    fields = {html.unescape(k): html.unescape(v) for k, v in re.findall(r"name='([^']*)' value='([^']*)'", page)}
    return action, fields


def launch(browser: httpx.Client, platform, server, user: str, **options) -> httpx.Response:
    """What a browser does: the LMS page posts the login to the tool, the tool redirects to the LMS's
    authorisation endpoint, whose page posts the id_token back to the tool, which redirects to the link."""
    course_page = browser.get(platform.start_launch(server.url, user, **options))
    action, fields = form_of(course_page.text)
    to_platform = browser.post(action, data=fields)
    assert to_platform.status_code == 302, to_platform.text
    auth_page = browser.get(to_platform.headers["location"])
    assert auth_page.status_code == 200, auth_page.text
    action, fields = form_of(auth_page.text)
    return browser.post(action, data=fields)


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text)[1]


def new_browser() -> httpx.Client:
    return httpx.Client(timeout=60, follow_redirects=False)


def test_a_canvas_student_uploads_and_the_score_goes_back_with_the_real_time(lms):
    server, canvas, _ = lms
    browser = new_browser()
    landed = launch(browser, canvas, server, "u-ann", name="Ann Kim", email="ann@x.edu", link="hw1",
                    custom={"assignment": "stage1_autodiff", "canvas_user_id": "4242",
                            "canvas_assignment_id": "99", "due_at": "$Canvas.assignment.dueAt.iso8601"})
    assert landed.status_code == 303 and landed.headers["location"].startswith("/links/")
    page = browser.get(server.url + landed.headers["location"])
    assert "DeZero stage 1" in page.text and 'type="file"' in page.text
    sent = browser.post(server.url + landed.headers["location"] + "/submissions", data={"csrf": csrf_of(page)},
                        files={"file": ("dezero_stage1.py", CORRECT)})
    ident = sent.headers["location"].rsplit("/", 1)[1]
    result_page = browser.get(server.url + sent.headers["location"])
    assert result_page.status_code == 200
    deadline = time.monotonic() + 60
    while "u-ann" not in canvas.scores and time.monotonic() < deadline:
        time.sleep(0.2)
    score = canvas.scores["u-ann"]
    assert score["scoreGiven"] == 65 and score["scoreMaximum"] == 65 and score["gradingProgress"] == "FullyGraded"
    submitted = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", result_page.text)[1]
    assert score["submission"]["submittedAt"].replace("T", " ").startswith(submitted), "the upload's own time"
    assert score["https://canvas.instructure.com/lti/submission"]["new_submission"] is False
    assert "u-ann" not in canvas.submissions, "no new Canvas submission 'now' (it would be late)"
    assert [r for r in canvas.requests if r["path"].endswith("/scores")][-1]["headers"]["Content-Type"] == \
        "application/vnd.ims.lis.v1.score+json"
    deadline = time.monotonic() + 30
    while "Your score was sent to the LMS." not in (shown := browser.get(f"{server.url}/submissions/{ident}").text):
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


def test_the_instructor_sees_the_lms_roster_and_the_canvas_export(lms):
    server, canvas, _ = lms
    teacher = new_browser()
    landed = launch(teacher, canvas, server, "u-teacher", staff=True, name="Dr Teacher", email="t@x.edu",
                    link="hw1", custom={"assignment": "stage1_autodiff", "canvas_assignment_id": "99"})
    dashboard = teacher.get(server.url + landed.headers["location"])
    assert dashboard.status_code == 200 and 'id="students"' in dashboard.text
    assert "cy@x.edu" in dashboard.text and "missing" in dashboard.text, "NRPS lists who has not submitted"
    link = landed.headers["location"]
    deadline = time.monotonic() + 60
    while "ann@x.edu,Ann Kim" not in (text := teacher.get(f"{server.url}{link}/scores.csv").text):
        assert time.monotonic() < deadline, text
        time.sleep(0.3)
    export = teacher.get(f"{server.url}{link}/export/canvas")
    assert export.status_code == 200 and "(99)" in export.text.splitlines()[0] and "4242" in export.text


def test_an_instructor_chooses_the_assignment_of_a_link_that_does_not_say(lms):
    server, canvas, _ = lms
    student = new_browser()
    early = launch(student, canvas, server, "u-bo", name="Bo Lee", email="bo@x.edu", link="hw2")
    assert "not chosen the assignment" in student.get(server.url + early.headers["location"]).text
    teacher = new_browser()
    landed = launch(teacher, canvas, server, "u-teacher", staff=True, name="Dr Teacher", link="hw2")
    choose = teacher.get(server.url + landed.headers["location"])
    assert 'id="assignment"' in choose.text
    done = teacher.post(server.url + landed.headers["location"] + "/assignment",
                        data={"csrf": csrf_of(choose), "assignment": "stage2_natural_code"})
    assert done.status_code == 303
    page = student.get(server.url + early.headers["location"])
    assert "DeZero stage 2" in page.text and 'type="file"' in page.text
    assert student.get(server.url + early.headers["location"] + "/report").status_code == 403


def test_a_replayed_tampered_or_cookieless_launch_is_refused(lms):
    server, canvas, _ = lms
    browser = new_browser()
    course_page = browser.get(canvas.start_launch(server.url, "u-ann", link="hw1"))
    action, fields = form_of(course_page.text)
    auth_page = browser.get(browser.post(action, data=fields).headers["location"])
    action, fields = form_of(auth_page.text)
    header, payload, signature = fields["id_token"].split(".")
    forged = dict(fields, id_token=".".join([header, payload[:-4] + "AAAA", signature]))
    assert browser.post(action, data=forged).status_code == 400
    assert browser.post(action, data=fields).status_code == 400, "the state was used by the forged attempt"

    browser = new_browser()
    course_page = browser.get(canvas.start_launch(server.url, "u-ann", link="hw1"))
    action, fields = form_of(course_page.text)
    auth_page = browser.get(browser.post(action, data=fields).headers["location"])
    action, fields = form_of(auth_page.text)
    cookieless = httpx.post(action, data=fields)  # the LMS's iframe dropped our state cookie
    assert cookieless.status_code == 400 and "/lti/login?" in cookieless.text and 'target="_blank"' in cookieless.text
    assert browser.post(action, data=fields).status_code == 400, "and its state cannot be used again"

    refused = new_browser().post(server.url + "/lti/login", data={"iss": "https://evil.example", "login_hint": "x"})
    assert refused.status_code == 400 and "no registered platform" in refused.text


def test_a_moodle_launch_posts_to_the_line_item_with_its_query_kept(lms):
    server, _, moodle = lms
    browser = new_browser()
    landed = launch(browser, moodle, server, "u-cy", name="Cy Park", email="cy@x.edu", link="m1",
                    custom={"assignment": "stage1_autodiff"}, context="moodle-course-2")
    page = browser.get(server.url + landed.headers["location"])
    for data in (BUGGY, CORRECT):  # two quick uploads: the LMS ends with the latest one's score
        sent = browser.post(server.url + landed.headers["location"] + "/submissions",
                            data={"csrf": csrf_of(page)}, files={"file": ("dezero_stage1.py", data)})
        assert sent.status_code == 303
    deadline = time.monotonic() + 90
    while moodle.scores.get("u-cy", {}).get("scoreGiven") != 65:
        assert time.monotonic() < deadline, (moodle.scores, [r["path"] for r in moodle.requests][-5:])
        time.sleep(0.3)
    posts = [r for r in moodle.requests if "/scores" in r["path"]]
    assert posts and all(r["path"].endswith("/scores?type_id=3") for r in posts)


def test_a_captured_id_token_replayed_into_a_fresh_login_is_refused_by_its_nonce(lms):
    """Someone who copied a student's id_token (a shared screen, a proxy log) starts a login of their own and
    posts the copy with their own valid state and cookie: the nonce is that of the first login, so it fails."""
    server, canvas, _ = lms
    victim = new_browser()
    landed = launch(victim, canvas, server, "u-bo", link="hw-replay")
    assert landed.status_code == 303
    captured = canvas.issued[-1]
    token = canvas.sign(captured)  # the very claims the student's launch carried, validly signed

    attacker = new_browser()
    course_page = attacker.get(canvas.start_launch(server.url, "u-cy", link="hw-replay"))
    action, fields = form_of(course_page.text)
    to_platform = attacker.post(action, data=fields)
    state = re.search(r"[?&]state=([^&]+)", to_platform.headers["location"])[1]
    replayed = attacker.post(server.url + "/lti/launch", data={"id_token": token, "state": state})
    assert replayed.status_code == 400 and "nonce" in html.unescape(replayed.text)
    assert attacker.get(server.url + landed.headers["location"]).status_code == 401, "not signed in as the student"
    assert victim.get(server.url + landed.headers["location"]).status_code == 200
