"""devstack end to end: inbound SMS through SNS and the pumps, consent over HTTP, as a subscriber's phone sees it."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from chalicelib.adapters.dynamo.tables import MessageRow
from chalicelib.adapters.resources import INBOUND_FAILURES
from devstack import phone
from devstack.config import DevstackConfig
from devstack.stack import TAP_QUEUE_BASE
from tests.e2e.conftest import Api, create_other_shop, eventually, operator

pytestmark = pytest.mark.e2e


def status_of(api: Api, number: str) -> str | None:
    """The subscriber's status, or None while it does not exist."""
    response = api.subscriber(number)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def wait_for_status(api: Api, number: str, status: str) -> None:
    eventually(lambda: status_of(api, number) == status, what=f"{number} to become {status}")


def wait_for_message(config: DevstackConfig, number: str, after: int, containing: str) -> phone.ReceivedSms:
    """The first message past the first ``after`` ones whose body contains ``containing``."""

    def probe() -> phone.ReceivedSms | None:
        new = phone.received(number, config=config)[after:]
        return next((m for m in new if containing.lower() in m.body.lower()), None)

    return eventually(probe, what=f"{number} to receive a message containing {containing!r}")


def queue_depth(config: DevstackConfig, queue_name: str) -> int:
    """Messages on the queue, visible or in flight."""
    sqs = config.boto3_client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def stored_lines_with_id(config: DevstackConfig, number: str, message_id: str) -> int:
    """How many conversation lines of the thread carry this inbound message id (read straight from DynamoDB)."""
    dynamodb = boto3.resource(
        "dynamodb",
        endpoint_url=config.aws_endpoint,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = dynamodb.Table(f"{config.resource_prefix}-{MessageRow.base_name}")
    items: list[dict[str, Any]] = table.query(
        KeyConditionExpression=Key("thread_key").eq(f"{config.shop_id}#{number}"), ConsistentRead=True
    )["Items"]
    return sum(1 for item in items if str(item["line_key"]).endswith(f"#{message_id}"))


def new_number() -> str:
    """A fictional number (NANP 555) no other test uses."""
    return f"+1555{uuid.uuid4().int % 10_000_000:07d}"


def test_devstack_serves_the_seeded_demo_shop(devstack: DevstackConfig, api: Api) -> None:
    response = api.get("/settings")
    assert response.status_code == 200, response.text
    assert response.json()["shop_name"] == "Demo Store"
    assert response.json()["sender_number"] == devstack.sender_number == "+15550100000"


def test_the_demo_shop_has_a_pool_the_operator_assigned(devstack: DevstackConfig, api: Api) -> None:
    settings = api.get("/settings").json()
    assert [(n["number"], n["mps"]) for n in settings["numbers"]] == [("+15550100000", 100), ("+15550100002", 20)]
    listing = operator(devstack, "list")
    assert "+15550100002\t20 MPS\tSIMULATOR\tdemo.myshopify.com" in listing.splitlines()


def test_a_text_to_the_second_pool_number_reaches_the_shop(devstack: DevstackConfig, api: Api) -> None:
    number = new_number()
    before = len(phone.received(number, config=devstack))
    phone.send(number, "JOIN", config=devstack, to="+15550100002")
    confirm = wait_for_message(devstack, number, before, "reply Y")
    assert confirm.from_number == devstack.sender_number  # keyword confirmations come from the primary
    assert status_of(api, number) == "pending"


def test_a_merchant_cannot_choose_a_number_it_was_not_assigned(devstack: DevstackConfig, api: Api) -> None:
    before = api.get("/settings").json()
    for number in ("+15550100077", "+15550100099"):  # not the demo shop's (one goes to another shop below)
        refused = api.patch("/settings", {"sender_number": number, "shop_name": "Stolen"})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "sender_number_not_assigned"
    assert api.get("/settings").json() == before


def test_no_token_is_401(devstack: DevstackConfig) -> None:
    response = Api(devstack.api_url, None).get("/subscribers")
    assert response.status_code == 401
    assert response.json()["error"]["code"]


def test_bad_token_is_401(devstack: DevstackConfig) -> None:
    assert Api(devstack.api_url, "sk_not-a-real-key").get("/subscribers").status_code == 401


def test_join_then_y_subscribes_with_double_opt_in(devstack: DevstackConfig, api: Api) -> None:
    number = new_number()
    before = len(phone.received(number, config=devstack))

    phone.send(number, "JOIN", config=devstack)

    confirm = wait_for_message(devstack, number, before, "reply Y")
    assert confirm.from_number == devstack.sender_number
    assert status_of(api, number) == "pending"

    phone.send(number, "Y", config=devstack)

    wait_for_status(api, number, "active")
    wait_for_message(devstack, number, before + 1, "Welcome")
    history = api.subscriber(number).json()["consent_history"]
    assert len(history) >= 2  # the request and the confirmation are both on record


def test_a_message_delivered_twice_is_stored_once(devstack: DevstackConfig, api: Api) -> None:
    number = new_number()
    assert api.post("/subscribers", {"phone": number}).status_code in (200, 201)
    message_id = f"dup-{uuid.uuid4()}"

    phone.send(number, "Do you ship to Canada?", message_id=message_id, config=devstack)
    eventually(lambda: stored_lines_with_id(devstack, number, message_id) == 1, what="the message to be stored")
    phone.send(number, "Do you ship to Canada?", message_id=message_id, config=devstack)  # SNS redelivery

    # The tap queue is acknowledged only after the handler finished (or the event was parked), so an
    # empty tap means the duplicate has been fully processed.
    eventually(lambda: queue_depth(devstack, f"{devstack.resource_prefix}-{TAP_QUEUE_BASE}") == 0, what="the tap to drain")
    assert stored_lines_with_id(devstack, number, message_id) == 1
    assert queue_depth(devstack, INBOUND_FAILURES.name(devstack.resource_prefix)) == 0, "a duplicate must not be a failure"


@pytest.mark.parametrize("word", ["STOP", "  stop ", "Unsubscribe"])
def test_opt_out_words_opt_out_confirm_and_block_sends_until_start(devstack: DevstackConfig, api: Api, word: str) -> None:
    number = new_number()
    assert api.post("/subscribers", {"phone": number}).status_code in (200, 201)
    assert status_of(api, number) == "active"
    before = len(phone.received(number, config=devstack))

    phone.send(number, word, config=devstack)

    wait_for_status(api, number, "opted_out")
    wait_for_message(devstack, number, before, "unsubscribed")
    refused = api.post("/subscribers", {"phone": number})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "opted_out"
    assert status_of(api, number) == "opted_out"  # the refused add changed nothing

    phone.send(number, "START", config=devstack)

    wait_for_status(api, number, "active")


def test_another_shop_cannot_see_this_shops_subscribers(devstack: DevstackConfig, api: Api) -> None:
    number = new_number()
    assert api.post("/subscribers", {"phone": number}).status_code in (200, 201)
    other = Api(devstack.api_url, create_other_shop(devstack, "other-e2e.myshopify.com", "+15550100077"))

    assert other.subscriber(number).status_code == 404
    listed = other.get("/subscribers")
    assert listed.status_code == 200, listed.text
    assert number not in [s["phone"] for s in listed.json()["items"]]
    assert api.subscriber(number).status_code == 200
