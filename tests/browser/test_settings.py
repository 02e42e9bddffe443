"""Settings in the browser: a bad value shows the API's own message next to its field, and nothing is saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Api

pytestmark = pytest.mark.browser


def test_a_bad_value_shows_the_api_message_next_to_the_field(page: Page, api: Api, screenshots: Path) -> None:
    before = api.get("/settings").json()
    refused = api.patch("/settings", {"timezone": "Mars/Olympus_Mons"})
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]

    page.get_by_role("link", name="Settings").click()
    timezone = page.get_by_label("Store timezone")
    timezone.fill("Mars/Olympus_Mons")
    page.get_by_role("button", name="Save Settings").click()
    error = page.locator("#setting-timezone-error")
    expect(error).to_have_text(message)
    expect(timezone).to_have_attribute("aria-invalid", "")
    expect(timezone).to_be_focused()
    page.screenshot(path=screenshots / "settings-error-1280.png")
    assert api.get("/settings").json() == before

    timezone.fill("America/Chicago")
    mps = page.get_by_label("Messages per second (MPS)")
    mps.fill("0")
    page.get_by_role("button", name="Save Settings").click()
    expect(page.locator("#setting-mps-error")).to_contain_text("mps")
    expect(error).to_have_text("")
    assert api.get("/settings").json() == before

    mps.fill("2")
    page.get_by_role("button", name="Save Settings").click()
    expect(page.locator("#setting-mps-error")).to_have_text("")
    expect(page.get_by_role("status")).to_have_text("Settings saved")
    saved = api.get("/settings").json()
    assert (saved["timezone"], saved["mps"]) == ("America/Chicago", 2)
    assert api.patch("/settings", {"timezone": before["timezone"], "mps": before["mps"]}).status_code == 200
