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
    page.get_by_role("button", name="Save Settings").click()
    expect(error).to_have_text("")
    expect(page.get_by_role("status")).to_have_text("Settings saved")
    assert api.get("/settings").json()["timezone"] == "America/Chicago"
    assert api.patch("/settings", {"timezone": before["timezone"]}).status_code == 200


def test_the_pool_is_shown_read_only_and_the_primary_is_chosen_from_it(page: Page, api: Api) -> None:
    before = api.get("/settings").json()
    page.get_by_role("link", name="Settings").click()
    table = page.get_by_role("table", name="Sender numbers")
    for number in before["numbers"]:
        expect(table).to_contain_text(number["number"])
        expect(table).to_contain_text(f"{number['mps']} MPS")
    expect(page.get_by_label("Messages per second (MPS)")).to_have_count(0)  # the rate is the operator's
    primary = page.get_by_label("Primary number")
    other = before["numbers"][-1]["number"]
    primary.select_option(other)
    page.get_by_role("button", name="Save Settings").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved")
    assert api.get("/settings").json()["sender_number"] == other
    assert api.patch("/settings", {"sender_number": before["sender_number"]}).status_code == 200
