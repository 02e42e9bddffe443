"""devstack end to end, issue 8's story: a campaign with a link and a discount code goes out; one subscriber taps
their link and then orders; someone else orders with the code; the campaign shows Clicks 1, Orders 2 and their
revenue, the totals agree, and a cancellation takes its order back out. Everything goes through the developer
tools a person would use: `devstack.phone --click` and `devstack.shopify order`."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.clock import FileOffsetClock
from devstack import phone
from devstack.config import STATE_FILE_ENV, DevstackConfig, write_state
from tests.e2e.conftest import REPO_ROOT, Api, create_other_shop, eventually
from tests.e2e.test_devstack_campaign import noon_offset

pytestmark = pytest.mark.e2e


def new_number() -> str:
    return f"+1555{uuid.uuid4().int % 10_000_000:07d}"


def run(state: Path, *args: str) -> str:
    """`python -m <args>` against the given state file, as a developer would type it; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("SMSCAST_")}
    env[STATE_FILE_ENV] = str(state)
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_clicks_and_codes_become_orders_and_revenue(devstack: DevstackConfig, tmp_path: Path) -> None:
    shop_id = f"attribution-{uuid.uuid4().hex[:8]}.myshopify.com"
    key = create_other_shop(devstack, shop_id, new_number())
    shop = Api(devstack.api_url, key)
    # The developer tools act for the shop in the state file: this test's own shop.
    state = write_state(dataclasses.replace(devstack, shop_id=shop_id, api_key=key), tmp_path / "devstack.json")
    FileOffsetClock.write_offset(devstack.clock_file, noon_offset())
    try:
        tapper, bystander, stranger = new_number(), new_number(), new_number()
        for number in (tapper, bystander):
            assert shop.post("/subscribers", {"phone": number, "source": "checkout"}).status_code == 201
        created = shop.post(
            "/campaigns",
            {
                "name": "Spring",
                "message": "Spring sale: https://shop.example/spring with code {discount_code}",
                "discount_code": "SPRING10",
                "segment_id": "all",
                "send_at": "now",
            },
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        eventually(lambda: phone.last_link(tapper, config=devstack), what="the campaign to reach the tapper")
        eventually(lambda: phone.received(bystander, config=devstack), what="the campaign to reach the bystander")
        (message,) = phone.received(bystander, config=devstack)
        assert "with code SPRING10" in message.body and "/r/" in message.body

        assert " 302 " in f" {run(state, 'devstack.phone', tapper, '--click')} "

        def stats() -> dict[str, Any]:
            return dict(shop.get(f"/campaigns/{campaign_id}").json()["stats"])

        eventually(lambda: stats()["clicks"] == 1, what="the click to count")

        # The tapper orders without a code: the click attributes it. A stranger orders with the code.
        run(state, "devstack.shopify", "order", "--phone", tapper, "--total", "42.50", "--id", "9001")
        run(state, "devstack.shopify", "order", "--phone", stranger, "--total", "10.00", "--code", "spring10", "--id", "9002")
        eventually(lambda: stats()["orders"] == 2, what="both orders to be attributed", timeout=30)
        final = stats()
        assert (final["sent"], final["clicks"], final["unique_clicks"], final["orders"]) == (2, 1, 1, 2)
        assert final["revenue"] == {"amount": 5250, "currency": "USD"}

        # Shopify redelivers under a new webhook id: counted once all the same.
        run(state, "devstack.shopify", "order", "--phone", tapper, "--total", "42.50", "--id", "9001")
        totals = shop.get("/campaigns").json()["totals"]
        assert (totals["sent"], totals["clicks"], totals["orders"]) == (2, 1, 2)
        assert totals["revenue"] == {"amount": 5250, "currency": "USD"}

        # The code order is cancelled: it leaves Orders and Revenue, here and in the totals.
        run(state, "devstack.shopify", "order", "--phone", stranger, "--total", "10.00", "--id", "9002", "--cancel")
        eventually(lambda: stats()["orders"] == 1, what="the cancellation", timeout=30)
        assert stats()["revenue"] == {"amount": 4250, "currency": "USD"}
        totals = shop.get("/campaigns").json()["totals"]
        assert (totals["orders"], totals["revenue"]["amount"]) == (1, 4250)
        # The order is a subscriber fact too: the tapper is in "Have ordered", the bystander is not.
        assert shop.get("/segments/ordered/count").json()["count"] == 1
    finally:
        FileOffsetClock.write_offset(devstack.clock_file, timedelta(0))
