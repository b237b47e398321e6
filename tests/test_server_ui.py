"""The page at ``/`` of ``kerascnn serve``: plain HTTP checks, then a real headless Chromium.

The browser test drives Debian's ``chromium`` through ``chromium-driver`` (Selenium) against a
real ``kerascnn serve`` holding a real export (the tiny conftest model): the page lists the model,
an uploaded PNG gets the top class the local client gets and a Grad-CAM heatmap, keyboard-only
use explains another class, an API error is shown in words, and the curl command the page copies
succeeds when run. It skips, saying why, only where Chromium is not installed
(``apt-get install -y chromium chromium-driver``).

Set ``KERASCNN_UI_SCREENSHOT=docs/ui.png`` to write the README's screenshot there (by default it
goes to the test's temporary folder, so a test run leaves the tree unchanged).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from _gradcam_models import temple_flower_export
from PIL import Image

from kerascnn.client import Client
from kerascnn.server.ui import static_files

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def temple_flower(tmp_path_factory):
    """(export, half-temple half-flower picture, model): ``_gradcam_models``."""
    return temple_flower_export(tmp_path_factory.mktemp("temple_flower"))


@pytest.fixture(scope="module")
def labelled_config(exported, temple_flower, tmp_path_factory):
    """The tiny export as model "shapes", its version 1 labelled "stable"; and the temple/flower
    model (a picture worth showing in the README)."""
    config = tmp_path_factory.mktemp("ui-config") / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "shapes" base_path: "{exported.parent}" '
        'version_labels { key: "stable" value: 1 } } '
        f'config {{ name: "temple_flower" base_path: "{temple_flower[0].parent}" }} }}\n'
    )
    return config


@pytest.fixture(scope="module")
def server(serve, labelled_config):
    return serve(model_config_file=labelled_config)


@pytest.fixture(scope="module")
def square_png(tmp_path_factory) -> Path:
    """A white square on black, larger than the model's 16x16 input (resized in the graph)."""
    pixels = np.zeros((96, 96, 3), np.uint8)
    pixels[24:72, 24:72] = 255
    path = tmp_path_factory.mktemp("ui-images") / "square.png"
    Image.fromarray(pixels).save(path)
    return path


# ----------------------------------------------------------------------------- plain HTTP


def test_page_and_its_files_are_served_with_a_strict_policy(server):
    page = requests.get(server.rest_url + "/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert '<script src="/ui/app.js"' in page.text
    for path, file in static_files().items():
        answer = requests.get(server.rest_url + path, timeout=10)
        assert answer.status_code == 200 and answer.content == file.read_bytes(), path
    head = requests.head(server.rest_url + "/", timeout=10)
    assert head.status_code == 200 and head.content == b""


def test_page_loads_nothing_from_other_hosts():
    """No CDN: every URL the page's files name is on this server (offline machines)."""
    for path, file in static_files().items():
        text = file.read_text(encoding="utf-8")
        for scheme in ("http://", "https://", "//cdn", "@import"):
            assert scheme not in text, (path, scheme)


def test_models_json_lists_names_and_version_labels(server):
    answer = requests.get(server.rest_url + "/ui/models.json", timeout=10).json()
    assert answer == {"models": [{"name": "shapes", "version_labels": {"stable": 1}},
                                 {"name": "temple_flower", "version_labels": {}}]}


def test_the_page_never_shadows_the_rest_api(server):
    """/v1/... and everything but GET/HEAD of the page's own paths answer as TF Serving does."""
    url = server.rest_url
    assert requests.get(url + "/v1/models/shapes", timeout=10).json()["model_version_status"][0][
        "state"] == "AVAILABLE"
    malformed = requests.get(url + "/v1/ui/models.json", timeout=10)
    assert malformed.status_code == 400 and "Malformed request" in malformed.json()["error"]
    for method, path in [("POST", "/"), ("PUT", "/"), ("GET", "/ui/nothing.js"),
                         ("GET", "/ui/../server/ui.py"), ("GET", "/ui/%2e%2e/ui.py"),
                         ("GET", "/index.html"), ("POST", "/ui/app.js")]:
        answer = requests.request(method, url + path, timeout=10)
        assert (answer.status_code, answer.content) == (404, b""), (method, path)


def test_no_ui_answers_the_root_as_tf_serving_does(serve, exported):
    with serve(model_base_path=exported.parent, model_name="shapes",
               extra_args=["--no-ui"]) as plain:
        for path in ("/", "/ui/app.js", "/ui/models.json"):
            answer = requests.get(plain.rest_url + path, timeout=10)
            assert (answer.status_code, answer.content) == (404, b""), path
        assert requests.get(plain.rest_url + "/v1/models/shapes", timeout=10).status_code == 200


# ----------------------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium is not installed: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1200,1500"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()  # ends chromedriver and the browser it started


def _wait(driver, condition, what, timeout=60):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page re-renders lists as answers arrive: an element found a moment ago may be gone.
    wait = WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, message=f"waiting for {what}")


def _texts(driver, selector):
    """The text of every element matching ``selector``, read in one go inside the page."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", selector)


def _text(driver, element_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def _run_curl(command: str) -> dict:
    assert command.startswith("curl "), command
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_browser_predicts_explains_and_copies_curl(browser, server, exported, square_png,
                                                   temple_flower, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    started = time.monotonic()
    expected = Client(exported).predict([square_png])[0]
    driver = browser
    driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": server.rest_url,
        "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
    })
    driver.get(server.rest_url + "/")
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
          "the page to load the models")
    table = _text(driver, "models")
    assert "shapes" in table and "version 1: AVAILABLE" in table and "stable → 1" in table
    versions = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#version option")]
    assert versions == ["newest", "version 1", "label stable (1)"]
    assert _texts(driver, "#labels li") == ["circle", "square", "triangle"]
    signatures = driver.find_element(By.ID, "signatures").get_attribute("textContent")
    assert "serving_gradcam" in signatures and "serving_default" in signatures

    # Upload a PNG: top-k and the heatmap appear.
    driver.find_element(By.ID, "file").send_keys(str(square_png))
    _wait(driver, lambda d: d.find_element(By.ID, "heatmap").get_attribute("naturalWidth")
          not in (None, "0"), "the heatmap image")
    top = driver.find_elements(By.CSS_SELECTOR, "#top li")
    assert len(top) == 3  # top-5 of a 3-class model
    assert top[0].find_element(By.CLASS_NAME, "label").text == expected.label
    shown = float(top[0].find_element(By.CLASS_NAME, "prob").text.rstrip(" %"))
    assert shown == pytest.approx(100 * float(expected.probabilities.max()), abs=0.01)
    assert f"Grad-CAM for “{expected.label}”" in _text(driver, "heatmap-caption")
    latency = _text(driver, "latency")
    assert "predict" in latency and "ms" in latency and "Grad-CAM" in latency
    assert _text(driver, "error") == ""

    # The heatmap shown is serving_gradcam's overlay, as the REST API answers it.
    source = driver.find_element(By.ID, "heatmap").get_attribute("src")
    overlay = base64.b64decode(source.split(",", 1)[1])
    with Image.open(io.BytesIO(overlay)) as image:
        assert image.format == "PNG" and image.size == (96, 96)

    # Keyboard only: focus another class's button and press Enter; its Grad-CAM is shown.
    other = top[1].find_element(By.TAG_NAME, "button")
    other_label = other.find_element(By.CLASS_NAME, "label").text
    driver.execute_script("arguments[0].focus()", other)
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    _wait(driver, lambda d: f"“{other_label}”" in _text(d, "heatmap-caption"),
          "the second class's Grad-CAM")
    assert other.get_attribute("aria-pressed") == "true"
    focusable = driver.execute_script(
        "return [...document.querySelectorAll('select, button, input, textarea')]"
        ".every(e => e.tabIndex >= 0)")
    assert focusable

    # Copy as curl: the clipboard holds the command, and running it gives the same answer.
    copy = driver.find_element(By.ID, "copy")
    copy.click()
    _wait(driver, lambda d: _text(d, "copy-status"), "the copy to finish")
    command = driver.find_element(By.ID, "curl").get_attribute("value")
    if _text(driver, "copy-status") == "Copied.":
        clipboard = driver.execute_async_script(
            "navigator.clipboard.readText().then(arguments[0], e => arguments[0](String(e)))")
        assert clipboard == command
    answer = _run_curl(command)
    assert answer["predictions"][0]["label"] == expected.label
    gradcam = _run_curl(driver.find_element(By.ID, "curl-gradcam").get_attribute("value"))
    assert gradcam["predictions"][0]["label"] == other_label
    shown_now = driver.find_element(By.ID, "heatmap").get_attribute("src").split(",", 1)[1]
    assert gradcam["predictions"][0]["heatmap_png_bytes"]["b64"] == shown_now

    # Another model: its labels, and Grad-CAM for "temple" on the half-temple, half-flower
    # picture (the README's screenshot).
    Select(driver.find_element(By.ID, "model")).select_by_value("temple_flower")
    _wait(driver, lambda d: _texts(d, "#labels li") == ["temple", "flower"],
          "the second model's labels")
    both = tmp_path / "temple_and_flower.png"
    Image.fromarray(temple_flower[1]).save(both)
    driver.find_element(By.ID, "file").send_keys(str(both))
    _wait(driver, lambda d: d.find_element(By.ID, "heatmap").get_attribute("naturalWidth")
          == "320", "the picture's top classes and its top class's heatmap")
    temple = [b for b in driver.find_elements(By.CSS_SELECTOR, "#top button")
              if b.find_element(By.CLASS_NAME, "label").text == "temple"]
    assert len(temple) == 1
    temple[0].send_keys(Keys.ENTER)
    _wait(driver, lambda d: "“temple”" in _text(d, "heatmap-caption"), "the temple's Grad-CAM")
    assert temple[0].get_attribute("aria-pressed") == "true"
    assert _text(driver, "error") == ""

    screenshot = Path(os.environ.get("KERASCNN_UI_SCREENSHOT") or tmp_path / "ui.png")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(screenshot))
    with Image.open(screenshot) as picture:
        assert picture.format == "PNG" and min(picture.size) > 500

    # An API error is shown in words: bytes that are no image.
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"this is text, not a PNG")
    driver.find_element(By.ID, "file").send_keys(str(bad))
    _wait(driver, lambda d: _text(d, "error"), "the error message")
    error = _text(driver, "error")
    assert "HTTP 400" in error and "unsupported image format" in error, error
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
              and "400 (Bad Request)" not in entry["message"]]
    assert severe == []
    print(f"browser test: {time.monotonic() - started:.1f} s, copy: {_text(driver, 'copy-status')}")
