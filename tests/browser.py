"""Headless Chromium for the page and report tests: Debian's ``chromium`` driven by
playwright's Python API (``playwright install`` is not needed). Tests skip with a reason
when either is missing; ``PIXELWISE_CHROMIUM`` names another executable."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """The Chromium executable; skips the test when it or playwright is missing."""
    path = os.environ.get("PIXELWISE_CHROMIUM") or shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install playwright)")
    return path


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """A launched headless Chromium browser, closed on exit."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
