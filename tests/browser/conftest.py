"""Browser fixtures: the e2e devstack subprocess, and Debian's Chromium driven by Playwright, signed in.

Playwright's own browser download needs the internet: these tests use /usr/bin/chromium (``make browser``
installs Debian's package when it is missing).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from chalicelib.adapters.clock import FileOffsetClock
from devstack.config import DevstackConfig
from tests.e2e.conftest import Api, api, devstack, pytest_runtest_makereport

CHROMIUM = os.environ.get("SMSCAST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SMSCAST_SCREENSHOTS") or Path(__file__).resolve().parent / "screenshots")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
UI_TIMEOUT_MS = 15_000  # a page reacts within a few of its 2-3 s refreshes

expect.set_options(timeout=UI_TIMEOUT_MS)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the page screenshots go (named in the run's summary, so a person can look at them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"dashboard screenshots: {SCREENSHOTS}")


@pytest.fixture
def page(browser: Browser, devstack: DevstackConfig) -> Iterator[Page]:
    """A fresh browser tab signed in to the demo shop with its API key, on the Campaigns page."""
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("request", lambda request: None if request.url.startswith(devstack.api_url) else elsewhere.append(request.url))
    sign_in(tab, devstack)
    yield tab
    context.close()
    assert not errors, f"the page threw: {errors}"
    assert not elsewhere, f"the dashboard must work offline, yet it asked for {elsewhere}"


def sign_in(tab: Page, config: DevstackConfig) -> None:
    """Open the dashboard and sign in with the shop's API key, as a merchant would."""
    tab.goto(config.api_url + "/")
    tab.get_by_label("API key").fill(config.api_key)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()


@pytest.fixture
def clock(devstack: DevstackConfig) -> Iterator[Clock]:
    """Moves devstack's clock; back to real time after the test."""
    mover = Clock(devstack.clock_file)
    yield mover
    mover.set(timedelta(0))


class Clock:
    """devstack's movable clock, as `python -m devstack.clock` moves it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def set(self, offset: timedelta) -> None:
        FileOffsetClock.write_offset(self.path, offset)

    def offset(self) -> timedelta:
        return FileOffsetClock(self.path).offset()


__all__ = ["Api", "Clock", "api", "devstack", "pytest_runtest_makereport", "sign_in"]
