"""The Inbox in the browser: a subscriber texts and the red dot shows 1 without a reload; at night the reply
editor offers Send Reply Now and Schedule Sending, and a scheduled reply shows in the thread."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from devstack import phone
from devstack.config import DevstackConfig
from tests.browser.conftest import Api, Clock
from tests.e2e.test_devstack_inbox import late_evening_offset

pytestmark = pytest.mark.browser

SUBSCRIBER = "+15556200001"


def resolve_everything(api: Api) -> None:
    """Start from an empty Inbox, so the dot's number is this test's conversation alone."""
    for conversation in api.get("/inbox?status=unresolved&limit=100").json()["items"]:
        assert api.post(f"/inbox/{quote(conversation['phone'], safe='')}/resolve").status_code == 200
    assert api.get("/inbox/unresolved-count").json()["unresolved"] == 0


def test_a_text_lights_the_red_dot_and_a_night_reply_is_scheduled(
    page: Page, api: Api, clock: Clock, devstack: DevstackConfig
) -> None:
    clock.set(late_evening_offset())  # 23:00 in New York: inside the shop's quiet hours (21:00-09:00)
    assert api.post("/subscribers", {"phone": SUBSCRIBER, "source": "checkout", "name": "Ada Lovelace"}).status_code in (200, 201)
    resolve_everything(api)
    page.reload()
    dot = page.locator("#inbox-dot")
    expect(dot).to_be_hidden()

    phone.send(SUBSCRIBER, "Is the green scarf back in stock?", config=devstack)
    expect(dot).to_be_visible()  # no reload: the dot refreshes by itself
    expect(dot).to_have_text("1")
    expect(page.locator("#clock")).to_contain_text("devstack clock +")

    page.get_by_role("link", name="Inbox").click()
    conversation = page.get_by_role("button", name="Ada Lovelace")
    expect(conversation).to_contain_text("green scarf")
    conversation.click()
    thread = page.get_by_role("region", name="Conversation")
    expect(thread.get_by_role("heading", name="Ada Lovelace")).to_contain_text("💤")
    expect(thread).to_contain_text("Quiet hours for this subscriber until")
    expect(thread.get_by_role("button", name="Send Reply Now")).to_be_visible()
    expect(thread.get_by_role("button", name="Schedule Sending")).to_be_visible()
    expect(thread.get_by_role("button", name="Send Reply", exact=True)).to_have_count(0)

    thread.get_by_label("Reply").fill("Yes! Green is back tomorrow morning.")
    thread.get_by_role("button", name="Schedule Sending").click()
    scheduled = thread.locator(".msg.scheduled")
    expect(scheduled).to_contain_text("Yes! Green is back tomorrow morning.")
    expect(scheduled).to_contain_text("Scheduled for")
    replies = api.get(f"/inbox/{quote(SUBSCRIBER, safe='')}").json()["scheduled_replies"]
    assert [r["state"] for r in replies if "Green" in r["text"]] == ["scheduled"]
    assert not [m for m in phone.received(SUBSCRIBER, config=devstack) if "Green" in m.body]  # not sent at night
    expect(dot).to_be_hidden()  # scheduling the answer resolves the conversation
    assert clock.offset() > timedelta(0)


def test_unresolve_resolve_and_opt_out_with_confirmation(page: Page, api: Api, devstack: DevstackConfig) -> None:
    subscriber = "+15556200002"
    path = f"/inbox/{quote(subscriber, safe='')}"
    assert api.post("/subscribers", {"phone": subscriber, "source": "keyword"}).status_code in (200, 201)
    resolve_everything(api)
    phone.send(subscriber, "Where is my order?", config=devstack)
    page.get_by_role("link", name="Inbox").click()
    page.get_by_role("button", name=subscriber).click()  # a keyword subscriber is shown by number
    thread = page.get_by_role("region", name="Conversation")
    expect(thread).to_contain_text("Where is my order?")

    thread.get_by_role("button", name="Resolve").click()
    expect(thread.get_by_role("button", name="Unresolve")).to_be_visible()
    assert api.get(path).json()["conversation"]["status"] == "resolved"
    thread.get_by_role("button", name="Unresolve").click()
    expect(thread.get_by_role("button", name="Resolve")).to_be_visible()
    assert api.get(path).json()["conversation"]["status"] == "unresolved"

    thread.get_by_role("button", name="Opt-out").click()
    confirm = page.get_by_role("dialog", name="Opt out subscriber?")
    confirm.get_by_role("button", name="Cancel").click()
    assert api.get(path).json()["conversation"]["status"] == "unresolved"
    thread.get_by_role("button", name="Opt-out").click()
    page.get_by_role("dialog", name="Opt out subscriber?").get_by_role("button", name="Opt-out").click()
    expect(thread).to_contain_text("Opted out")
    expect(thread.get_by_label("Reply")).to_be_hidden()  # nothing can be sent to an opted-out number
    assert api.subscriber(subscriber).json()["status"] == "opted_out"
