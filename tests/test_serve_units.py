"""grader serve's rules one by one: the feedback policy, upload names and caps, and the id_token checks
against a platform double that signs as Canvas does (its JWKS served over HTTP)."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from serve_support import requires_serve

pytestmark = requires_serve


# -- the feedback policy

def _result():
    tests = [{"name": "public one", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "",
              "visibility": "visible", "tags": ["public", "t1"]},
             {"name": "hidden one", "score": 0.0, "max_score": 3.0, "status": "failed", "output": "wrong values",
              "visibility": "after_due_date", "tags": ["hidden", "t2"]},
             {"name": "secret one", "score": 2.0, "max_score": 2.0, "status": "passed", "output": "",
              "visibility": "hidden", "tags": ["hidden", "t3"]}]
    return {"score": 3.0, "max_score": 6.0, "output": "Score 3/6: 2 of 3 tests passed.\nWarning: line 3",
            "tests": tests, "extra_data": {"status": "graded", "review": ["uses gc"], "events": ["did not finish"],
                                           "sandbox_layers": {"x": "y"}, "late": False}}


def test_before_the_due_date_a_student_sees_only_visible_tests_and_no_total():
    from grader.serve.feedback import student_view

    due = datetime.now(timezone.utc) + timedelta(days=1)
    view = student_view(_result(), due=due, released=False)
    assert [t["name"] for t in view["tests"]] == ["public one"]
    assert (view["score"], view["max_score"]) == (1.0, 1.0)
    assert view["extra_data"]["withheld"] == {"tests": 2, "points": 5.0, "when": "released"}
    assert "3/6" not in view["output"] and view["output"] == "Warning: line 3"
    assert not {"review", "events", "sandbox_layers"} & set(view["extra_data"])


def test_after_the_due_date_or_a_release_the_hidden_tests_show_but_never_the_instructors_only_ones():
    from grader.serve.feedback import student_view

    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    for view in (student_view(_result(), due=past, released=False), student_view(_result(), due=None, released=True)):
        assert [t["name"] for t in view["tests"]] == ["public one", "hidden one"]
        assert view["extra_data"]["withheld"] == {"tests": 1, "points": 2.0, "when": "never"}


def test_with_every_test_visible_the_view_is_the_result():
    from grader.serve.feedback import student_view

    result = _result()
    for test in result["tests"]:
        test["visibility"] = "visible"
    view = student_view(result, due=None, released=False)
    assert view["tests"] == result["tests"] and view["score"] == 3.0 and "withheld" not in view["extra_data"]


# -- uploads

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_an_upload_name_is_always_a_plain_short_file_name(name):
    from grader.serve.uploads import NAME_LENGTH, safe_name

    safe = safe_name(name)
    assert safe and len(safe) <= NAME_LENGTH and not safe.startswith(".")
    assert not set(safe) & set("/\\<>\"'&%;:*?|\0\n\r\t")
    assert all(ch.isprintable() for ch in safe)


@pytest.mark.parametrize("name, kept", [
    ("../../etc/passwd.py", "passwd.py"), ("C:\\Users\\kim\\dezero_stage1.py", "dezero_stage1.py"),
    ("<script>alert(1)</script>.py", "script_.py"), (".hidden.ipynb", "hidden.ipynb"),
    ("숙제 1.py", "숙제 1.py"), ("x" * 300 + ".zip", "x" * 96 + ".zip")])
def test_upload_names_keep_their_kind_and_lose_their_paths(name, kept):
    from grader.serve.uploads import safe_name

    assert safe_name(name) == kept


def test_uploads_are_refused_by_kind_emptiness_and_the_caps_of_grader_grade():
    from grader.serve.uploads import UploadRefused, check_upload
    from grader.submission import MAX_FILE_BYTES, MAX_ZIP_BYTES

    assert check_upload("hw.PY", b"x = 1") == "hw.PY"
    cases = [("hw.exe", b"MZ", "upload.wrong_kind"), ("hw.py", b"", "upload.empty"),
             ("hw.py", b"#" * (MAX_FILE_BYTES + 1), "upload.too_large"),
             ("hw.zip", b"P" * (MAX_ZIP_BYTES + 1), "upload.too_large")]
    for name, data, key in cases:
        with pytest.raises(UploadRefused) as refused:
            check_upload(name, data)
        assert refused.value.key == key
    check_upload("hw.zip", b"P" * MAX_FILE_BYTES * 2)  # a zip may be larger than a file


def test_every_page_text_exists_in_every_language_with_the_same_placeholders():
    import re
    from pathlib import Path

    import grader.serve
    from grader.i18n import LANGUAGES
    from grader.serve.texts import catalogue

    english = catalogue("en")
    for lang in LANGUAGES:
        assert set(catalogue(lang)) == set(english), lang
        for key, text in english.items():
            assert set(re.findall(r"{(\w+)}", catalogue(lang)[key])) == set(re.findall(r"{(\w+)}", text)), key
    folder = Path(grader.serve.__file__).parent
    used = set()
    for path in [*folder.glob("*.py"), *folder.glob("templates/*.html")]:
        source = path.read_text()
        used |= set(re.findall(r"""\btext\(\s*lang,\s*["']([a-z_]+\.[a-z_]+)["']\s*[,)]""", source))
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']\s*[,)]""", source))
    # Keys made from data: a grading's status, and when withheld tests show (feedback.student_view).
    used |= {f"status.{s}" for s in ("queued", "running", "done", "error")}
    used |= {f"result.withheld_{w}" for w in ("after_due_date", "released", "never")}
    assert len(used) > 20 and used <= set(english), used - set(english)


# -- the id_token

@pytest.fixture(scope="module")
def platform():
    from lms_doubles.launch import LaunchingPlatform

    with LaunchingPlatform("10000000000123", ["u-1"]) as double:
        yield double


@pytest.fixture(scope="module")
def registered(platform):
    from grader.serve.config import Platform

    return Platform(issuer=platform.issuer, client_id=platform.client_id, auth_login_url=platform.auth_url,
                    auth_token_url=platform.token_url, key_set_url=platform.jwks_url,
                    deployment_ids=(platform.deployment_id,), flavour="canvas")


def _launch(platform, **changes):
    spec = {"user": "u-1", "staff": False, "link": "link-9", "name": "Ann Kim", "email": "ann@x.edu", "locale": "ko-KR",
            "custom": {"assignment": "stage1_autodiff", "canvas_user_id": "$Canvas.user.id"}, "lineitem": 5,
            "context": "course-7", "tool_login": "", "target": "https://tool.example/lti/launch"}
    return platform.id_token(spec, "nonce-1", changes)


def test_a_canvas_launch_is_read_into_what_the_service_keeps(platform, registered):
    from grader.serve.launch import KeySets, read_launch, verify_id_token

    launch = read_launch(verify_id_token(registered, _launch(platform), "nonce-1", KeySets()))
    assert (launch.subject, launch.email, launch.staff, launch.assignment) == ("u-1", "ann@x.edu", False, "stage1_autodiff")
    assert launch.resource_link_id == "link-9" and launch.context_id == "course-7"
    assert launch.lineitem.endswith("/line_items/5") and launch.memberships_url.endswith("/names_and_roles")
    assert launch.lms_ids == {}, "an unsubstituted $Canvas variable is no id"


@pytest.mark.parametrize("change, why", [
    ({"aud": "someone-else"}, "another tool"),
    ({"aud": ["someone-else", "10000000000123"], "azp": "someone-else"}, "azp"),
    ({"iss": "https://evil.example"}, "issuer"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
    ({"nonce": "another"}, "nonce"),
    ({"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "1:unknown"}, "deployment"),
    ({"https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiDeepLinkingRequest"}, "message type"),
    ({"https://purl.imsglobal.org/spec/lti/claim/version": "1.1"}, "version"),
    ({"https://purl.imsglobal.org/spec/lti/claim/resource_link": {}}, "resource link"),
])
def test_a_launch_with_a_wrong_claim_is_refused(platform, registered, change, why):
    from grader.serve.launch import KeySets, LaunchError, verify_id_token

    with pytest.raises(LaunchError, match=why):
        verify_id_token(registered, _launch(platform, **change), "nonce-1", KeySets())


def test_a_token_not_signed_by_the_platforms_key_is_refused(platform, registered):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    from grader.serve.launch import KeySets, LaunchError, verify_id_token

    _launch(platform)
    claims = dict(platform.issued[-1])
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (platform.sign(claims, key=forger),                   # the platform's kid, another key
                  platform.sign(claims, key=forger, kid="unknown"),    # a kid the key set does not have
                  jwt.encode(claims, "s" * 32, algorithm="HS256"),     # a shared-secret token
                  jwt.encode(claims, None, algorithm="none")):         # no signature at all
        with pytest.raises(LaunchError):
            verify_id_token(registered, token, "nonce-1", KeySets())
