"""devstack end to end, one clock: with devstack's clock a day ahead, a subscriber texts, the merchant
replies and the subscriber texts again; the thread lists the three in the order they happened, each
stamped with devstack's time (not the wall clock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from chalicelib.adapters.clock import FileOffsetClock
from devstack import phone
from devstack.config import DevstackConfig
from tests.e2e.conftest import Api, eventually

pytestmark = pytest.mark.e2e

SUBSCRIBER = "+15554440077"
PATH = f"/inbox/{quote(SUBSCRIBER, safe='')}"
OFFSET = timedelta(days=1)


def _thread(api: Api) -> list[dict[str, object]]:
    response = api.get(PATH)
    return list(response.json()["messages"]) if response.status_code == 200 else []


def _bodies(api: Api) -> list[str]:
    return [str(m["body"]) for m in _thread(api)]


def test_thread_keeps_the_order_it_happened_in_when_the_clock_is_moved(devstack: DevstackConfig, api: Api) -> None:
    FileOffsetClock.write_offset(devstack.clock_file, OFFSET)
    try:
        assert api.post("/subscribers", {"phone": SUBSCRIBER, "source": "checkout", "name": "Ada"}).status_code in (200, 201)
        phone.send(SUBSCRIBER, "Is the green mug back?", config=devstack)
        eventually(lambda: "Is the green mug back?" in _bodies(api), what="the first text in the thread")

        # send_now: a day ahead may well be inside the subscriber's quiet hours; this test is about order.
        reply = api.post(f"{PATH}/replies", {"text": "Yes, since this morning.", "quiet_hours": "send_now"})
        assert reply.status_code == 201, reply.text

        phone.send(SUBSCRIBER, "Great, ordering now", config=devstack)
        eventually(lambda: "Great, ordering now" in _bodies(api), what="the second text in the thread")

        messages = _thread(api)
        assert [m["body"] for m in messages] == ["Is the green mug back?", "Yes, since this morning.", "Great, ordering now"]
        assert [m["direction"] for m in messages] == ["inbound", "outbound", "inbound"]
        # Every line carries devstack's time: a day ahead of the wall clock, not the wall clock itself.
        wall = datetime.now(timezone.utc)
        for message in messages:
            at = datetime.fromisoformat(str(message["at"]))
            assert abs(at - (wall + OFFSET)) < timedelta(minutes=5), message
        # The subscriber's row was stamped by the same clock.
        subscriber = api.subscriber(SUBSCRIBER).json()
        assert datetime.fromisoformat(subscriber["updated_at"]) > wall + OFFSET - timedelta(minutes=5), subscriber
    finally:
        FileOffsetClock.write_offset(devstack.clock_file, timedelta(0))
