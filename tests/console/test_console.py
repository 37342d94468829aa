"""The console in a real headless Chromium (Debian's chromium and chromium-driver; scripts/install-browser).

Log in, open an app, scale it, and see the new jobs. The scheduler loop does not run under live_server, so the
test runs a reconcile pass itself, as the loop would, before it reloads the app's page.
"""

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from hosts.services import host_register_local
from scheduler.services import reconcile
from tests.factories import deploy, make_app

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "console-password-1"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():
    if not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()):
        missing = f"{CHROMIUM} and {CHROMEDRIVER} are needed (as root: scripts/install-browser)"
        if os.environ.get("CI"):
            pytest.fail(f"the browser test cannot run under CI: {missing}")
        pytest.skip(missing)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,1100"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def _screenshot(browser, name: str) -> None:
    """Saves what the browser shows when PAAS_CONSOLE_SCREENSHOTS names a directory (for a person to look at)."""
    directory = os.environ.get("PAAS_CONSOLE_SCREENSHOTS")
    if directory:
        browser.save_screenshot(str(Path(directory) / f"console-{name}.png"))


def _log_in(browser, live_server, username: str) -> None:
    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.ID, "user-tools")))


def _jobs_heading(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, "#app-jobs h2").text


def test_log_in_open_an_app_scale_it_and_see_the_new_jobs(browser, live_server):
    host_register_local()
    user = get_user_model().objects.create_superuser("operator", "operator@example.com", PASSWORD)
    app = make_app(name="myapp", owner=user)
    deploy(app)
    reconcile()

    _log_in(browser, live_server, "operator")
    assert browser.find_element(By.ID, "site-name").text == "paas console"
    assert browser.title.endswith("| paas console")
    _screenshot(browser, "index")

    browser.find_element(By.LINK_TEXT, "Apps").click()
    assert "1 up" in browser.find_element(By.ID, "result_list").text
    browser.find_element(By.LINK_TEXT, "myapp").click()
    assert _jobs_heading(browser) == "Jobs (1)"
    _screenshot(browser, "app-before")

    browser.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/scale/']").click()
    count = browser.find_element(By.NAME, "web")
    count.clear()
    count.send_keys("3")
    _screenshot(browser, "scale")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value=Scale]").click()
    assert browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text == "Scaled myapp: web=3."

    reconcile()  # the scheduler's pass: start the two new jobs
    browser.refresh()
    jobs = browser.find_element(By.ID, "app-jobs").text
    assert _jobs_heading(browser) == "Jobs (3)"
    assert "web.3" in jobs and jobs.count(" up ") == 3
    assert browser.find_element(By.CSS_SELECTOR, ".field-job_states .readonly").text == "3 up"
    assert browser.find_element(By.CSS_SELECTOR, ".field-formation_counts .readonly").text == "web=3"
    _screenshot(browser, "app")

    browser.get(f"{live_server.url}/admin/releases/release/")
    assert "myapp" in browser.find_element(By.ID, "result_list").text
    browser.implicitly_wait(0)  # an element that should not be there: look once, without waiting for it
    assert not browser.find_elements(By.CSS_SELECTOR, ".object-tools .addlink")
