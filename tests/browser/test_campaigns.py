"""Campaigns in the browser: create one with a link and schedule it, watch it go Scheduled -> In Progress ->
Completed with its Sent count; the switcher on a scheduled one; delete through the confirmation popup."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from devstack.config import DevstackConfig
from tests.browser.conftest import Api, Clock
from tests.e2e.conftest import operator
from tests.e2e.test_devstack_campaign import noon_offset

pytestmark = pytest.mark.browser

STORE = ZoneInfo("America/New_York")
AUDIENCE = [f"+1555610{n:04d}" for n in range(6)]  # at the demo's 1 message a second: several seconds In Progress
SLOW_MS = 90_000


def slow_pool(devstack: DevstackConfig) -> None:
    """Every number of the demo shop's pool at 1 MPS (the operator restates their rates), so a send lasts."""
    for number in ("+15550100000", "+15550100002"):
        operator(devstack, "assign", number, "demo.myshopify.com", "--mps", "1")


def store_now(offset: timedelta) -> datetime:
    return (datetime.now(timezone.utc) + offset).astimezone(STORE)


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("tbody tr").filter(has=page.get_by_role("rowheader", name=name))


def test_a_scheduled_campaign_goes_out_and_shows_its_sent_count(
    page: Page, api: Api, clock: Clock, devstack: DevstackConfig, screenshots: Path
) -> None:
    offset = noon_offset()
    clock.set(offset)
    slow_pool(devstack)
    for phone in AUDIENCE:
        assert api.post("/subscribers", {"phone": phone, "source": "import"}).status_code in (200, 201)
    recipients = api.get("/segments/all/count").json()["count"]
    page.reload()
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()

    page.get_by_role("button", name="Create New Campaign").click()
    popup = page.get_by_role("dialog", name="Create New Campaign")
    popup.get_by_label("Name").fill("Noon flash sale")
    popup.get_by_label("Message").fill("Flash sale: 20% off today only https://demo.example/sale?ref=sms")
    expect(popup.locator("[data-preview=encoding]")).to_have_text("GSM-7")
    expect(popup.locator("[data-preview=parts]")).to_have_text("1 part")
    expect(popup.locator("[data-preview=characters]")).to_contain_text("characters")
    expect(popup.get_by_label("Segment")).to_contain_text(f"({recipients})")
    popup.get_by_label("Custom Date").check()
    send_at = (store_now(offset) + timedelta(minutes=2)).replace(second=0, microsecond=0)
    popup.get_by_label("Date and time (America/New_York").fill(send_at.strftime("%Y-%m-%dT%H:%M"))
    popup.get_by_role("button", name="Schedule Campaign").click()

    preflight = page.get_by_role("dialog", name="Before you send")
    expect(preflight).to_contain_text(f"Recipients{recipients}")
    expect(preflight).to_contain_text("Estimated cost")
    page.screenshot(path=screenshots / "preflight-1280.png")
    preflight.get_by_role("button", name="Confirm Schedule").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    campaign = row(page, "Noon flash sale")
    status = campaign.locator("[data-col=status]")
    expect(status).to_have_text("Scheduled")
    (created,) = [c for c in api.get("/campaigns").json()["items"] if c["name"] == "Noon flash sale"]
    assert "/r/" not in created["message"] and "https://demo.example/sale" in created["message"]

    clock.set(offset + timedelta(minutes=3))  # past send_at: the Scheduler pump starts it
    expect(status).to_contain_text("In Progress", timeout=SLOW_MS)
    expect(status.locator("progress")).to_be_visible()
    expect(status).to_have_text("Completed", timeout=SLOW_MS)
    expect(campaign.locator("[data-col=sent]")).to_have_text(str(recipients))
    sent = api.get(f"/campaigns/{created['id']}").json()["stats"]["sent"]
    assert sent == recipients
    assert int(page.locator("[data-total=sent]").inner_text().replace(",", "")) >= recipients


def test_the_switcher_turns_a_scheduled_campaign_off_and_on(page: Page, api: Api) -> None:
    tomorrow = (datetime.now(STORE) + timedelta(days=2)).replace(hour=12, minute=0)
    created = api.post(
        "/campaigns",
        {
            "name": "Weekend teaser",
            "message": "Weekend sale starts soon",
            "segment_id": "all",
            "send_at": tomorrow.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert created.status_code == 201, created.text
    page.reload()
    switch = row(page, "Weekend teaser").get_by_role("switch", name="Weekend teaser on")
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(row(page, "Weekend teaser").locator("[data-col=status]")).to_have_text("Scheduled")

    switch.click()
    expect(row(page, "Weekend teaser").get_by_role("switch")).to_have_attribute("aria-checked", "false")
    expect(row(page, "Weekend teaser").locator("[data-col=status]")).to_have_text("Draft")
    assert api.get(f"/campaigns/{created.json()['id']}").json()["active"] is False

    row(page, "Weekend teaser").get_by_role("switch").click()
    expect(row(page, "Weekend teaser").get_by_role("switch")).to_have_attribute("aria-checked", "true")
    expect(row(page, "Weekend teaser").locator("[data-col=status]")).to_have_text("Scheduled")
    assert api.get(f"/campaigns/{created.json()['id']}").json()["active"] is True


def test_delete_asks_first_and_cancel_keeps_the_campaign(page: Page, api: Api) -> None:
    created = api.post("/campaigns", {"name": "Old draft", "message": "Never mind", "segment_id": "all", "draft": True})
    assert created.status_code == 201, created.text
    page.reload()

    row(page, "Old draft").get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete campaign?")
    expect(confirm).to_contain_text("Old draft")
    confirm.get_by_role("button", name="Cancel").click()
    expect(row(page, "Old draft")).to_have_count(1)
    assert api.get(f"/campaigns/{created.json()['id']}").status_code == 200

    row(page, "Old draft").get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete campaign?").get_by_role("button", name="Delete").click()
    expect(row(page, "Old draft")).to_have_count(0)
    assert api.get(f"/campaigns/{created.json()['id']}").status_code == 404


def test_end_campaign_asks_first_and_stops_a_send_in_progress(
    page: Page, api: Api, clock: Clock, devstack: DevstackConfig
) -> None:
    clock.set(noon_offset())
    slow_pool(devstack)
    for phone in [f"+1555611{n:04d}" for n in range(12)]:  # at 1 a second: long enough to end half-way
        assert api.post("/subscribers", {"phone": phone, "source": "import"}).status_code in (200, 201)
    created = api.post("/campaigns", {"name": "Too early", "message": "Oops, not yet", "segment_id": "all", "send_at": "now"})
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    page.reload()

    campaign = row(page, "Too early")
    expect(campaign.locator("[data-col=status]")).to_contain_text("In Progress", timeout=SLOW_MS)
    campaign.get_by_role("button", name="End Campaign").click()
    confirm = page.get_by_role("dialog", name="End campaign?")
    expect(confirm).to_contain_text("Too early")
    confirm.get_by_role("button", name="End Campaign").click()
    expect(campaign.locator("[data-col=status]")).to_have_text("Completed", timeout=SLOW_MS)
    ended = api.get(f"/campaigns/{campaign_id}").json()
    assert ended["ended_early"] is True
    assert ended["stats"]["sent"] < ended["stats"]["planned"]


def test_edit_changes_a_draft(page: Page, api: Api) -> None:
    created = api.post("/campaigns", {"name": "Rough draft", "message": "First words", "segment_id": "all", "draft": True})
    assert created.status_code == 201, created.text
    page.reload()

    row(page, "Rough draft").get_by_role("button", name="Edit").click()
    popup = page.get_by_role("dialog", name="Edit Rough draft")
    expect(popup.get_by_label("Message")).to_have_value("First words")
    popup.get_by_label("Name").fill("Polished draft")
    popup.get_by_label("Message").fill("Better words, same draft")
    popup.get_by_role("button", name="Save Draft").click()
    expect(row(page, "Polished draft").locator("[data-col=status]")).to_have_text("Draft")
    saved = api.get(f"/campaigns/{created.json()['id']}").json()
    assert (saved["name"], saved["message"], saved["status"]) == ("Polished draft", "Better words, same draft", "draft")
