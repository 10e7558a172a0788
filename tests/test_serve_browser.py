"""grader serve in a real headless browser (Debian's chromium through Selenium and Debian's chromium-driver;
no browser download): a student's upload and result pages, the instructor's live matrix, and an LTI
launch from a platform double, each page's forms and scripts run as a person's browser runs them."""
import os
import shutil
import time

import httpx
import pytest

from conftest import EXAMPLES
from serve_support import ServeProcess, need, requires_serve, submit, wait_done

pytestmark = [requires_serve, pytest.mark.e2e]

BUGGY = EXAMPLES / "exp_backward_bug.py"
WAIT = 60


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
    except ImportError:
        message = "selenium is not installed (pip install selenium; tox installs it)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = need("chromium", "chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--window-size=1200,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(need("chromedriver", "chromium-driver")), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service with the demo course and a Canvas-flavoured platform registered."""
    from lms_doubles.launch import LaunchingPlatform
    from test_serve_lti import platform_toml

    folder = tmp_path_factory.mktemp("browser")
    with LaunchingPlatform("10000000000123", ["u-kim"], flavour="canvas") as canvas:
        config = folder / "serve.toml"
        config.write_text(f'data = "{folder / "data"}"\n\n' + platform_toml(canvas, "canvas"), encoding="utf-8")
        with ServeProcess("--config", str(config), "--demo", "--demo-students", "3") as server:
            canvas.register_tool(server.url)
            yield server, canvas


def wait_for(driver, css: str, text: str | None = None):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    waiting = WebDriverWait(driver, WAIT)
    if text is None:
        return waiting.until(shown.presence_of_element_located((By.CSS_SELECTOR, css)))
    waiting.until(shown.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_element(By.CSS_SELECTOR, css)


def sign_in(driver, server, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(server.url + "/login")
    driver.find_element(By.NAME, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, "header", "Signed in as")


def upload(driver, path) -> str:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "submit").click()
    wait_for(driver, "#status")
    return driver.current_url


def test_a_student_uploads_and_reads_the_result_table_with_its_hint(browser, service, tmp_path):
    from selenium.webdriver.common.by import By

    server, _ = service
    sign_in(browser, server, server.students[0])
    browser.get(server.url + "/links/1")
    file = tmp_path / "dezero_stage1.py"
    shutil.copy(BUGGY, file)
    result_url = upload(browser, file)
    assert "/submissions/" in result_url
    wait_for(browser, "#status[data-status=done]")  # the page reloads itself until then
    rows = browser.find_elements(By.CSS_SELECTOR, "#tests tr.test")
    assert len(rows) == 7, "the public tests; the hidden ones wait for the release"
    failed = [row.text for row in rows if "fail" in row.find_element(By.CSS_SELECTOR, "td").text]
    assert failed and any("hint" in text for text in failed), failed
    assert "releases them" in browser.find_element(By.ID, "withheld").text
    browser.get(server.url + "/links/1")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#submissions tr")) == 2
    sign_in(browser, server, server.students[1])
    browser.get(result_url)
    assert "Not found" in wait_for(browser, "#message").text


def test_the_instructors_matrix_is_drawn_and_follows_new_results_live(browser, service):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, _ = service
    sent = submit(httpx, server.url, server.students[1], "dezero_stage1.py", (EXAMPLES / "correct.py").read_bytes())
    wait_done(httpx, server.url, server.students[1], sent.json()["id"])  # so the page starts with its row
    every_test = len(wait_done(httpx, server.url, server.instructor, sent.json()["id"])["result"]["tests"])
    sign_in(browser, server, server.instructor)
    browser.get(server.url + "/links/1/report")
    wait_for(browser, "#matrix table")
    before = len(browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr"))
    assert before >= 1
    cells = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr:first-child td")
    assert len(cells) == 2 + every_test and {c.get_attribute("class") for c in cells[2:]} <= {"p", "f"}
    browser.execute_script("document.querySelectorAll('#matrix th')[1].click()")  # sorting by score redraws it
    assert len(browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")) == before
    assert submit(httpx, server.url, server.students[2], "dezero_stage1.py", BUGGY.read_bytes()).status_code == 202
    WebDriverWait(browser, 40).until(  # a new student's row appears without reloading the page
        lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")) == before + 1)
    assert browser.find_element(By.ID, "updated").text != "now", "drawn by the live refresh"
    browser.get(server.url + "/links/1/students/1")
    assert browser.find_elements(By.CSS_SELECTOR, "#student-submissions tr")


def test_an_lti_launch_from_the_lms_page_lands_on_the_upload_page_and_the_score_returns(browser, service, tmp_path):
    from selenium.webdriver.common.by import By

    server, canvas = service
    browser.delete_all_cookies()
    browser.get(canvas.start_launch(server.url, "u-kim", name="Kim Min", email="kim@x.edu", locale="ko-KR",
                                    custom={"assignment": "stage1_autodiff"}))
    heading = wait_for(browser, "h2")
    assert heading.text == "과제 제출", "the student's LMS locale chose the page's language"
    file = tmp_path / "dezero_stage1.py"
    shutil.copy(EXAMPLES / "correct.py", file)
    upload(browser, file)
    assert "채점" in wait_for(browser, "#status[data-status=done]").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tests tr.test")) == 7
    deadline = time.monotonic() + 30
    while "u-kim" not in canvas.scores:
        assert time.monotonic() < deadline, "the score reached the LMS"
        time.sleep(0.2)
    assert canvas.scores["u-kim"]["scoreGiven"] == 65
    assert os.path.basename(canvas.auth_requests[-1]["redirect_uri"]) == "launch"
