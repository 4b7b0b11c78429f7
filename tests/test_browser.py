"""Swagger UI in a real browser, as a user meets the service first.

Headless Chromium (Debian's `chromium` and `chromium-driver`, installed with apt-get when
missing) opens the page the local service serves, checks that the spec loaded, authorizes
with the service's credentials, and runs "Try it out" on GET /watch/{sku}: the page must
show a 200 and the watch. One browser session for the whole module.
"""

import json
import os
import shutil
import subprocess

import pytest
from conftest import HTTP_PASS, HTTP_USER
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as when
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SKU = "CAL5185B"
WAIT_SECONDS = 20


def install_chromium():
    """Debian's chromium and its driver, from apt (root only: CI runs as root on Debian)."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail("install Debian's packages chromium and chromium-driver (apt-get, as root)")
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
    ):
        result = subprocess.run(
            command,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{result.stderr}")


@pytest.fixture(scope="module")
def browser():
    install_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    # An explicit driver path: Selenium Manager never downloads a driver or a browser.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def visible(browser, css):
    return WebDriverWait(browser, WAIT_SECONDS).until(
        when.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def click(browser, css):
    WebDriverWait(browser, WAIT_SECONDS).until(
        when.element_to_be_clickable((By.CSS_SELECTOR, css))
    ).click()


def test_swagger_ui_authorizes_and_tries_get_watch(browser, local_service):
    browser.get(f"{local_service}/info/v2/ui/")
    assert "Watch Info Service" in visible(browser, ".information-container .title").text
    get_watch = ".opblock[id$=get_watch]"  # Swagger UI's id: operations-<tag>-<operationId>
    assert "/watch/{sku}" in visible(browser, get_watch).text
    assert "/watch" in visible(browser, ".opblock[id$=add_watch]").text

    click(browser, ".auth-wrapper .authorize")
    visible(browser, ".modal-ux input[type=text]").send_keys(HTTP_USER)
    browser.find_element(By.CSS_SELECTOR, ".modal-ux input[type=password]").send_keys(HTTP_PASS)
    click(browser, ".modal-ux .auth-btn-wrapper .authorize")
    click(browser, ".modal-ux .auth-btn-wrapper .btn-done")

    click(browser, f"{get_watch} .opblock-summary")
    click(browser, f"{get_watch} .try-out__btn")
    sku = visible(browser, f"{get_watch} input[placeholder=sku]")
    sku.clear()  # it holds the spec's example
    sku.send_keys(SKU)
    click(browser, f"{get_watch} .execute")

    response = f"{get_watch} .live-responses-table tbody"
    assert visible(browser, f"{response} .response-col_status").text.strip() == "200"
    body = visible(browser, f"{response} .response-col_description pre.microlight")
    watch = json.loads(body.text)
    assert watch["sku"] == SKU and watch["type"] in ("watch", "chrono")
