"""Swagger UI in a real browser, as a user meets the service first.

Headless Chromium (conftest's `browser`: Debian's `chromium` and `chromium-driver`, installed
with apt-get when missing) opens the page the local service serves, checks that the spec
loaded, authorizes with the service's credentials, and runs "Try it out" on GET
/watch/{sku}: the page must show a 200 and the watch. One browser session for the module.
"""

import json

from conftest import HTTP_PASS, HTTP_USER
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as when
from selenium.webdriver.support.ui import WebDriverWait

SKU = "CAL5185B"
WAIT_SECONDS = 20


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
