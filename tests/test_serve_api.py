"""``grader serve --demo`` as scripts and people use it over HTTP: the script API's contract, the same
grading as ``grader grade``, every upload treated as hostile, and who may see what.

One service for the module (about 3 s to start); each test uses its own student where it counts uploads."""
import io
import re
import zipfile

import httpx
import pytest

from conftest import EXAMPLES, ROOT
from serve_support import ServeProcess, requires_serve, submit, wait_done, zipped

pytestmark = [requires_serve, pytest.mark.e2e]

CORRECT = (EXAMPLES / "correct.py").read_bytes()
HOSTILE = ROOT / "examples" / "hostile"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve")
    with ServeProcess("--demo", "--demo-students", "4", "--data", str(data)) as service:
        service.data = data
        yield service


@pytest.fixture
def client():
    with httpx.Client(timeout=60) as http:
        yield http


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_the_demo_prints_the_contracts_lines_and_answers(server):
    assert len(server.students) == 4 and server.instructor
    assert httpx.get(server.url + "/healthz").json()["ok"] is True


def test_an_upload_is_graded_in_seconds_exactly_as_grader_grade_grades_it(server, client, grade):
    answer = submit(client, server.url, server.students[0], "dezero_stage1.py", CORRECT)
    assert answer.status_code == 202 and set(answer.json()) == {"id", "status"}
    done = wait_done(client, server.url, server.students[0], answer.json()["id"], timeout=60)
    assert done["status"] == "done"
    full = client.get(f"{server.url}/api/v1/submissions/{done['id']}", headers=bearer(server.instructor)).json()
    expected = grade(EXAMPLES / "correct.py")
    assert [(t["name"], t["status"], t["score"]) for t in full["result"]["tests"]] == \
        [(t["name"], t["status"], t["score"]) for t in expected["tests"]]
    assert full["result"]["score"] == expected["score"] == expected["max_score"]
    # The student sees the public tests now; the hidden ones (after_due_date, no due date) wait, and so does the total.
    mine = done["result"]
    public = [t for t in expected["tests"] if "public" in t["tags"]]
    assert [t["name"] for t in mine["tests"]] == [t["name"] for t in public]
    assert mine["extra_data"]["withheld"]["tests"] == len(expected["tests"]) - len(public)
    assert "review" not in mine["extra_data"] and "events" not in mine["extra_data"]


def test_every_kind_of_upload_is_graded(server, client, tmp_path):
    from test_stage2 import book_package, zip_folder

    package = zip_folder(book_package(tmp_path / "repo"), tmp_path / "package.zip").read_bytes()
    uploads = [("stage1_autodiff", "hw.ipynb", (EXAMPLES / "correct_notebook.ipynb").read_bytes(), 65),
               ("stage1_autodiff", "folder.zip", zipped({"hw1/dezero_stage1.py": CORRECT, "hw1/notes.txt": b"hi"}), 65),
               ("stage2_natural_code", "dezero.zip", package, None),
               ("stage1_autodiff", "syntax.py", (EXAMPLES / "syntax_error.py").read_bytes(), 0)]
    token = server.students[1]
    sent = [(submit(client, server.url, token, name, data, assignment).json()["id"], expected)
            for assignment, name, data, expected in uploads]
    for ident, expected in sent:
        result = client.get(f"{server.url}/api/v1/submissions/{wait_done(client, server.url, token, ident)['id']}",
                            headers=bearer(server.instructor)).json()["result"]
        assert result["score"] == (expected if expected is not None else result["max_score"]), result["output"]
    assert "syntax" in result["output"].lower(), "a broken file is graded 0 with its reason"


def test_hostile_uploads_are_refused_or_graded_never_trusted(server, client):
    token = server.students[2]
    too_big = submit(client, server.url, token, "big.py", b"#" * (5 << 20) + b"\n")
    assert too_big.status_code == 400 and "larger than 5 MiB" in too_big.json()["error"]
    over_body = submit(client, server.url, token, "huge.zip", b"P" * (51 << 20))
    assert over_body.status_code == 413, "the request body itself is capped before anything is read"
    assert submit(client, server.url, token, "evil.exe", b"MZ").status_code == 400
    assert client.post(server.url + "/api/v1/submissions", headers=bearer(token),
                       data={"assignment": "stage1_autodiff"}).status_code == 400
    assert submit(client, server.url, token, "x.py", CORRECT, "no_such_assignment").status_code == 404
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("dezero_stage1.py", b"#" * (60 << 20))  # 60 MiB from about 60 KB
    answer = submit(client, server.url, token, "../../bomb.zip", bomb.getvalue())
    assert answer.status_code == 202
    result = wait_done(client, server.url, token, answer.json()["id"])["result"]
    assert result["score"] == 0 and "bomb.zip" in result["extra_data"]["submission"]
    assert "/" not in result["extra_data"]["submission"] and "MiB" in result["extra_data"]["error"]
    # Student code reaching for the service's secrets and database by their exact paths: covered in the sandbox.
    targets = [str(server.data / name) for name in ("tool-private-key.pem", "session-secret", "grader.sqlite3")]
    snoop = CORRECT + f"""
for target in {targets!r}:
    try:
        print(target, open(target, 'rb').read()[:80])
    except OSError as error:
        print(target, type(error).__name__)
""".encode()
    answer = submit(client, server.url, token, "dezero_stage1.py", snoop)
    result = wait_done(client, server.url, server.instructor, answer.json()["id"])["result"]
    assert result["output"].count("Error") == 3 and "PRIVATE KEY" not in result["output"], result["output"]
    assert (server.data / "tool-private-key.pem").read_text().startswith("-----BEGIN PRIVATE KEY")


def test_tokens_are_checked_and_another_students_submission_does_not_exist(server, client):
    ident = submit(client, server.url, server.students[0], "dezero_stage1.py", CORRECT).json()["id"]
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        refused = client.get(f"{server.url}/api/v1/submissions/{ident}", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    other = client.get(f"{server.url}/api/v1/submissions/{ident}", headers=bearer(server.students[1]))
    missing = client.get(f"{server.url}/api/v1/submissions/doesnotexist", headers=bearer(server.students[1]))
    assert other.status_code == missing.status_code == 404 and other.json() == missing.json()
    assert client.get(f"{server.url}/api/v1/submissions/{ident}", headers=bearer(server.instructor)).status_code == 200


def test_a_student_is_rate_limited_with_a_retry_after(server, client):
    token = server.students[3]
    answers = [submit(client, server.url, token, f"s{n}.py", b"x = 1\n") for n in range(11)]
    assert [a.status_code for a in answers[:10]] == [202] * 10
    assert answers[10].status_code == 429 and int(answers[10].headers["retry-after"]) > 500
    assert "10 times" in answers[10].json()["error"]


# -- the pages, with a session cookie

def signed_in(server, token) -> httpx.Client:
    browser = httpx.Client(base_url=server.url, timeout=60, follow_redirects=False)
    page = browser.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    assert browser.post("/login", data={"csrf": csrf, "token": token}).status_code == 303
    return browser


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text)[1]


def test_the_student_pages_upload_and_show_the_result_under_the_feedback_policy(server):
    student = signed_in(server, server.students[0])
    page = student.get("/links/1")
    assert page.status_code == 200 and 'type="file"' in page.text
    files = {"file": ("dezero_stage1.py", CORRECT)}
    assert student.post("/links/1/submissions", files=files).status_code == 403, "no CSRF token, no upload"
    assert student.post("/links/1/submissions", files=files, data={"csrf": "forged"}).status_code == 403
    sent = student.post("/links/1/submissions", files=files, data={"csrf": csrf_of(page)})
    assert sent.status_code == 303
    ident = sent.headers["location"].rsplit("/", 1)[1]
    wait_done(httpx, server.url, server.students[0], ident)
    result = student.get(f"/submissions/{ident}").text
    assert 'id="withheld"' in result and "when your instructor releases them" in result and "Score: " not in result
    assert result.count('class="test"') == 7, "the seven public tests, none of the hidden ones"


def test_students_cannot_reach_instructor_pages_or_other_students_work(server):
    owner = signed_in(server, server.students[0])
    other = signed_in(server, server.students[1])
    ident = submit(httpx, server.url, server.students[0], "dezero_stage1.py", CORRECT).json()["id"]
    for path in ("/links/1/report", "/links/1/tests", "/links/1/scores.csv", "/links/1/export/csv",
                 "/links/1/students/1"):
        assert other.get(path).status_code == 403, path
    for path in (f"/submissions/{ident}", f"/submissions/{ident}/file"):
        assert other.get(path).status_code == 404 and owner.get(path).status_code == 200
    csrf = csrf_of(other.get("/links/1"))
    for path in ("/links/1/regrade", "/links/1/release", f"/submissions/{ident}/regrade", "/links/1/token"):
        assert other.post(path, data={"csrf": csrf}).status_code in (403, 404), path
    assert httpx.get(server.url + "/links/1").status_code == 401, "signed out"


def test_the_instructor_sees_everything_and_can_release_the_hidden_tests(server):
    teacher = signed_in(server, server.instructor)
    ident = submit(httpx, server.url, server.students[0], "dezero_stage1.py", CORRECT).json()["id"]
    wait_done(httpx, server.url, server.students[0], ident)
    every_test = len(wait_done(httpx, server.url, server.instructor, ident)["result"]["tests"])
    assert every_test > 7, "the hidden tests too"
    report = teacher.get("/links/1/report")
    assert report.status_code == 200 and "Who failed what" in report.text and "id='matrix-data'" in report.text
    assert "student1@demo.invalid" in teacher.get("/links/1/scores.csv").text
    assert teacher.get("/links/1/tests").status_code == 200
    full = teacher.get(f"/submissions/{ident}").text
    assert full.count('class="test"') == every_test and 'id="events"' in full
    dashboard = teacher.get("/links/1")
    assert teacher.post("/links/1/release", data={"csrf": csrf_of(dashboard), "released": "1"}).status_code == 303
    seen = signed_in(server, server.students[0]).get(f"/submissions/{ident}").text
    assert seen.count('class="test"') == every_test and "Score: 65 / 65" in seen
    teacher.post("/links/1/release", data={"csrf": csrf_of(dashboard), "released": "0"})


def test_secrets_are_never_served_and_pages_carry_their_security_headers(server):
    page = httpx.get(server.url + "/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["cache-control"] == "no-store"
    jwks = httpx.get(server.url + "/lti/jwks").json()
    assert set(jwks["keys"][0]) == {"kty", "n", "e", "kid", "alg", "use"}, "the public half only"
    for path in ("/static/../tool-private-key.pem", "/static/..%2ftool-private-key.pem", "/static/%2e%2e/session-secret",
                 "/tool-private-key.pem", "/session-secret", "/grader.sqlite3"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 404 and "PRIVATE" not in answer.text, path
    assert "PRIVATE KEY" not in server.log_text()


def test_student_text_is_shown_as_text(server):
    code = CORRECT.replace(b"def forward(self, x):\n        return x ** 2",
                           b"def forward(self, x):\n        raise ValueError('<script>alert(1)</script>')", 1)
    assert code != CORRECT
    ident = submit(httpx, server.url, server.students[1], "<img src=x onerror=alert(1)>.py", code).json()["id"]
    wait_done(httpx, server.url, server.students[1], ident)
    page = signed_in(server, server.students[1]).get(f"/submissions/{ident}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x" not in page


def answer_before_the_body(url: str, path: str, headers: dict) -> str:
    """The status line the service answers to a request announcing a 50 MiB upload that never comes."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Length: {50 << 20}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
    with socket.create_connection((where.hostname, where.port), timeout=30) as connection:
        connection.sendall(head.encode() + b"--b\r\n" + b"x" * 1024)
        try:
            return connection.recv(4096).decode("latin-1").split("\r\n", 1)[0]
        except socket.timeout:
            return "no answer: the service waited for a stranger's body"


def test_a_stranger_is_refused_before_the_upload_is_read(server):
    """Anyone can send 50 MiB: who is asking is checked from the headers, before the body is read."""
    assert answer_before_the_body(server.url, "/api/v1/submissions", {}).endswith("401 Unauthorized")
    assert answer_before_the_body(server.url, "/api/v1/submissions",
                                  {"Authorization": "Bearer forged"}).endswith("401 Unauthorized")
    assert answer_before_the_body(server.url, "/links/1/submissions", {}).endswith("401 Unauthorized")
    assert answer_before_the_body(server.url, "/links/1/submissions",
                                  {"Cookie": "grader_session=forged"}).endswith("401 Unauthorized")
