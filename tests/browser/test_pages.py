"""Every page at desktop and phone width (screenshots saved for people to look at), the keyboard alone,
Subscribers (add, search, consent history, the sign-up link and its QR code) and devstack's phone simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from devstack import phone
from devstack.config import DevstackConfig
from tests.browser.conftest import DESKTOP, PHONE, Api, sign_in
from tests.qr import decode_png

pytestmark = pytest.mark.browser

PAGES = {
    "campaigns": "Campaigns",
    "inbox": "Inbox",
    "subscribers": "Subscribers",
    "settings": "Settings",
    "phone": "Phone simulator",
}
TEXTER = "+15556300001"


@pytest.fixture
def seeded(api: Api, devstack: DevstackConfig) -> None:
    """Something on every page: a named subscriber who texted, and a draft campaign."""
    assert api.post("/subscribers", {"phone": TEXTER, "source": "checkout", "name": "Grace Hopper"}).status_code in (200, 201)
    phone.send(TEXTER, "Do you ship to Canada?", config=devstack)
    created = api.post(
        "/campaigns",
        {"name": "Spring preview", "message": "Spring is here: new colours in store", "segment_id": "all", "draft": True},
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_renders_and_fits(
    browser: Browser, devstack: DevstackConfig, seeded: None, screenshots: Path, viewport: dict[str, int]
) -> None:
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(tab, devstack)
    width = viewport["width"]
    shots = [screenshots / f"{name}-{width}.png" for name in [*PAGES, "create-campaign"]]
    for shot in shots:
        shot.unlink(missing_ok=True)  # what is there at the end was taken by this run
    for name, heading in PAGES.items():
        tab.goto(f"{devstack.api_url}/#{name}")
        tab.reload()  # a fresh load, so the wait below cannot see the previous page's finished render
        expect(tab.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(tab.locator(f"#page[data-page={name}]:not([aria-busy])")).to_be_attached()  # its data is in
        if name == "inbox":
            tab.get_by_role("button", name="Grace Hopper").click()
            expect(tab.get_by_role("region", name="Conversation")).to_contain_text("Canada")
        # nothing wider than the screen: at phone width a page scrolls down, never sideways
        assert tab.evaluate("document.documentElement.scrollWidth") <= width, f"{name} is wider than {width}px"
        tab.screenshot(path=screenshots / f"{name}-{width}.png", full_page=True)
    tab.goto(f"{devstack.api_url}/#campaigns")
    tab.get_by_role("button", name="Create New Campaign").click()
    popup = tab.get_by_role("dialog", name="Create New Campaign")
    popup.get_by_label("Message").fill("Spring sale: 15% off with code SPRING15 https://demo.example/spring")
    expect(popup.locator("[data-preview=cost]")).to_contain_text("Estimated cost")
    tab.screenshot(path=screenshots / f"create-campaign-{width}.png", full_page=True)
    context.close()
    assert not errors, errors
    assert [shot.name for shot in shots if not shot.exists()] == []


def test_keyboard_alone_signs_in_and_works_a_popup(browser: Browser, devstack: DevstackConfig) -> None:
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    tab.goto(devstack.api_url + "/")
    expect(tab.get_by_label("API key")).to_be_focused()
    tab.keyboard.type(devstack.api_key)
    tab.keyboard.press("Enter")
    create = tab.get_by_role("button", name="Create New Campaign")
    expect(create).to_be_visible()
    for _ in range(30):  # Tab through the header to the page's main action
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.textContent") == "Create New Campaign":
            break
    expect(create).to_be_focused()
    tab.keyboard.press("Enter")
    popup = tab.get_by_role("dialog", name="Create New Campaign")
    expect(popup.get_by_label("Name")).to_be_focused()  # focus moved into the popup
    tab.keyboard.type("Typed only")
    tab.keyboard.press("Escape")
    expect(popup).to_have_count(0)
    expect(create).to_be_focused()  # and back to what opened it
    context.close()


def test_subscribers_add_search_and_consent_history(page: Page, api: Api) -> None:
    page.get_by_role("link", name="Subscribers").click()
    page.get_by_role("button", name="Add Subscriber").click()
    popup = page.get_by_role("dialog", name="Add subscriber")
    popup.get_by_label("Phone").fill("12")
    popup.get_by_role("button", name="Add").click()
    expect(popup.locator(".field-error").first).not_to_be_empty()  # the API's refusal, next to the phone
    popup.get_by_label("Phone").fill("+1 555 640 0001")
    popup.get_by_label("Name (optional)").fill("Katherine Johnson")
    popup.get_by_label("Consent text (optional)").fill("Signed up at the spring fair")
    popup.get_by_role("button", name="Add").click()
    expect(popup).to_have_count(0)

    rows = page.locator("tbody tr")
    page.get_by_label("Search").fill("(555) 640-0001")  # a phone as people type it: searched by the API
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Katherine Johnson")
    page.get_by_label("Search").fill("katherine")  # a piece of the name, whatever its case
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("+15556400001")
    rows.first.get_by_role("button", name="Consent history").click()
    history = page.get_by_role("dialog", name="Katherine Johnson (+15556400001)")
    expect(history).to_contain_text("Signed up at the spring fair")
    history.get_by_role("button", name="Close").click()
    page.get_by_label("Source").select_option("checkout")
    expect(page.locator("tbody")).not_to_contain_text("Katherine Johnson")
    assert api.subscriber("+15556400001").json()["name"] == "Katherine Johnson"


def test_subscribers_shows_the_sign_up_link_and_its_qr_code(page: Page, api: Api) -> None:
    link = api.get("/signup/link").json()["link"]
    page.get_by_role("link", name="Subscribers").click()
    share = page.get_by_role("region", name="Sign-up link")
    expect(share.get_by_label("Link to share")).to_have_value(link)
    # The SVG as Chromium draws it reads back to the link, and so does the PNG the page offers to download.
    qr_code = share.get_by_role("img", name="QR code")
    expect(qr_code).to_be_visible()
    assert decode_png(qr_code.screenshot()) == [link]
    with page.expect_download() as downloading:
        share.get_by_role("link", name="Download PNG").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".png")
    assert decode_png(Path(download.path()).read_bytes()) == [link]


def test_phone_simulator_texts_the_shop_and_shows_the_answer(page: Page, devstack: DevstackConfig) -> None:
    page.get_by_role("link", name="Phone simulator").click()
    page.get_by_label("This phone's number").fill("+15556500001")
    page.get_by_label("Text", exact=True).fill("JOIN")
    page.get_by_role("button", name="Send Text").click()
    answers = page.get_by_role("list", name="Messages this phone received")
    expect(answers).to_contain_text("reply Y to confirm")  # the shop's confirmation text, from the sandbox
    assert any("reply Y" in m.body for m in phone.received("+15556500001", config=devstack))


def test_inside_shopify_every_call_carries_app_bridge_session_token(browser: Browser, devstack: DevstackConfig) -> None:
    """Opened by the Shopify admin (?shop=&host=), the page loads App Bridge and signs calls with its token.

    Shopify's CDN is out of reach here: a stand-in App Bridge hands out the shop's API key as the token, which
    the API accepts like a session token; what is checked is that the page asks App Bridge and sends its answer.
    """
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    tokens_asked: list[str] = []
    tab.expose_function("tokenAsked", lambda: tokens_asked.append("yes"))
    tab.route(
        "https://cdn.shopify.com/shopifycloud/app-bridge.js",
        lambda route: route.fulfill(
            content_type="text/javascript",
            body=f"window.shopify = {{ idToken: async () => {{ window.tokenAsked(); return {devstack.api_key!r}; }} }};",
        ),
    )
    authorizations: list[str] = []
    tab.on("request", lambda r: authorizations.append(r.headers.get("authorization", "")) if "/settings" in r.url else None)
    tab.goto(f"{devstack.api_url}/?shop=demo.myshopify.com&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtbw")
    expect(tab.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    expect(tab.get_by_label("API key")).to_be_hidden()  # no API key asked for inside Shopify
    assert tokens_asked and authorizations == [f"Bearer {devstack.api_key}"]
    assert tab.evaluate("sessionStorage.length") == 0
    context.close()
