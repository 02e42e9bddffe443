"""The campaign status machine: every legal move goes through, every other move is refused with its status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.campaigns import Campaign, CampaignStats, CampaignStatus
from chalicelib.domain.errors import Conflict

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(minutes=5)
RULE = {"all": [{"field": "source", "op": "eq", "value": "checkout"}]}
DRAFT, SCHEDULED, IN_PROGRESS, COMPLETED = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.IN_PROGRESS,
    CampaignStatus.COMPLETED,
)


def _campaign(status: CampaignStatus, *, send_now: bool = False, **kwargs: object) -> Campaign:
    base = Campaign(
        shop_id="demo.myshopify.com",
        campaign_id="cmp_1",
        name="Black Friday",
        message="Hi {first_name|there}, 20% off today",
        segment_id="all",
        send_now=send_now,
        send_at_local=None if send_now else datetime(2026, 11, 27, 9, 0),
        timezone="America/New_York",
        status=status,
        created_at=T0,
        updated_at=T0,
        version=4,
    )
    return replace(base, **kwargs)  # type: ignore[arg-type]


def _finished(status: CampaignStatus = IN_PROGRESS) -> Campaign:
    """A campaign whose planning is done and whose every planned recipient has an outcome."""
    return _campaign(status, planning_done=True, stats=CampaignStats(planned=5, sent=3, skipped=1, failed=1))


Action = Callable[[Campaign], Campaign]
ACTIONS: dict[str, Action] = {
    "schedule": lambda c: c.schedule(T1),
    "switch off": lambda c: c.unschedule(T1),
    "start": lambda c: c.start(T1, RULE),
    "end": lambda c: c.end(T1),
    "complete": lambda c: c.complete(T1),
}

# (status, send_now, action) -> status after; anything absent from this table must be refused.
LEGAL: dict[tuple[CampaignStatus, bool, str], CampaignStatus] = {
    (DRAFT, False, "schedule"): SCHEDULED,
    (SCHEDULED, False, "switch off"): DRAFT,
    (SCHEDULED, False, "start"): IN_PROGRESS,
    (DRAFT, True, "start"): IN_PROGRESS,  # Send Now
    (IN_PROGRESS, False, "end"): COMPLETED,
    (IN_PROGRESS, True, "end"): COMPLETED,
    (IN_PROGRESS, False, "complete"): COMPLETED,
    (IN_PROGRESS, True, "complete"): COMPLETED,
}
ALL_MOVES = [(status, send_now, action) for status in CampaignStatus for send_now in (False, True) for action in ACTIONS]
# A Send Now campaign is never Scheduled (schedule() refuses it), so those rows describe no real campaign.
REAL_MOVES = [m for m in ALL_MOVES if not (m[0] is SCHEDULED and m[1])]


@pytest.mark.parametrize(("status", "send_now", "action"), [m for m in REAL_MOVES if m in LEGAL])
def test_every_legal_transition_goes_through(status: CampaignStatus, send_now: bool, action: str) -> None:
    before = _finished(status) if action == "complete" else _campaign(status, send_now=send_now)
    before = replace(before, send_now=send_now)
    after = ACTIONS[action](before)
    assert after.status is LEGAL[(status, send_now, action)]
    assert after.updated_at == T1
    # Frozen dataclass: the old value is untouched, so a failed save leaves nothing half-changed.
    assert before.status is status and before.updated_at == T0
    assert (after.campaign_id, after.message, after.segment_id, after.version) == (
        before.campaign_id,
        before.message,
        before.segment_id,
        before.version,
    )


@pytest.mark.parametrize(("status", "send_now", "action"), [m for m in REAL_MOVES if m not in LEGAL])
def test_every_illegal_transition_is_refused_with_the_status(status: CampaignStatus, send_now: bool, action: str) -> None:
    # Finished work, so a refused "complete" is refused for its status, not for outstanding recipients.
    campaign = replace(_finished(status), send_now=send_now)
    with pytest.raises(Conflict) as caught:
        ACTIONS[action](campaign)
    if (status, send_now, action) == (DRAFT, True, "schedule"):
        assert caught.value.code == "send_now_campaign"
        return
    assert caught.value.code == "illegal_transition"
    assert caught.value.details["status"] == status.value
    assert caught.value.details["action"] == action
    assert status.value in caught.value.message


def test_the_legal_table_has_no_row_for_a_move_that_cannot_happen() -> None:
    assert all(move in REAL_MOVES for move in LEGAL)
    assert len([m for m in REAL_MOVES if m in LEGAL]) == len(LEGAL)


def test_schedule_refuses_a_send_now_campaign() -> None:
    with pytest.raises(Conflict) as caught:
        _campaign(DRAFT, send_now=True).schedule(T1)
    assert caught.value.code == "send_now_campaign"


def test_a_switched_off_dated_campaign_cannot_be_started() -> None:
    # Scheduled -> switched off (Draft); the EventBridge schedule had already fired and its job arrives now.
    switched_off = _campaign(SCHEDULED).unschedule(T1)
    with pytest.raises(Conflict) as caught:
        switched_off.start(T1, RULE)
    assert caught.value.code == "illegal_transition" and caught.value.details["status"] == "draft"


def test_a_duplicate_start_is_refused() -> None:
    started = _campaign(SCHEDULED).start(T1, RULE)
    with pytest.raises(Conflict) as caught:
        started.start(T1 + timedelta(seconds=1), RULE)
    assert caught.value.details["status"] == "in_progress"


def test_start_freezes_a_copy_of_the_audience() -> None:
    rule: dict[str, object] = {"all": []}
    started = _campaign(DRAFT, send_now=True).start(T1, rule)
    rule["any"] = []  # the segment changing later must not change who the running campaign is for
    assert started.audience_rule == {"all": []}
    assert started.started_at == T1


@pytest.mark.parametrize(
    ("planning_done", "stats"),
    [
        (False, CampaignStats(planned=5, sent=5)),  # everyone so far is done, but more pages may come
        (True, CampaignStats(planned=5, sent=3, skipped=1)),  # one recipient outstanding
        (True, CampaignStats(planned=5, sent=0, deferred=5)),  # all waiting for quiet hours to end
        (False, CampaignStats()),  # nothing planned yet
    ],
)
def test_complete_refuses_while_work_is_outstanding(planning_done: bool, stats: CampaignStats) -> None:
    campaign = _campaign(IN_PROGRESS, planning_done=planning_done, stats=stats)
    with pytest.raises(Conflict) as caught:
        campaign.complete(T1)
    assert caught.value.code == "not_finished"


@pytest.mark.parametrize(
    "stats",
    [
        CampaignStats(planned=5, sent=3, skipped=1, failed=1),
        CampaignStats(planned=0),  # an empty audience finishes at once
        CampaignStats(planned=2, sent=2, deferred=2),  # deferred then sent counts once, as sent
    ],
)
def test_complete_when_every_planned_recipient_has_an_outcome(stats: CampaignStats) -> None:
    done = _campaign(IN_PROGRESS, planning_done=True, stats=stats).complete(T1)
    assert done.status is COMPLETED and done.completed_at == T1 and not done.ended_early


def test_end_marks_the_campaign_ended_early_and_counts_who_was_not_sent() -> None:
    running = _campaign(IN_PROGRESS, stats=CampaignStats(planned=10, sent=4, skipped=1, failed=1, deferred=3))
    ended = running.end(T1)
    assert ended.status is COMPLETED
    assert ended.ended_early and ended.completed_at == T1
    assert ended.not_sent == 6  # planned - sent: skipped, failed and never-tried alike
    assert ended.stats == running.stats  # ending does not invent outcomes


def test_end_works_even_while_planning_is_not_done() -> None:
    ended = _campaign(IN_PROGRESS, planning_done=False, stats=CampaignStats(planned=3)).end(T1)
    assert ended.status is COMPLETED and ended.not_sent == 3


def test_not_sent_is_never_negative() -> None:
    assert _campaign(COMPLETED, stats=CampaignStats(planned=1, sent=2)).not_sent == 0


@pytest.mark.parametrize("status", list(CampaignStatus))
def test_editable_and_active_follow_the_status(status: CampaignStatus) -> None:
    campaign = _campaign(status)
    assert campaign.editable is (status in (DRAFT, SCHEDULED))
    assert campaign.active is (status is not DRAFT)
    if campaign.editable:
        campaign.require_editable("edit")
    else:
        with pytest.raises(Conflict) as caught:
            campaign.require_editable("delete")
        assert caught.value.code == "illegal_transition"
        assert caught.value.details == {"status": status.value, "action": "delete"}


@pytest.mark.parametrize(
    ("wall", "zone", "utc"),
    [
        (datetime(2026, 11, 27, 9, 0), "America/New_York", datetime(2026, 11, 27, 14, 0, tzinfo=timezone.utc)),  # EST
        (datetime(2026, 7, 4, 9, 0), "America/New_York", datetime(2026, 7, 4, 13, 0, tzinfo=timezone.utc)),  # EDT
        (datetime(2026, 12, 1, 9, 0), "Australia/Lord_Howe", datetime(2026, 11, 30, 22, 0, tzinfo=timezone.utc)),  # +11
        (datetime(2026, 6, 1, 9, 0), "Australia/Lord_Howe", datetime(2026, 5, 31, 22, 30, tzinfo=timezone.utc)),  # +10:30
    ],
)
def test_send_at_utc_is_the_store_local_date_as_an_instant(wall: datetime, zone: str, utc: datetime) -> None:
    assert _campaign(SCHEDULED, send_at_local=wall, timezone=zone).send_at_utc == utc
    assert _campaign(DRAFT, send_now=True).send_at_utc is None
