"""The subscriber status machine: legal moves go through, illegal ones are refused, consent is checked."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import Conflict, ConsentRequired
from chalicelib.domain.subscribers import Source, Subscriber, SubscriberStatus

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=1)
PHONE = "+15551230000"


def _subscriber(status: SubscriberStatus, **kwargs: object) -> Subscriber:
    opted_out_at = T0 if status is SubscriberStatus.OPTED_OUT else None
    base = Subscriber(
        shop_id="demo.myshopify.com",
        phone=PHONE,
        status=status,
        source=Source.KEYWORD,
        joined_at=T0,
        updated_at=T0,
        opted_out_at=opted_out_at,
        name="Ana",
        profile_url="https://x.test/c/1",
        version=3,
    )
    return replace(base, **kwargs)  # type: ignore[arg-type]


def _unchanged_identity(before: Subscriber, after: Subscriber) -> None:
    """A transition changes consent only: who, how they joined and since when stay the same."""
    assert (after.shop_id, after.phone, after.source, after.joined_at, after.name, after.profile_url, after.version) == (
        before.shop_id,
        before.phone,
        before.source,
        before.joined_at,
        before.name,
        before.profile_url,
        before.version,
    )


ALL = list(SubscriberStatus)


def test_statuses_are_exactly_the_three_the_design_names() -> None:
    assert {s.value for s in SubscriberStatus} == {"pending", "active", "opted_out"}


# --- confirm: only from pending -------------------------------------------------------------------------


def test_confirm_activates_a_pending_subscriber() -> None:
    before = _subscriber(SubscriberStatus.PENDING)
    after = before.confirm(T1)
    assert after.status is SubscriberStatus.ACTIVE
    assert after.updated_at == T1
    assert after.opted_out_at is None
    _unchanged_identity(before, after)
    assert before.status is SubscriberStatus.PENDING  # frozen: the original is untouched


@pytest.mark.parametrize("status", [SubscriberStatus.ACTIVE, SubscriberStatus.OPTED_OUT])
def test_confirm_from_anything_but_pending_is_refused(status: SubscriberStatus) -> None:
    # Above all, a stray Y must never bring an opted-out number back.
    with pytest.raises(Conflict) as caught:
        _subscriber(status).confirm(T1)
    assert caught.value.code == "illegal_transition"
    assert not isinstance(caught.value, ConsentRequired)


# --- request_again: only from opted_out ------------------------------------------------------------------


def test_request_again_moves_an_opted_out_number_to_pending_not_active() -> None:
    before = _subscriber(SubscriberStatus.OPTED_OUT)
    after = before.request_again(T1)
    assert after.status is SubscriberStatus.PENDING
    assert after.opted_out_at is None
    assert after.updated_at == T1
    assert not after.can_receive_marketing
    _unchanged_identity(before, after)


@pytest.mark.parametrize("status", [SubscriberStatus.PENDING, SubscriberStatus.ACTIVE])
def test_request_again_from_anything_but_opted_out_is_refused(status: SubscriberStatus) -> None:
    with pytest.raises(Conflict) as caught:
        _subscriber(status).request_again(T1)
    assert caught.value.code == "illegal_transition"


# --- opt_out: from anywhere -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ALL)
def test_opt_out_is_legal_from_every_status(status: SubscriberStatus) -> None:
    before = _subscriber(status)
    after = before.opt_out(T1)
    assert after.status is SubscriberStatus.OPTED_OUT
    assert after.opted_out_at == T1
    assert after.updated_at == T1
    assert not after.can_receive_marketing
    _unchanged_identity(before, after)


# --- opt_back_in: START from the subscriber's own phone ----------------------------------------------------


@pytest.mark.parametrize("status", ALL)
def test_opt_back_in_activates_from_every_status(status: SubscriberStatus) -> None:
    before = _subscriber(status)
    after = before.opt_back_in(T1)
    assert after.status is SubscriberStatus.ACTIVE
    assert after.opted_out_at is None
    assert after.updated_at == T1
    _unchanged_identity(before, after)


# --- require_active ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [SubscriberStatus.PENDING, SubscriberStatus.OPTED_OUT])
def test_require_active_refuses_pending_and_opted_out(status: SubscriberStatus) -> None:
    subscriber = _subscriber(status)
    assert not subscriber.can_receive_marketing
    with pytest.raises(ConsentRequired) as caught:
        subscriber.require_active()
    assert caught.value.code == "opted_out"
    assert caught.value.details == {"status": status.value}
    assert isinstance(caught.value, Conflict)  # maps to 409 through the one error hierarchy


def test_require_active_passes_for_active() -> None:
    subscriber = _subscriber(SubscriberStatus.ACTIVE)
    assert subscriber.can_receive_marketing
    subscriber.require_active()


# --- sequences -------------------------------------------------------------------------------------------------


def test_full_life_cycle() -> None:
    s = _subscriber(SubscriberStatus.PENDING)
    s = s.confirm(T1)
    s.require_active()
    s = s.opt_out(T1 + timedelta(minutes=1))
    with pytest.raises(ConsentRequired):
        s.require_active()
    with pytest.raises(Conflict):
        s.confirm(T1 + timedelta(minutes=2))  # Y after STOP does nothing
    s = s.request_again(T1 + timedelta(minutes=3))
    with pytest.raises(ConsentRequired):
        s.require_active()  # pending again: still nothing may be sent
    s = s.confirm(T1 + timedelta(minutes=4))
    s.require_active()
    assert s.opted_out_at is None


@pytest.mark.parametrize("status", ALL)
def test_only_opt_out_and_start_reach_opted_out_and_back(status: SubscriberStatus) -> None:
    """From opted_out, nothing but START (active) or the keyword (pending) leaves it; confirm cannot."""
    out = _subscriber(status).opt_out(T1)
    with pytest.raises(Conflict):
        out.confirm(T1)
    assert out.opt_back_in(T1).status is SubscriberStatus.ACTIVE
    assert out.request_again(T1).status is SubscriberStatus.PENDING
