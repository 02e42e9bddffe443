"""devstack end to end: a scheduled campaign to 500 subscribers, fired by the Scheduler pump, sent through
the SQS pumps and the sandbox provider, observed over HTTP and in the sandbox outbox."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from boto3.dynamodb.conditions import Attr

from chalicelib.adapters.clock import FileOffsetClock
from chalicelib.adapters.dynamo.tables import SandboxControlRow, SandboxMessageRow
from chalicelib.adapters.sms.sandbox import UNREACHABLE_NUMBERS
from devstack.config import DevstackConfig
from tests.e2e.conftest import Api, create_other_shop, eventually

pytestmark = pytest.mark.e2e

AUDIENCE = 500
OPTED_OUT = 7
STORE = ZoneInfo("America/New_York")


def noon_offset() -> timedelta:
    """How far to move devstack's clock so it is a weekday noon in New York: inside every sending window."""
    now = datetime.now(timezone.utc)
    day = now.astimezone(STORE).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    noon = datetime(day.year, day.month, day.day, 12, 0, tzinfo=STORE)
    return noon - now


def devstack_table(config: DevstackConfig, base_name: str) -> Any:
    """One of devstack's tables, straight from its moto server."""
    return boto3.resource(
        "dynamodb",
        endpoint_url=config.aws_endpoint,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table(f"{config.resource_prefix}-{base_name}")


def campaign_messages(config: DevstackConfig, campaign_id: str) -> list[dict[str, Any]]:
    """Every sandbox message of the campaign, read straight from the outbox table."""
    table = devstack_table(config, SandboxMessageRow.base_name)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"FilterExpression": Attr("campaign_id").eq(campaign_id)}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sandbox_control(config: DevstackConfig) -> Any:
    """devstack's sandbox switches (the table SandboxProvider reads its faults from)."""
    return devstack_table(config, SandboxControlRow.base_name)


def test_scheduled_campaign_to_500_subscribers(devstack: DevstackConfig) -> None:
    # A shop of its own: "all" must mean exactly this test's 500, whichever e2e files ran before on this devstack.
    sender = f"+1555{uuid.uuid4().int % 10_000_000:07d}"
    key = create_other_shop(devstack, f"campaign-{uuid.uuid4().hex[:8]}.myshopify.com", sender, mps=250)
    api = Api(devstack.api_url, key)
    offset = noon_offset()
    FileOffsetClock.write_offset(devstack.clock_file, offset)
    try:
        assert api.patch("/settings", {"timezone": STORE.key}).status_code == 200
        phones = [f"+1555300{n:04d}" for n in range(AUDIENCE)]
        for phone in phones:
            response = api.post("/subscribers", {"phone": phone, "source": "import"})
            assert response.status_code in (200, 201), response.text
        opted_out = phones[::71][:OPTED_OUT]
        for phone in opted_out:
            assert api.post(f"/subscribers/{phone.replace('+', '%2B')}/opt-out").status_code == 200
        # The sandbox "carrier" accepts this one's message, then reports the number invalid (TEXT_INVALID).
        dead = phones[1]
        sandbox_control(devstack).put_item(Item={"name": UNREACHABLE_NUMBERS, "data": json.dumps({"numbers": [dead]})})

        store_now = (datetime.now(timezone.utc) + offset).astimezone(STORE)
        send_at = (store_now + timedelta(minutes=2)).replace(second=0, microsecond=0)
        created = api.post(
            "/campaigns",
            {
                "name": "Noon sale",
                "message": "Hi {first_name|there}: 25% off until midnight!",
                "segment_id": "all",
                "send_at": send_at.strftime("%Y-%m-%dT%H:%M"),
            },
        )
        assert created.status_code == 201, created.text
        campaign = created.json()
        assert campaign["status"] == "scheduled"
        assert api.get(f"/campaigns/{campaign['id']}").json()["status"] == "scheduled"

        # Move devstack's clock past the send time: the Scheduler pump fires the one-time schedule.
        FileOffsetClock.write_offset(devstack.clock_file, offset + timedelta(minutes=3))

        def status() -> str:
            return str(api.get(f"/campaigns/{campaign['id']}").json()["status"])

        seen: set[str] = set()

        def completed() -> bool:
            seen.add(status())
            return "completed" in seen

        eventually(completed, timeout=240, what="the campaign to complete", interval=1.0)
        final = api.get(f"/campaigns/{campaign['id']}").json()
        # Scheduled -> In Progress -> Completed, in order and not before the store-local send time
        started, done = datetime.fromisoformat(final["started_at"]), datetime.fromisoformat(final["completed_at"])
        assert datetime.fromisoformat(campaign["send_at_utc"]) <= started <= done
        eligible = AUDIENCE - OPTED_OUT
        messages = campaign_messages(devstack, campaign["id"])
        per_phone = Counter(m["to_number"] for m in messages)
        assert len(per_phone) == eligible and set(per_phone.values()) == {1}, "exactly one message per eligible subscriber"
        assert not set(opted_out) & set(per_phone)
        assert final["stats"]["sent"] == eligible == final["stats"]["planned"]
        assert final["stats"]["failed"] == 0 and not final["ended_early"]
        listing = api.get("/campaigns").json()
        assert listing["totals"]["sent"] == eligible  # the shop's only campaign

        # Delivery receipts: the sandbox publishes one per message onto the delivery-receipts queue, as End User
        # Messaging's configuration set does through its SNS topic; the receipts worker counts them once.
        def receipts_in() -> bool:
            stats = api.get(f"/campaigns/{campaign['id']}").json()["stats"]
            return bool(stats["delivered"] + stats["undelivered"] == eligible)

        eventually(receipts_in, timeout=120, what="every delivery receipt to be counted", interval=1.0)
        stats = api.get(f"/campaigns/{campaign['id']}").json()["stats"]
        assert (stats["delivered"], stats["undelivered"]) == (eligible - 1, 1)
        subscriber = api.get(f"/subscribers/{dead.replace('+', '%2B')}").json()
        assert subscriber["unreachable_reason"].startswith("TEXT_INVALID")
        assert subscriber["status"] == "active"  # not a STOP: consent is untouched
        assert subscriber["consent_history"][-1]["action"] == "unreachable"
    finally:
        FileOffsetClock.write_offset(devstack.clock_file, timedelta(0))
        sandbox_control(devstack).delete_item(Key={"name": UNREACHABLE_NUMBERS})
