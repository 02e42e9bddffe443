"""devstack end to end: a subscriber texts, the merchant answers in quiet hours (409), schedules the reply,
the devstack clock moves past the opening, and the reply arrives; the thread shows it, status Resolved."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from chalicelib.adapters.clock import FileOffsetClock
from devstack import phone
from devstack.config import DevstackConfig
from tests.e2e.conftest import Api, eventually

pytestmark = pytest.mark.e2e

STORE = ZoneInfo("America/New_York")
SUBSCRIBER = "+15554440001"
PATH = f"/inbox/{quote(SUBSCRIBER, safe='')}"


def late_evening_offset() -> timedelta:
    """Move devstack to 23:00 on a weekday in New York: inside quiet hours (21:00-09:00)."""
    now = datetime.now(timezone.utc)
    day = now.astimezone(STORE).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 23, 0, tzinfo=STORE) - now


def test_reply_in_quiet_hours_is_scheduled_and_delivered(devstack: DevstackConfig, api: Api) -> None:
    offset = late_evening_offset()
    FileOffsetClock.write_offset(devstack.clock_file, offset)
    try:
        assert api.post("/subscribers", {"phone": SUBSCRIBER, "source": "checkout", "name": "Grace"}).status_code in (200, 201)
        before = int(api.get("/inbox/unresolved-count").json()["unresolved"])
        phone.send(SUBSCRIBER, "Do you have the scarf in blue?", config=devstack)

        def listed() -> bool:
            rows = api.get("/inbox?status=unresolved").json()["items"]
            return any(r["phone"] == SUBSCRIBER for r in rows)

        eventually(listed, what="the conversation to appear as unresolved")
        assert int(api.get("/inbox/unresolved-count").json()["unresolved"]) == before + 1

        asked = api.post(f"{PATH}/replies", {"text": "Yes! Blue is back in stock."})
        assert asked.status_code == 409, asked.text
        error = asked.json()["error"]
        assert error["code"] == "quiet_hours"
        opens_at = datetime.fromisoformat(error["details"]["opens_at"])
        assert opens_at.astimezone(STORE).hour == 9  # the shop's quiet hours end at 09:00 New York

        scheduled = api.post(f"{PATH}/replies", {"text": "Yes! Blue is back in stock.", "quiet_hours": "schedule"})
        assert scheduled.status_code == 202, scheduled.text
        assert api.get(PATH).json()["conversation"]["status"] == "resolved"
        assert not [m for m in phone.received(SUBSCRIBER, config=devstack) if "Blue" in m.body]

        # Move devstack's clock past the opening: the Scheduler pump fires the reply's schedule.
        devstack_now = datetime.now(timezone.utc) + offset
        FileOffsetClock.write_offset(devstack.clock_file, offset + (opens_at - devstack_now) + timedelta(minutes=1))

        eventually(
            lambda: [m for m in phone.received(SUBSCRIBER, config=devstack) if "Blue is back" in m.body],
            timeout=60,
            what="the scheduled reply to arrive",
        )
        thread = api.get(PATH).json()
        assert thread["messages"][-1]["body"] == "Yes! Blue is back in stock."
        assert thread["messages"][-1]["kind"] == "reply"
        assert thread["scheduled_replies"] == []
        assert thread["conversation"]["status"] == "resolved"
        assert int(api.get("/inbox/unresolved-count").json()["unresolved"]) == before
    finally:
        FileOffsetClock.write_offset(devstack.clock_file, timedelta(0))
