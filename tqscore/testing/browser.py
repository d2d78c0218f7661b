"""Headless Chromium for the report's tests and benchmark: Debian's ``chromium`` driven by
Selenium through ``chromium-driver`` (README's test set-up installs both).

Chromium runs as root here, with no network: no sandbox (root), no GPU, nothing that phones
home (QUIC, background networking, component updates, sync), and a fresh profile each time.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile

CHROMIUM_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1000",
)


def chromium_paths() -> tuple[str | None, str | None]:
    return shutil.which("chromium"), shutil.which("chromedriver")


@contextlib.contextmanager
def chromium():
    """A Selenium driver for headless Chromium that keeps the page's console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths()
    if not (binary and driver_path):
        raise RuntimeError("chromium and chromedriver are needed: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="tqscore-chromium-")
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
