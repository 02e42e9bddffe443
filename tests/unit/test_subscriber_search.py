"""GET /subscribers?q=: the merchant's search box, by phone digits or a piece of a name, across every subscriber."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from chalicelib.domain.subscribers import SubscriberSearch
from tests.unit.conftest import Api, body


class TestWhatTheMerchantTyped:
    @pytest.mark.parametrize(
        ("typed", "expected"),
        [
            ("+1 (212) 555-0101", SubscriberSearch(digits="12125550101")),
            ("555.01", SubscriberSearch(digits="55501")),
            ("0101", SubscriberSearch(digits="0101")),
            ("Ada", SubscriberSearch(name="ada")),
            ("  GRACE hopper ", SubscriberSearch(name="grace hopper")),
            ("Straße", SubscriberSearch(name="strasse")),
            ("٤٢", SubscriberSearch(name="٤٢")),  # not ASCII digits: no phone holds them, so it is a name
            ("R2-D2", SubscriberSearch(name="r2-d2")),
        ],
    )
    def test_digits_search_phones_and_the_rest_searches_names(self, typed: str, expected: SubscriberSearch) -> None:
        assert SubscriberSearch.of(typed) == expected


@pytest.fixture
def shop(api: Api) -> Api:
    for phone, name in [("+12125550101", "Ada Lovelace"), ("+12125550102", "Grace Hopper"), ("+13105550103", None)]:
        new = {"phone": phone, "name": name} if name else {"phone": phone}
        assert api.call("POST", "/subscribers", body=new).status_code == 201
    assert api.call("POST", "/subscribers", shop="other", body={"phone": "+12125550104", "name": "Ada Other"}).status_code == 201
    return api


def phones(api: Api, q: str) -> list[str]:
    response = api.call("GET", f"/subscribers?q={quote(q)}")
    assert response.status_code == 200, response.body
    return [item["phone"] for item in body(response)["items"]]


def test_a_piece_of_a_name_in_any_case(shop: Api) -> None:
    assert phones(shop, "ada") == ["+12125550101"]  # the other shop's Ada is not found
    assert phones(shop, "HOPPER") == ["+12125550102"]


def test_phone_digits_as_people_type_them(shop: Api) -> None:
    assert phones(shop, "(212) 555") == ["+12125550101", "+12125550102"]
    assert phones(shop, "0103") == ["+13105550103"]
    assert phones(shop, "999") == []


def test_search_combines_with_the_filters(shop: Api) -> None:
    assert shop.call("POST", "/subscribers/%2B12125550101/opt-out").status_code == 200
    response = shop.call("GET", "/subscribers?q=212&status=active")
    assert [item["phone"] for item in body(response)["items"]] == ["+12125550102"]


@pytest.mark.parametrize("q", ["", "a\u0000b", "x" * 101])
def test_a_bad_search_is_a_400_naming_q(shop: Api, q: str) -> None:
    response = shop.call("GET", f"/subscribers?q={quote(q)}")
    assert response.status_code == 400
    assert body(response)["error"]["details"]["field"] == "q"
