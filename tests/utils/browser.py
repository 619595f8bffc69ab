"""Headless Chromium for the browser tests (the carousel, the embed script, the reference page):
Debian's package, driven by Selenium. Each test module gets one browser, the ``browser`` fixture of
``tests/conftest.py``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1000",
)


def start_chromium(profile: Path, extra_flags: Sequence[str] = ()) -> webdriver.Chrome:
    """Headless Chromium from Debian's packages, no browser downloaded; its console is kept
    (``driver.get_log("browser")``)."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert Path(binary).exists(), (
            f"{binary} missing: `make test` installs Debian's chromium and chromium-driver"
        )
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", *extra_flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
