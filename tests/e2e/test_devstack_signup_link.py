"""devstack end to end (issue 13, item 1): the shop's shareable link and its QR code over HTTP. The PNG the API
serves decodes to exactly the link the API gives, and what a phone does with the scanned link (text the keyword
to the number) starts a sign-up."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from devstack import phone
from devstack.config import DevstackConfig
from tests.e2e.conftest import Api
from tests.e2e.test_devstack_inbound import new_number, status_of, wait_for_message
from tests.qr import decode_png

pytestmark = pytest.mark.e2e


def test_the_png_qr_code_decodes_to_the_shareable_link(devstack: DevstackConfig, api: Api) -> None:
    shared = api.get("/signup/link")
    assert shared.status_code == 200, shared.text
    link = shared.json()["link"]
    assert shared.json()["number"] == devstack.sender_number
    assert link == f"sms:{devstack.sender_number}?&body={shared.json()['keyword']}"

    image = api.session.get(api.base_url + "/signup/qr.png", headers={"Accept": "image/png"}, timeout=10)
    assert image.status_code == 200, image.text
    assert image.headers["Content-Type"] == "image/png"
    assert decode_png(image.content) == [link]


def test_the_svg_qr_code_is_served_as_svg(api: Api) -> None:
    image = api.session.get(api.base_url + "/signup/qr.svg", headers={"Accept": "image/svg+xml"}, timeout=10)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/svg+xml"
    assert image.text.startswith("<svg") and "<path" in image.text


def test_a_png_asked_for_without_its_type_is_406(api: Api) -> None:
    refused = api.session.get(api.base_url + "/signup/qr.png", headers={"Accept": "application/json"}, timeout=10)
    assert refused.status_code == 406 and refused.json()["error"]["code"] == "not_acceptable"


def test_texting_what_the_scanned_code_says_starts_a_sign_up(devstack: DevstackConfig, api: Api) -> None:
    image = api.session.get(api.base_url + "/signup/qr.png", headers={"Accept": "image/png"}, timeout=10)
    (scanned,) = decode_png(image.content)
    # What the phone's messaging app does with the link: the text after &body= to the number before ?.
    to, _, query = scanned.removeprefix("sms:").partition("?")
    (text,) = parse_qs(urlsplit("sms:x?" + query).query)["body"]
    number = new_number()
    before = len(phone.received(number, config=devstack))

    phone.send(number, text, config=devstack, to=to)

    wait_for_message(devstack, number, before, "reply Y")
    assert status_of(api, number) == "pending"
