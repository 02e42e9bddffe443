"""Wire forms of the campaign engine's queue messages: jobs and send batches round-trip, anything else is a ValueError."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.jobs import Job, PlanPage, ReleaseWave, StartCampaign, job_from_json, job_to_json
from chalicelib.domain.sending import SendBatch

SHOP, CAMPAIGN = "demo.myshopify.com", "cmp_0190f3a1b2c3d4e5"
RELEASE = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc)


def _over_the_wire(data: dict[str, Any]) -> Any:
    """What a worker sees: the JSON text SQS or Scheduler carried, parsed again."""
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    "job",
    [
        StartCampaign(SHOP, CAMPAIGN),
        PlanPage(SHOP, CAMPAIGN, 0),
        PlanPage(SHOP, CAMPAIGN, 10**12),
        ReleaseWave(SHOP, CAMPAIGN, RELEASE),
        ReleaseWave(SHOP, CAMPAIGN, RELEASE, cursor="eyJhZnRlciI6ICIrMTU1NTEyMzAwMDAifQ=="),
        ReleaseWave(SHOP, CAMPAIGN, datetime(2026, 11, 21, 9, 0, tzinfo=timezone(timedelta(hours=-5)))),
        ReleaseWave(SHOP, CAMPAIGN, datetime(2026, 10, 3, 22, 0, 0, 500, tzinfo=timezone(timedelta(hours=10, minutes=30)))),
    ],
)
def test_every_job_round_trips_through_json(job: Job) -> None:
    wire = _over_the_wire(job_to_json(job))
    assert wire["kind"] == job.kind
    back = job_from_json(wire)
    assert back == job and type(back) is type(job)
    if isinstance(job, ReleaseWave):
        assert isinstance(back, ReleaseWave) and back.release_at.utcoffset() == job.release_at.utcoffset()


def test_the_wire_form_is_flat_and_small() -> None:
    assert job_to_json(StartCampaign(SHOP, CAMPAIGN)) == {"kind": "start", "shop_id": SHOP, "campaign_id": CAMPAIGN}
    assert job_to_json(PlanPage(SHOP, CAMPAIGN, 3)) == {"kind": "plan", "shop_id": SHOP, "campaign_id": CAMPAIGN, "page": 3}
    assert job_to_json(ReleaseWave(SHOP, CAMPAIGN, RELEASE)) == {
        "kind": "release",
        "shop_id": SHOP,
        "campaign_id": CAMPAIGN,
        "release_at": "2026-11-21T14:00:00+00:00",
        "cursor": None,
    }


def test_unknown_extra_fields_are_ignored() -> None:
    # A newer producer may add fields; an older worker must still do the job it understands.
    wire = {"kind": "start", "shop_id": SHOP, "campaign_id": CAMPAIGN, "trace": "abc", "page": -1}
    assert job_from_json(wire) == StartCampaign(SHOP, CAMPAIGN)


BASE = {"shop_id": SHOP, "campaign_id": CAMPAIGN}


@pytest.mark.parametrize(
    "data",
    [
        None,
        "start",
        ["start", SHOP, CAMPAIGN],
        42,
        {},
        # identity missing or of the wrong type
        {"kind": "start", "campaign_id": CAMPAIGN},
        {"kind": "start", "shop_id": SHOP},
        {"kind": "start", "shop_id": None, "campaign_id": CAMPAIGN},
        {"kind": "start", "shop_id": 7, "campaign_id": CAMPAIGN},
        {"kind": "start", "shop_id": SHOP, "campaign_id": ["cmp"]},
        # kind missing or unknown
        {**BASE},
        {**BASE, "kind": None},
        {**BASE, "kind": "START"},
        {**BASE, "kind": "send"},
        {**BASE, "kind": ["start"]},
        # plan pages
        {**BASE, "kind": "plan"},
        {**BASE, "kind": "plan", "page": None},
        {**BASE, "kind": "plan", "page": True},
        {**BASE, "kind": "plan", "page": False},
        {**BASE, "kind": "plan", "page": -1},
        {**BASE, "kind": "plan", "page": 1.0},
        {**BASE, "kind": "plan", "page": "1"},
        # release waves
        {**BASE, "kind": "release"},
        {**BASE, "kind": "release", "release_at": None},
        {**BASE, "kind": "release", "release_at": "2026-11-21T14:00:00"},  # naive: whose 14:00?
        {**BASE, "kind": "release", "release_at": "2026-11-21"},
        {**BASE, "kind": "release", "release_at": "tomorrow"},
        {**BASE, "kind": "release", "release_at": 1795269600},
        {**BASE, "kind": "release", "release_at": ""},
    ],
)
def test_hostile_job_json_is_a_value_error(data: Any) -> None:
    with pytest.raises(ValueError):
        job_from_json(data)


def test_a_release_cursor_that_is_not_text_restarts_the_wave() -> None:
    # Restarting a wave is safe (the ledger claims each recipient once); a corrupt cursor must not crash it.
    job = job_from_json({**BASE, "kind": "release", "release_at": "2026-11-21T14:00:00Z", "cursor": 5})
    assert job == ReleaseWave(SHOP, CAMPAIGN, RELEASE, None)


# --- send batches -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "batch",
    [
        SendBatch(SHOP, CAMPAIGN, ("+15551230000", "+15551230001")),
        SendBatch(SHOP, CAMPAIGN, (), attempt=0),
        SendBatch(SHOP, CAMPAIGN, ("+15551230000",), attempt=4),
    ],
)
def test_send_batches_round_trip_through_json(batch: SendBatch) -> None:
    back = SendBatch.from_json(_over_the_wire(batch.to_json()))
    assert back == batch and isinstance(back.phones, tuple)


def test_a_batch_without_attempt_is_a_first_attempt() -> None:
    assert SendBatch.from_json({**BASE, "phones": ["+15551230000"]}).attempt == 0


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"campaign_id": CAMPAIGN, "phones": []},
        {"shop_id": SHOP, "phones": []},
        {**BASE},
        {"shop_id": None, "campaign_id": CAMPAIGN, "phones": []},  # must not become shop "None"
        {"shop_id": SHOP, "campaign_id": 12, "phones": []},
        {**BASE, "phones": "+15551230000"},
        {**BASE, "phones": None},
        {**BASE, "phones": ["+15551230000", None]},
        {**BASE, "phones": [15551230000]},
        {**BASE, "phones": [], "attempt": True},
        {**BASE, "phones": [], "attempt": -1},
        {**BASE, "phones": [], "attempt": "2"},
        {**BASE, "phones": [], "attempt": 1.5},
    ],
)
def test_hostile_batch_json_is_a_value_error(data: Any) -> None:
    with pytest.raises(ValueError):
        SendBatch.from_json(data)
