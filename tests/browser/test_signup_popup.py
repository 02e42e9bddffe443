"""The storefront sign-up form in a real browser: a store's page on another origin loads the script from
devstack, the popup shows the shop's wording, a shopper signs up (cross-origin, preflight included), the phone
gets "reply Y", Y makes them active with the page on record; and the popup is a dialog the keyboard can close.
The Subscribers page shows the tag to paste."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from devstack import phone
from devstack.config import DevstackConfig
from tests.browser.conftest import DESKTOP, Api
from tests.e2e.test_devstack_inbound import new_number, status_of, wait_for_message, wait_for_status

pytestmark = pytest.mark.browser


class Store:
    """A store's website on its own origin (another port of 127.0.0.1), whose pages hold ``tag``."""

    def __init__(self, tag: str) -> None:
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Green tea</title></head>'
            f"<body><h1>Green tea</h1>{tag}</body></html>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def storefront(browser: Browser, devstack: DevstackConfig) -> Iterator[tuple[Page, Store]]:
    tag = (
        f'<script src="{devstack.api_url}/static/signup.js" data-smscast-shop="{devstack.shop_id}"'
        ' data-smscast-delay="0" async></script>'
    )
    store = Store(tag)
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    # A 4xx the form answers is logged by the browser as a failed resource: expected, and shown to the shopper.
    tab.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and not m.text.startswith("Failed to load resource") else None,
    )
    yield tab, store
    context.close()
    store.close()
    assert not errors, f"the store's page logged errors: {errors}"


def test_a_shopper_signs_up_in_the_popup_and_confirms_with_y(
    storefront: tuple[Page, Store], devstack: DevstackConfig, api: Api
) -> None:
    tab, store = storefront
    number = new_number()
    url = f"{store.origin}/products/green-tea?variant=7"
    tab.goto(url)
    dialog = tab.get_by_role("dialog", name="Get texts from Demo Store")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Reply HELP for help, STOP to cancel.")
    expect(dialog.get_by_label("Mobile number")).to_be_focused()

    dialog.get_by_label("Mobile number").fill(number.removeprefix("+1"))
    dialog.get_by_role("button", name="Sign up").click()
    expect(dialog.get_by_role("status")).to_contain_text("Check your phone: reply Y")

    wait_for_message(devstack, number, 0, "reply Y")
    assert status_of(api, number) == "pending"
    phone.send(number, "Y", config=devstack)
    wait_for_status(api, number, "active")
    requested = api.subscriber(number).json()["consent_history"][0]
    assert (requested["source"], requested["page_url"]) == ("web", url)


def test_the_popup_is_a_dialog_the_keyboard_closes_and_it_stays_closed(storefront: tuple[Page, Store]) -> None:
    tab, store = storefront
    tab.goto(f"{store.origin}/")
    dialog = tab.get_by_role("dialog")
    expect(dialog).to_be_visible()
    tab.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    tab.reload()
    tab.wait_for_timeout(1500)  # the popup would have opened by now (delay 0)
    expect(tab.get_by_role("dialog")).to_have_count(0)


def test_a_malformed_number_is_said_next_to_the_field(storefront: tuple[Page, Store]) -> None:
    tab, store = storefront
    tab.goto(f"{store.origin}/")
    dialog = tab.get_by_role("dialog")
    dialog.get_by_label("Mobile number").fill("12")
    dialog.get_by_role("button", name="Sign up").click()
    expect(dialog.get_by_role("status")).to_have_text("Please enter a valid mobile number.")
    expect(dialog.get_by_label("Mobile number")).to_be_focused()


def test_the_subscribers_page_shows_the_tag_to_paste(page: Page, devstack: DevstackConfig) -> None:
    page.get_by_role("link", name="Subscribers").click()
    card = page.get_by_role("region", name="Sign-up form")
    code = card.get_by_label("Code to paste into your store's theme")
    expect(code).to_have_value(
        f'<script src="{devstack.api_url}/static/signup.js" data-smscast-shop="{devstack.shop_id}" async></script>'
    )
    expect(card).to_contain_text("Limits per hour: 5 sign-ups per visitor")
