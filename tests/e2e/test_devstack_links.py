"""devstack end to end: a campaign with a link goes out as a per-recipient short link on the stack's own
address; `python -m devstack.phone <number> --click` taps it like a person and the campaign shows Clicks 1;
a link-preview fetcher, a HEAD request and an unknown code count nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from chalicelib.adapters.clock import FileOffsetClock
from devstack import phone
from devstack.config import DevstackConfig, write_state
from tests.e2e.conftest import Api, create_other_shop, eventually
from tests.e2e.test_devstack_campaign import noon_offset

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def new_number() -> str:
    return f"+1555{uuid.uuid4().int % 10_000_000:07d}"


def click_from_the_command_line(config: DevstackConfig, number: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    state = tmp_path / "devstack.json"
    write_state(config, state)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("SMSCAST_")}
    env["SMSCAST_DEVSTACK_FILE"] = str(state)
    return subprocess.run(
        [sys.executable, "-m", "devstack.phone", number, "--click"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_tapped_campaign_link_counts_one_click(devstack: DevstackConfig, tmp_path: Path) -> None:
    # A shop of its own, so the campaign's audience is exactly this test's subscribers.
    key = create_other_shop(devstack, f"links-{uuid.uuid4().hex[:8]}.myshopify.com", new_number())
    shop = Api(devstack.api_url, key)
    FileOffsetClock.write_offset(devstack.clock_file, noon_offset())
    try:
        tapper, other = new_number(), new_number()
        for number in (tapper, other):
            assert shop.post("/subscribers", {"phone": number, "source": "checkout"}).status_code in (200, 201)
        created = shop.post(
            "/campaigns",
            {"name": "Links", "message": "New in: https://shop.example/new?c=red#top", "segment_id": "all", "send_at": "now"},
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        eventually(lambda: phone.last_link(tapper, config=devstack), what="the campaign to reach the tapper")
        link = phone.last_link(tapper, config=devstack)
        assert link is not None and link.startswith(devstack.api_url + "/r/")
        other_link = eventually(lambda: phone.last_link(other, config=devstack), what="the campaign to reach the other")
        assert other_link != link  # each recipient has a link of their own

        # An iMessage-style preview fetch first: redirected, not counted.
        preview = requests.get(
            link, headers={"User-Agent": "facebookexternalhit/1.1 Facebot Twitterbot/1.0"}, allow_redirects=False, timeout=10
        )
        assert preview.status_code == 302
        assert requests.head(link, allow_redirects=False, timeout=10).status_code == 302  # HEAD: not counted either
        unknown = requests.get(devstack.api_url + "/r/AAAAAAAAA", allow_redirects=False, timeout=10)
        assert unknown.status_code == 404 and "Location" not in unknown.headers

        done = click_from_the_command_line(devstack, tapper, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "302 https://shop.example/new?c=red&utm_source=smscast&utm_medium=sms" in done.stdout
        assert done.stdout.strip().endswith(f"utm_campaign={campaign_id}#top")

        stats = shop.get(f"/campaigns/{campaign_id}").json()["stats"]
        assert (stats["sent"], stats["clicks"], stats["unique_clicks"]) == (2, 1, 1)
        totals = shop.get("/campaigns").json()["totals"]
        assert (totals["sent"], totals["clicks"]) == (2, 1)
        # the click is a subscriber fact segments use
        assert shop.get("/segments/clicked-30d/count").json()["count"] == 1
    finally:
        FileOffsetClock.write_offset(devstack.clock_file, timedelta(0))
