"""devstack end to end (issue 13, part 2): the storefront sign-up form over HTTP as a store's page calls it
(cross-origin, preflight included), the confirmation on the devstack phone, Y from that phone through the inbound
path, and the subscriber active with the form's wording and page on record.

Every request here comes from 127.0.0.1, the one address devstack's gateway reports: this file stays under the
per-IP limit (5 sign-ups an hour per shop)."""

from __future__ import annotations

import uuid

import pytest
import requests

from devstack import phone
from devstack.config import DevstackConfig
from tests.e2e.conftest import Api
from tests.e2e.test_devstack_inbound import new_number, status_of, wait_for_message, wait_for_status

pytestmark = pytest.mark.e2e

STORE = "https://demo-store.example"
PAGE = f"{STORE}/products/green-tea?variant=42"


def form(devstack: DevstackConfig) -> dict[str, object]:
    response = requests.get(f"{devstack.api_url}/signup/{devstack.shop_id}/form", headers={"Origin": STORE}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return dict(response.json())


def sign_up(devstack: DevstackConfig, number: str, consent_text: object, request_id: str) -> requests.Response:
    body = {
        "phone": number.removeprefix("+1"),  # typed as a shopper would, national form, country chosen beside it
        "country": "US",
        "consent_text": consent_text,
        "page_url": PAGE,
        "request_id": request_id,
    }
    return requests.post(f"{devstack.api_url}/signup/{devstack.shop_id}", json=body, headers={"Origin": STORE}, timeout=10)


def test_the_browser_preflight_is_answered_for_a_store_origin(devstack: DevstackConfig) -> None:
    preflight = requests.options(
        f"{devstack.api_url}/signup/{devstack.shop_id}",
        headers={"Origin": STORE, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_sign_up_through_the_form_then_y_from_the_phone_makes_an_active_subscriber(devstack: DevstackConfig, api: Api) -> None:
    number = new_number()
    shown = form(devstack)
    before = len(phone.received(number, config=devstack))

    request_id = str(uuid.uuid4())
    accepted = sign_up(devstack, number, shown["consent_text"], request_id)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "check_your_phone"
    assert accepted.headers["Access-Control-Allow-Origin"] == "*"

    confirm = wait_for_message(devstack, number, before, "reply Y")
    assert confirm.from_number == devstack.sender_number
    assert status_of(api, number) == "pending"

    # The shopper's browser retried the same submission: the same answer, and no second text.
    again = sign_up(devstack, number, shown["consent_text"], request_id)
    assert (again.status_code, again.json()) == (202, accepted.json())

    phone.send(number, "Y", config=devstack)
    wait_for_status(api, number, "active")
    wait_for_message(devstack, number, before + 1, "Welcome")
    assert sum("reply Y" in m.body for m in phone.received(number, config=devstack)) == 1

    detail = api.subscriber(number).json()
    assert detail["source"] == "signup"
    requested, confirmed = detail["consent_history"][:2]
    assert (requested["action"], requested["source"], requested["text"], requested["page_url"]) == (
        "requested",
        "web",
        shown["consent_text"],
        PAGE,
    )
    assert (confirmed["action"], confirmed["source"]) == ("opted_in", "sms")


def test_a_number_that_texted_stop_is_answered_the_same_and_never_texted(devstack: DevstackConfig, api: Api) -> None:
    number = new_number()
    phone.send(number, "STOP", config=devstack)
    wait_for_status(api, number, "opted_out")
    stop_answer = wait_for_message(devstack, number, 0, "unsubscribed")
    received = len(phone.received(number, config=devstack))

    answer = sign_up(devstack, number, form(devstack)["consent_text"], str(uuid.uuid4()))
    assert answer.status_code == 202 and answer.json()["status"] == "check_your_phone"
    assert len(phone.received(number, config=devstack)) == received
    assert status_of(api, number) == "opted_out"
    assert stop_answer.body
