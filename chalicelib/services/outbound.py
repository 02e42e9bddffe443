"""Deliver one message: the one send path for campaign messages, inbox replies and auto-replies.

claim -> send -> record the outcome -> add the thread line, with one error policy for every kind:

=============================================  ===============  ==========================================
provider says                                  outcome          what happens to the claim
=============================================  ===============  ==========================================
accepted                                       SENT             recorded sent; the thread line is added
ProviderThrottled (definitely not sent)        THROTTLED        given back: the caller retries later
ConsentRequired (our guard or carrier list)    OPTED_OUT        recorded; final
ProviderRejected (definite refusal)            REJECTED         recorded failed; final
any other ProviderError (5xx, timeout, ...)    UNCONFIRMED      recorded failed; never retried, because
                                                                the message may have gone out
=============================================  ===============  ==========================================

Where the claim lives differs per kind (the send ledger for campaigns, which also checks atomically that
the campaign still runs and the subscriber is still active; the one-time claims table for replies and
auto-replies), so each kind passes a ``SendClaim`` that knows its store and how to record an outcome.
A crash anywhere after the claim leaves it held: nothing is ever sent twice, and whoever finds a held
claim that was never recorded treats the message as possibly sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Protocol

from aws_lambda_powertools import Logger

from chalicelib.domain.errors import ConsentRequired, ProviderError, ProviderRejected, ProviderThrottled, SmscastError
from chalicelib.domain.messages import ConversationMessage, OutboundSms, SendReceipt
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services.ports import ClaimResult, Claims, Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)


class Delivery(str, Enum):
    """What delivering one message came to."""

    SENT = "sent"
    THROTTLED = "throttled"  # definitely not sent; the claim was given back, try again later
    OPTED_OUT = "opted_out"  # consent refused it (ours or the carrier's opt-out list); final
    REJECTED = "rejected"  # the provider refused this message for good; final
    UNCONFIRMED = "unconfirmed"  # the provider failed after the message may have left: failed, never retried
    TAKEN = "taken"  # someone else holds or finished the claim: nothing was sent by this call
    CAMPAIGN_NOT_RUNNING = "campaign_not_running"  # the campaign ended before the claim: send nothing more
    NOT_SUBSCRIBED = "not_subscribed"  # the subscriber was not active at the instant of the claim

    @property
    def retry_later(self) -> bool:
        """True only when the provider definitely did not send and the claim is free again."""
        return self is Delivery.THROTTLED


_FROM_CLAIM = {
    ClaimResult.TAKEN: Delivery.TAKEN,
    ClaimResult.CAMPAIGN_NOT_RUNNING: Delivery.CAMPAIGN_NOT_RUNNING,
    ClaimResult.NOT_SUBSCRIBED: Delivery.NOT_SUBSCRIBED,
}


def outcome_of(error: SmscastError) -> Delivery:
    """The outcome a provider error stands for; the order matters (ProviderThrottled is a ProviderError)."""
    if isinstance(error, ProviderThrottled):
        return Delivery.THROTTLED
    if isinstance(error, ConsentRequired):
        return Delivery.OPTED_OUT
    if isinstance(error, ProviderRejected):
        return Delivery.REJECTED
    return Delivery.UNCONFIRMED


@dataclass(frozen=True)
class Delivered:
    """The outcome, the provider's receipt when sent, and the provider's error when not."""

    outcome: Delivery
    at: datetime
    receipt: SendReceipt | None = None
    error: SmscastError | None = None
    recorded: bool = True  # False: the outcome was already recorded by someone else (nothing counted twice)


class SendClaim(Protocol):
    """Where one message's one-time claim and its outcome are kept."""

    def take(self, at: datetime) -> ClaimResult:
        """Claim the message; CLAIMED means this caller, and only this caller, may send it."""
        ...

    def give_back(self) -> None:
        """Free the claim after the provider definitely did not send (throttled)."""
        ...

    def record(self, delivered: Delivered) -> bool:
        """Store the final outcome (sent, opted out, rejected, unconfirmed); False if it was stored before."""
        ...


class OnceClaim:
    """A claim on the one-time claims table; recording is left to ``on_record`` (replies settle their row)."""

    def __init__(self, claims: Claims, key: str) -> None:
        self.claims = claims
        self.key = key

    def take(self, at: datetime) -> ClaimResult:
        """CLAIMED the first time, TAKEN ever after."""
        return ClaimResult.CLAIMED if self.claims.claim(self.key, at) else ClaimResult.TAKEN

    def give_back(self) -> None:
        """Release the key."""
        self.claims.release(self.key)

    def record(self, delivered: Delivered) -> bool:
        """The held key is the record: nothing else to store."""
        return True


def send(ports: Ports, sms: OutboundSms) -> Delivered:
    """Hand one message to the provider and say what it came to, by the table above; the caller holds its
    claim and records the outcome (campaign groups record many at once)."""
    try:
        receipt = ports.sms.send(sms)
    except (ProviderError, ConsentRequired) as exc:
        delivered = Delivered(outcome_of(exc), ports.clock.now(), error=exc)
        if not delivered.outcome.retry_later:
            logger.warning(
                "message not delivered",
                extra={"shop_id": sms.shop_id, "kind": sms.kind.value, "outcome": delivered.outcome.value, "code": exc.code},
            )
        return delivered
    # Anything else the provider call raises (a bug, an untranslated timeout) propagates with the claim held:
    # the message may have gone out, so at most once wins over delivery.
    return Delivered(Delivery.SENT, ports.clock.now(), receipt=receipt)


def deliver(ports: Ports, sms: OutboundSms, claim: SendClaim, line: ConversationMessage | None = None) -> Delivered:
    """Claim, send, record the outcome and add ``line`` (stamped with the send time) to the thread."""
    taken = claim.take(ports.clock.now())
    if taken is not ClaimResult.CLAIMED:
        return Delivered(_FROM_CLAIM[taken], ports.clock.now(), recorded=False)
    delivered = send(ports, sms)
    if delivered.outcome.retry_later:
        claim.give_back()
        return delivered
    delivered = replace(delivered, recorded=claim.record(delivered))
    if delivered.outcome is Delivery.SENT and line is not None:
        ports.conversations.append(thread_line(line, delivered))
    return delivered


def thread_line(line: ConversationMessage, delivered: Delivered) -> ConversationMessage:
    """``line`` stamped with the send time and the provider's message id."""
    receipt = delivered.receipt
    return replace(line, at=delivered.at, provider_message_id=receipt.provider_message_id if receipt else None)
