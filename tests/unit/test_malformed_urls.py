"""A link with an unclosed IPv6 bracket ("https://[oops") made urllib raise ValueError, which the API answered
with a 500: found by the API fuzz test (tests/e2e/test_devstack_api_fuzz.py). Each is a 4xx now, and a
malformed link in a campaign's message still redirects."""

from __future__ import annotations

import json

from chalicelib.domain.links import with_utm
from tests.unit.conftest import Api
from tests.unit.test_api import session_token

MALFORMED = "https://[oops/a.png"


def error_code(response: object) -> str:
    return str(json.loads(response.body)["error"]["code"])  # type: ignore[attr-defined]


def test_profile_url_with_an_unclosed_ipv6_bracket_is_a_400_not_a_500(api: Api) -> None:
    response = api.call("POST", "/subscribers", body={"phone": "+12125551234", "profile_url": MALFORMED})
    assert (response.status_code, error_code(response)) == (400, "invalid_profile_url")
    assert api.call("GET", "/subscribers/%2B12125551234").status_code == 404  # nothing written


def test_media_url_with_an_unclosed_ipv6_bracket_is_a_400_not_a_500(api: Api) -> None:
    preview = api.call("POST", "/campaigns/preview", body={"message": "Hi", "segment_id": "all", "media_url": MALFORMED})
    assert (preview.status_code, error_code(preview)) == (400, "invalid_media_url")
    created = api.call(
        "POST", "/campaigns", body={"name": "N", "message": "Hi", "segment_id": "all", "draft": True, "media_url": MALFORMED}
    )
    assert (created.status_code, error_code(created)) == (400, "invalid_media_url")
    assert json.loads(api.call("GET", "/campaigns").body)["items"] == []  # nothing written


def test_malformed_link_in_a_message_redirects_as_written_without_utm() -> None:
    assert with_utm("https://[oops/sale", "c1") == "https://[oops/sale"
    assert with_utm("https://[oops/é", "c1") == "https://[oops/%C3%A9"  # a Location header is ASCII


def test_session_token_with_an_unclosed_ipv6_bracket_in_its_shop_is_a_401_not_a_500(api: Api) -> None:
    token = session_token(dest="https://[demo.myshopify.com", iss="https://[demo.myshopify.com/admin")
    assert api.call("GET", "/settings", token=token).status_code == 401
