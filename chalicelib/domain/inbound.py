"""What an inbound SMS does to consent, and what smscast answers: one pure decision table.

The rules follow CTIA's guidance for self-managed opt-outs: STOP words always opt out and are always
confirmed; START/UNSTOP come back; HELP is always answered; the shop's keyword starts a double opt-in
that a Y completes. A number that says STOP before we ever knew it is remembered as opted out, so a later
import or checkout cannot quietly subscribe it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from chalicelib.domain.keywords import Intent
from chalicelib.domain.subscribers import (
    ConsentAction,
    Source,
    Subscriber,
    SubscriberStatus,
)


class AutoReply(str, Enum):
    """Which of the shop's compliance texts answers the message."""

    CONFIRM = "confirm_text"
    WELCOME = "welcome_text"
    STOP = "stop_text"
    HELP = "help_text"


class OptOutListChange(str, Enum):
    """How the carrier-side opt-out list must follow our record."""

    ADD = "add"
    REMOVE = "remove"


class InboxEvent(str, Enum):
    """What an inbound message means for the subscriber's Inbox conversation."""

    MESSAGE = "message"  # talk that needs the merchant's answer
    OPT_OUT = "opt_out"  # a STOP: listed under Opted out, answered automatically
    OPT_IN = "opt_in"  # back (START, or Y to a confirmation request)


@dataclass(frozen=True)
class InboundDecision:
    """The outcome of one inbound message. ``subscriber`` is the new state (None: unchanged)."""

    subscriber: Subscriber | None
    consent_action: ConsentAction | None
    reply: AutoReply | None
    opt_out_list: OptOutListChange | None

    @property
    def is_conversation(self) -> bool:
        """True when the message is talk for the Inbox rather than a consent keyword exchange."""
        return self.consent_action is None and self.reply is None


_NOTHING = InboundDecision(None, None, None, None)


@dataclass(frozen=True)
class FollowUp:
    """What is still to do after an inbound message's consent change is committed, stored with it so a
    redelivery resumes the same plan: the Inbox, the auto-reply and the carrier opt-out list."""

    inbox: InboxEvent | None = None
    reply: AutoReply | None = None
    opt_out_list: OptOutListChange | None = None

    @classmethod
    def of(cls, decision: InboundDecision) -> FollowUp:
        """The plan that carries out ``decision``."""
        inbox = None
        if decision.is_conversation:
            inbox = InboxEvent.MESSAGE
        elif decision.consent_action is ConsentAction.OPTED_OUT:
            inbox = InboxEvent.OPT_OUT
        elif decision.consent_action is ConsentAction.OPTED_IN:
            inbox = InboxEvent.OPT_IN
        return cls(inbox=inbox, reply=decision.reply, opt_out_list=decision.opt_out_list)

    def to_dict(self) -> dict[str, str]:
        """The stored shape (only the steps there are), unchanged since receipts were string dicts."""
        stored = {"inbox": self.inbox, "reply": self.reply, "opt_out_list": self.opt_out_list}
        return {name: value.value for name, value in stored.items() if value is not None}

    @classmethod
    def from_dict(cls, stored: Mapping[str, str]) -> FollowUp:
        """Read a stored plan (ValueError for a value no version of smscast wrote)."""
        inbox, reply, change = stored.get("inbox"), stored.get("reply"), stored.get("opt_out_list")
        return cls(
            inbox=InboxEvent(inbox) if inbox else None,
            reply=AutoReply(reply) if reply else None,
            opt_out_list=OptOutListChange(change) if change else None,
        )


def decide(intent: Intent, existing: Subscriber | None, *, shop_id: str, phone: str, at: datetime) -> InboundDecision:
    """The consent change, auto-reply and opt-out list change for ``intent`` from ``phone``."""
    status = existing.status if existing else None
    if intent is Intent.OPT_OUT:
        subscriber = existing or _new(shop_id, phone, at, SubscriberStatus.OPTED_OUT)
        if status is SubscriberStatus.OPTED_OUT:
            # Already out: confirm again (the subscriber is clearly unsure) but record nothing new.
            return InboundDecision(None, None, AutoReply.STOP, OptOutListChange.ADD)
        return InboundDecision(subscriber.opt_out(at), ConsentAction.OPTED_OUT, AutoReply.STOP, OptOutListChange.ADD)
    if intent is Intent.HELP:
        return InboundDecision(None, None, AutoReply.HELP, None)
    if intent is Intent.OPT_IN:
        if existing is None:
            return _request(None, shop_id, phone, at)  # never subscribed: START is a request, confirm it
        if status is SubscriberStatus.ACTIVE:
            return InboundDecision(None, None, AutoReply.WELCOME, None)
        return InboundDecision(existing.opt_back_in(at), ConsentAction.OPTED_IN, AutoReply.WELCOME, OptOutListChange.REMOVE)
    if intent is Intent.JOIN:
        if existing is None or status is SubscriberStatus.OPTED_OUT:
            return _request(existing, shop_id, phone, at)
        if status is SubscriberStatus.PENDING:
            return InboundDecision(None, None, AutoReply.CONFIRM, None)
        return InboundDecision(None, None, AutoReply.WELCOME, None)
    if intent is Intent.CONFIRM and existing is not None and status is SubscriberStatus.PENDING:
        return InboundDecision(existing.confirm(at), ConsentAction.OPTED_IN, AutoReply.WELCOME, None)
    # A "Yes" to a campaign from an active subscriber, or any other text: conversation for the Inbox.
    return _NOTHING


def _new(shop_id: str, phone: str, at: datetime, status: SubscriberStatus) -> Subscriber:
    return Subscriber(shop_id=shop_id, phone=phone, status=status, source=Source.KEYWORD, joined_at=at, updated_at=at)


def _request(existing: Subscriber | None, shop_id: str, phone: str, at: datetime) -> InboundDecision:
    if existing is None:
        pending = _new(shop_id, phone, at, SubscriberStatus.PENDING)
        return InboundDecision(pending, ConsentAction.REQUESTED, AutoReply.CONFIRM, None)
    # Back from an opt-out by the subscriber's own text: lift the carrier block so the confirmation
    # request can reach them; the pending status still keeps every marketing send away until Y.
    pending = replace(existing.request_again(at), source=existing.source)
    return InboundDecision(pending, ConsentAction.REQUESTED, AutoReply.CONFIRM, OptOutListChange.REMOVE)
