"""The shareable keyword link and its QR code (issue 13, item 1): the ``sms:`` form both phones read, the API
that gives it and its QR code as SVG and PNG, and the QR code read back to exactly the link."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import parse_qs, unquote, urlsplit

import png  # type: ignore[import-untyped]  # pypng ships no types
import pytest

from chalicelib.adapters import qr
from chalicelib.domain.errors import Conflict
from chalicelib.domain.shops import SenderNumber, Shop, ShopSettings
from chalicelib.domain.signup import share_link, sms_link
from chalicelib.services import shops
from tests.qr import decode_png
from tests.unit.conftest import Api, body

NUMBER = "+15550100000"


def _ios_body(link: str) -> str | None:
    """What iOS 8+ types: the text after ``&body=`` (it ignores a body that follows the ``?`` directly)."""
    found = re.search(r"&body=([^&]*)", link)
    return unquote(found.group(1)) if found else None


def _android_body(link: str) -> str | None:
    """What Android types: its Uri.getQueryParameter("body"), the query split on ``&`` (empty pairs skipped)."""
    query = urlsplit(link).query
    return parse_qs(query).get("body", [None])[0]


def _rfc5724(link: str) -> tuple[str, str | None]:
    """An RFC 5724 reader: the recipient before ``?``, then the ``body`` field of the fields after it."""
    recipient, _, fields = link.removeprefix("sms:").partition("?")
    pairs = dict(pair.split("=", 1) for pair in fields.split("&") if "=" in pair)
    return recipient, unquote(pairs["body"]) if "body" in pairs else None


class TestSmsLink:
    def test_the_form_both_phones_read(self) -> None:
        assert sms_link(NUMBER, "JOIN") == "sms:+15550100000?&body=JOIN"

    @pytest.mark.parametrize(
        "text",
        ["JOIN", "JOIN NOW", "Café crème", "A&B", "50% off?", "#1 deals", "a+b", "日本", "line\nbreak", "a=b;c"],
    )
    def test_every_reader_gets_exactly_the_text_back(self, text: str) -> None:
        link = sms_link(NUMBER, text)
        assert _ios_body(link) == text
        assert _android_body(link) == text
        assert _rfc5724(link) == (NUMBER, text)

    def test_spaces_and_accents_are_percent_encoded_never_plus(self) -> None:
        link = sms_link(NUMBER, "Café JOIN+")
        assert link == "sms:+15550100000?&body=Caf%C3%A9%20JOIN%2B"
        assert link.isascii() and " " not in link

    def test_the_e164_number_keeps_its_plus(self) -> None:
        assert urlsplit(sms_link(NUMBER, "JOIN")).path == NUMBER


def _shop(numbers: tuple[str, ...] = (NUMBER,), **settings: object) -> Shop:
    return Shop(
        shop_id="demo.myshopify.com",
        settings=replace(ShopSettings(), **settings),  # type: ignore[arg-type]
        numbers=tuple(SenderNumber(number=n, mps=3) for n in numbers),
    )


class TestShareLink:
    def test_the_shops_keyword_to_its_primary_number(self) -> None:
        shop = _shop(("+15550100000", "+15550100001"), sender_number="+15550100001", opt_in_keyword="DEALS")
        found = share_link(shop)
        assert (found.link, found.keyword, found.number) == ("sms:+15550100001?&body=DEALS", "DEALS", "+15550100001")

    def test_no_number_is_a_conflict(self) -> None:
        with pytest.raises(Conflict) as refused:
            share_link(_shop(()))
        assert refused.value.code == "no_sender_number"

    def test_no_keyword_is_a_conflict(self) -> None:
        with pytest.raises(Conflict) as refused:
            share_link(_shop(opt_in_keyword=" "))
        assert refused.value.code == "no_opt_in_keyword"


class TestQrCode:
    @pytest.mark.parametrize("text", ["sms:+15550100000?&body=JOIN", sms_link("+447700900123", "Café crème 20% off")])
    def test_the_png_reads_back_to_exactly_the_text(self, text: str) -> None:
        assert decode_png(qr.png(text)) == [text]

    def test_the_svg_draws_the_same_modules_as_the_png(self) -> None:
        text = sms_link(NUMBER, "JOIN")
        assert _svg_modules(qr.svg(text, scale=1)) == _png_modules(qr.png(text, scale=1))

    def test_the_svg_is_a_standalone_document_on_white(self) -> None:
        svg = qr.svg("sms:+15550100000?&body=JOIN")
        assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>")
        assert 'fill="#fff"' in svg  # a white background: the code reads on a dark page too


def _png_modules(data: bytes) -> set[tuple[int, int]]:
    _, _, rows, info = png.Reader(bytes=data).asDirect()
    planes = info["planes"]
    return {(x, y) for y, row in enumerate(rows) for x, v in enumerate(list(row)[::planes]) if v == 0}


def _svg_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules of segno's one-path SVG at scale 1: runs drawn with relative ``m``/``h`` on rows at y+.5."""
    (path,) = re.findall(r'class="qrline"[^>]* d="([^"]+)"', svg)
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            run = float(a)
            dark.update((int(x + i), int(y)) for i in range(int(run)))
            x += run
    return dark


# --- the API ----------------------------------------------------------------------------------------------


def test_the_link_of_the_callers_shop(api: Api) -> None:
    response = api.call("GET", "/signup/link")
    assert response.status_code == 200
    assert body(response) == {"link": "sms:+15550100000?&body=JOIN", "keyword": "JOIN", "number": "+15550100000"}
    other = body(api.call("GET", "/signup/link", shop="other"))
    assert other["number"] == "+15550100001" and other["link"] == "sms:+15550100001?&body=JOIN"


def test_the_link_follows_the_keyword_setting(api: Api) -> None:
    assert api.call("PATCH", "/settings", body={"opt_in_keyword": "deals"}).status_code == 200
    assert body(api.call("GET", "/signup/link"))["link"] == "sms:+15550100000?&body=DEALS"


@pytest.mark.parametrize("path", ["/signup/link", "/signup/qr.svg", "/signup/qr.png"])
def test_every_signup_route_needs_a_credential(api: Api, path: str) -> None:
    response = api.call("GET", path, shop=None, headers={"Accept": "image/png"})
    assert response.status_code == 401 and body(response)["error"]["code"] == "missing_token"


def _no_number_shop(api: Api) -> None:
    _, key = shops.create_shop(api.ports, shop_id="bare.myshopify.com", settings={})
    api.keys["bare"] = key


@pytest.mark.parametrize("path", ["/signup/link", "/signup/qr.svg", "/signup/qr.png"])
def test_a_shop_without_a_number_gets_409_no_sender_number(api: Api, path: str) -> None:
    _no_number_shop(api)
    response = api.call("GET", path, shop="bare", headers={"Accept": "image/png"})
    assert response.status_code == 409 and body(response)["error"]["code"] == "no_sender_number"


@pytest.mark.parametrize("path", ["/signup/link", "/signup/qr.svg", "/signup/qr.png"])
def test_a_shop_without_a_keyword_gets_409_no_opt_in_keyword(api: Api, path: str) -> None:
    shop = api.ports.shops.get("demo.myshopify.com")
    api.ports.shops.save_settings(shop, replace(shop.settings, opt_in_keyword=""))
    response = api.call("GET", path, headers={"Accept": "image/png"})
    assert response.status_code == 409 and body(response)["error"]["code"] == "no_opt_in_keyword"


def test_the_svg_is_svg_and_draws_the_link(api: Api) -> None:
    response = api.call("GET", "/signup/qr.svg")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.body.decode() == qr.svg(body(api.call("GET", "/signup/link"))["link"])


def test_the_png_is_png_and_reads_back_to_the_link(api: Api) -> None:
    link = body(api.call("GET", "/signup/link"))["link"]
    response = api.call("GET", "/signup/qr.png", headers={"Accept": "image/png"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.body.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_png(response.body) == [link]


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", "image/svg+xml"])
def test_a_png_not_asked_for_is_406_in_the_one_error_shape(api: Api, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    response = api.call("GET", "/signup/qr.png", headers=headers)
    assert response.status_code == 406
    assert body(response)["error"]["code"] == "not_acceptable"
