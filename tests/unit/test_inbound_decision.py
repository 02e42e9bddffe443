"""The inbound decision table: for each intent and each consent state, what changes and what is answered."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.inbound import AutoReply, FollowUp, InboundDecision, InboxEvent, OptOutListChange, decide
from chalicelib.domain.keywords import Intent, classify
from chalicelib.domain.subscribers import ConsentAction, Source, Subscriber, SubscriberStatus

SHOP = "demo.myshopify.com"
PHONE = "+15551230000"
JOINED = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
AT = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)

P, A, OUT = SubscriberStatus.PENDING, SubscriberStatus.ACTIVE, SubscriberStatus.OPTED_OUT
NONE = None  # no subscriber record for the number yet


def _existing(status: SubscriberStatus | None) -> Subscriber | None:
    if status is None:
        return None
    return Subscriber(
        shop_id=SHOP,
        phone=PHONE,
        status=status,
        source=Source.CHECKOUT,
        joined_at=JOINED,
        updated_at=JOINED,
        opted_out_at=JOINED if status is OUT else None,
        name="Ana",
        version=4,
    )


def _decide(intent: Intent, status: SubscriberStatus | None) -> InboundDecision:
    return decide(intent, _existing(status), shop_id=SHOP, phone=PHONE, at=AT)


# (intent, status before) -> (status after or None when unchanged, consent action, auto-reply, opt-out list change)
TABLE: dict[
    tuple[Intent, SubscriberStatus | None],
    tuple[SubscriberStatus | None, ConsentAction | None, AutoReply | None, OptOutListChange | None],
] = {
    # STOP always opts out and always confirms; the carrier list always follows.
    (Intent.OPT_OUT, NONE): (OUT, ConsentAction.OPTED_OUT, AutoReply.STOP, OptOutListChange.ADD),
    (Intent.OPT_OUT, P): (OUT, ConsentAction.OPTED_OUT, AutoReply.STOP, OptOutListChange.ADD),
    (Intent.OPT_OUT, A): (OUT, ConsentAction.OPTED_OUT, AutoReply.STOP, OptOutListChange.ADD),
    (Intent.OPT_OUT, OUT): (None, None, AutoReply.STOP, OptOutListChange.ADD),
    # START/UNSTOP: back in from opted out (and from pending); from nowhere it is a request to confirm.
    (Intent.OPT_IN, NONE): (P, ConsentAction.REQUESTED, AutoReply.CONFIRM, None),
    (Intent.OPT_IN, P): (A, ConsentAction.OPTED_IN, AutoReply.WELCOME, OptOutListChange.REMOVE),
    (Intent.OPT_IN, A): (None, None, AutoReply.WELCOME, None),
    (Intent.OPT_IN, OUT): (A, ConsentAction.OPTED_IN, AutoReply.WELCOME, OptOutListChange.REMOVE),
    # HELP is answered, whoever asks, and changes nothing.
    (Intent.HELP, NONE): (None, None, AutoReply.HELP, None),
    (Intent.HELP, P): (None, None, AutoReply.HELP, None),
    (Intent.HELP, A): (None, None, AutoReply.HELP, None),
    (Intent.HELP, OUT): (None, None, AutoReply.HELP, None),
    # The shop keyword starts a double opt-in; from opted out it lifts the carrier block for the question.
    (Intent.JOIN, NONE): (P, ConsentAction.REQUESTED, AutoReply.CONFIRM, None),
    (Intent.JOIN, P): (None, None, AutoReply.CONFIRM, None),
    (Intent.JOIN, A): (None, None, AutoReply.WELCOME, None),
    (Intent.JOIN, OUT): (P, ConsentAction.REQUESTED, AutoReply.CONFIRM, OptOutListChange.REMOVE),
    # Y completes a pending opt-in; anywhere else it is conversation.
    (Intent.CONFIRM, NONE): (None, None, None, None),
    (Intent.CONFIRM, P): (A, ConsentAction.OPTED_IN, AutoReply.WELCOME, None),
    (Intent.CONFIRM, A): (None, None, None, None),
    (Intent.CONFIRM, OUT): (None, None, None, None),
    # Anything else is talk for the Inbox.
    (Intent.MESSAGE, NONE): (None, None, None, None),
    (Intent.MESSAGE, P): (None, None, None, None),
    (Intent.MESSAGE, A): (None, None, None, None),
    (Intent.MESSAGE, OUT): (None, None, None, None),
}


def test_the_table_covers_every_intent_and_state() -> None:
    assert set(TABLE) == {(i, s) for i in Intent for s in [NONE, *SubscriberStatus]}


@pytest.mark.parametrize(("intent", "before"), list(TABLE), ids=[f"{i.value}-{s.value if s else 'none'}" for i, s in TABLE])
def test_decision_table(intent: Intent, before: SubscriberStatus | None) -> None:
    status, action, reply, opt_out_list = TABLE[(intent, before)]
    decision = _decide(intent, before)
    assert decision.consent_action is action
    assert decision.reply is reply
    assert decision.opt_out_list is opt_out_list
    if status is None:
        assert decision.subscriber is None
    else:
        assert decision.subscriber is not None
        assert decision.subscriber.status is status
    assert decision.is_conversation is (action is None and reply is None)


@pytest.mark.parametrize(("intent", "before"), list(TABLE))
def test_every_status_change_is_recorded_as_a_consent_event(intent: Intent, before: SubscriberStatus | None) -> None:
    decision = _decide(intent, before)
    assert (decision.subscriber is not None) == (decision.consent_action is not None)


@pytest.mark.parametrize(("intent", "before"), list(TABLE))
def test_a_changed_subscriber_is_the_same_number_stamped_now(intent: Intent, before: SubscriberStatus | None) -> None:
    decision = _decide(intent, before)
    if decision.subscriber is None:
        return
    new = decision.subscriber
    assert (new.shop_id, new.phone, new.updated_at) == (SHOP, PHONE, AT)
    assert (new.opted_out_at is not None) == (new.status is OUT)
    if before is None:
        assert new.source is Source.KEYWORD and new.joined_at == AT
    else:
        # How and when they first joined is history, not something a text rewrites.
        assert (new.source, new.joined_at, new.name, new.version) == (Source.CHECKOUT, JOINED, "Ana", 4)


@pytest.mark.parametrize(("intent", "before"), list(TABLE))
def test_only_an_explicit_opt_in_makes_a_number_active(intent: Intent, before: SubscriberStatus | None) -> None:
    decision = _decide(intent, before)
    if decision.subscriber is not None and decision.subscriber.status is A:
        assert decision.consent_action is ConsentAction.OPTED_IN
        assert intent in (Intent.OPT_IN, Intent.CONFIRM)
        assert before in (P, OUT)


@pytest.mark.parametrize(("intent", "before"), list(TABLE))
def test_the_carrier_block_is_lifted_only_for_a_number_that_asked_back_in(
    intent: Intent, before: SubscriberStatus | None
) -> None:
    decision = _decide(intent, before)
    if decision.opt_out_list is OptOutListChange.REMOVE:
        assert intent in (Intent.OPT_IN, Intent.JOIN)
        assert decision.subscriber is not None and decision.subscriber.status in (P, A)


@pytest.mark.parametrize("before", [NONE, P, A, OUT])
def test_stop_always_opts_out_and_always_confirms(before: SubscriberStatus | None) -> None:
    decision = _decide(Intent.OPT_OUT, before)
    assert decision.reply is AutoReply.STOP
    assert decision.opt_out_list is OptOutListChange.ADD
    final = decision.subscriber or _existing(before)
    assert final is not None and final.status is OUT
    assert not decision.is_conversation


def test_an_unknown_numbers_stop_is_remembered_as_opted_out() -> None:
    decision = _decide(Intent.OPT_OUT, NONE)
    assert decision.subscriber is not None
    assert decision.subscriber.status is OUT
    assert decision.subscriber.opted_out_at == AT
    assert decision.consent_action is ConsentAction.OPTED_OUT


def test_y_from_an_active_subscriber_is_conversation() -> None:
    decision = _decide(Intent.CONFIRM, A)
    assert decision == InboundDecision(None, None, None, None)
    assert decision.is_conversation


def test_y_after_stop_does_not_resubscribe() -> None:
    decision = _decide(Intent.CONFIRM, OUT)
    assert decision.subscriber is None and decision.consent_action is None


def test_join_from_opted_out_asks_again_and_lifts_the_carrier_block() -> None:
    decision = _decide(Intent.JOIN, OUT)
    assert decision.subscriber is not None
    assert decision.subscriber.status is P
    assert decision.subscriber.opted_out_at is None
    assert not decision.subscriber.can_receive_marketing  # pending still keeps campaigns away until Y
    assert decision.opt_out_list is OptOutListChange.REMOVE
    assert decision.reply is AutoReply.CONFIRM


def test_start_from_pending_activates() -> None:
    decision = _decide(Intent.OPT_IN, P)
    assert decision.subscriber is not None and decision.subscriber.status is A
    assert decision.consent_action is ConsentAction.OPTED_IN


def test_auto_replies_name_real_settings_fields() -> None:
    from chalicelib.domain.shops import ShopSettings

    for reply in AutoReply:
        assert isinstance(getattr(ShopSettings(), reply.value), str)


def test_the_existing_record_is_not_mutated() -> None:
    existing = _existing(A)
    decide(Intent.OPT_OUT, existing, shop_id=SHOP, phone=PHONE, at=AT)
    assert existing is not None and existing.status is A and existing.updated_at == JOINED


@pytest.mark.parametrize(
    ("texts", "final"),
    [
        (["JOIN", "Y"], A),
        (["join", "yes!"], A),
        (["JOIN", "stop"], OUT),
        (["JOIN", "Y", "  Unsubscribe "], OUT),
        (["JOIN", "Y", "STOP", "Y"], OUT),  # Y after STOP is talk
        (["JOIN", "Y", "STOP", "START"], A),
        (["STOP", "JOIN"], P),
        (["STOP", "JOIN", "Y"], A),
        (["STOP", "STOP"], OUT),
        (["hello", "Y"], None),  # an unknown number's Y creates nothing
        (["JOIN", "HELP", "Y"], A),
    ],
)
def test_conversations_from_a_phone(texts: list[str], final: SubscriberStatus | None) -> None:
    """Feed classify + decide a sequence of texts, keeping the state the way the inbound service would."""
    current: Subscriber | None = None
    at = AT
    for text in texts:
        at += timedelta(minutes=1)
        decision = decide(classify(text, join_keyword="JOIN"), current, shop_id=SHOP, phone=PHONE, at=at)
        if decision.subscriber is not None:
            current = decision.subscriber
    assert (current.status if current else None) is final


# --- the follow-up plan stored with each inbound message ------------------------------------------------


@pytest.mark.parametrize(("intent", "before"), list(TABLE))
def test_follow_up_round_trips_through_its_stored_shape(intent: Intent, before: SubscriberStatus | None) -> None:
    plan = FollowUp.of(_decide(intent, before))
    stored = plan.to_dict()
    assert all(isinstance(v, str) for v in stored.values())
    assert FollowUp.from_dict(stored) == plan


@pytest.mark.parametrize(
    ("stored", "plan"),
    [
        # receipts written while the plan was a hand-made string dict still load
        (
            {"inbox": "opt_out", "reply": "stop_text", "opt_out_list": "add"},
            FollowUp(InboxEvent.OPT_OUT, AutoReply.STOP, OptOutListChange.ADD),
        ),
        ({"inbox": "message"}, FollowUp(inbox=InboxEvent.MESSAGE)),
        ({"reply": "help_text"}, FollowUp(reply=AutoReply.HELP)),
        (
            {"inbox": "opt_in", "reply": "welcome_text", "opt_out_list": "remove"},
            FollowUp(InboxEvent.OPT_IN, AutoReply.WELCOME, OptOutListChange.REMOVE),
        ),
        ({}, FollowUp()),
    ],
)
def test_stored_plans_load_as_typed_follow_ups(stored: dict[str, str], plan: FollowUp) -> None:
    assert FollowUp.from_dict(stored) == plan and plan.to_dict() == stored


def test_a_stored_plan_no_version_wrote_is_refused() -> None:
    with pytest.raises(ValueError):
        FollowUp.from_dict({"reply": "stop"})


def test_inbox_event_follows_the_consent_change() -> None:
    assert FollowUp.of(_decide(Intent.OPT_OUT, A)).inbox is InboxEvent.OPT_OUT
    assert FollowUp.of(_decide(Intent.OPT_IN, OUT)).inbox is InboxEvent.OPT_IN
    assert FollowUp.of(_decide(Intent.MESSAGE, A)).inbox is InboxEvent.MESSAGE
    assert FollowUp.of(_decide(Intent.HELP, A)).inbox is None  # a keyword exchange is not Inbox talk
