"""The sandbox SMS provider: sends nothing over the air, records every message durably in DynamoDB.

devstack and sandbox stages use it in place of End User Messaging. It behaves like the real provider
where it matters to the code above it: per-sender opt-out lists that refuse sends, the same request
rules (``check_sendable``), and faults (throttling, rejections) that another process can switch on at
runtime, because the switches live in the sandbox-control table rather than in this object.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools import Logger
from pynamodb.exceptions import PynamoDBException, UpdateError

from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.keys import parse_time_key, sandbox_opt_out_key, time_key
from chalicelib.adapters.dynamo.tables import SandboxControlRow, SandboxMessageRow
from chalicelib.adapters.sms.end_user_messaging import check_sendable, parts_of
from chalicelib.domain.errors import ConsentRequired, ProviderError, ProviderRejected, ProviderThrottled
from chalicelib.domain.messages import MessageKind, OutboundSms, SendReceipt
from chalicelib.domain.phones import FICTIONAL_PREFIX
from chalicelib.domain.receipts import DeliveryReceipt, event_of
from chalicelib.observability import INHERIT, SERVICE
from chalicelib.services.ports import Clock

logger = Logger(service=SERVICE, child=True, level=INHERIT)

THROTTLE = "fault#throttle"  # counter: how many of the next sends are throttled
FAIL_NEXT = "fault#fail"  # counter: how many of the next sends are rejected; data.reason
FAIL_NUMBERS = "fault#numbers"  # data.numbers: destinations that are always rejected
# data.numbers: destinations whose sends are accepted and then reported undeliverable by the "carrier"
# (a TEXT_INVALID delivery receipt), like a number that does not exist
UNREACHABLE_NUMBERS = "fault#unreachable"
_FAULTS = (THROTTLE, FAIL_NEXT, FAIL_NUMBERS, UNREACHABLE_NUMBERS)
SIMULATOR = "SIMULATOR"  # End User Messaging's kind for its simulator numbers


def _new_message_id() -> str:
    # The clock may stand still (tests, a frozen devstack clock), so the id, which breaks ties in
    # sent_key, starts with a machine-wide monotonic counter (not a time: the clock port owns time), so
    # same-instant sends still read back in send order across devstack's processes.
    return f"sandbox-{uuid.UUID(int=(time.monotonic_ns() & (2**64 - 1)) << 64 | secrets.randbits(64))}"


@dataclass(frozen=True)
class SandboxMessage:
    """One message the sandbox 'sent', as the phone would have received it."""

    provider_message_id: str
    shop_id: str
    from_number: str
    to_number: str
    body: str
    kind: MessageKind
    sent_at: datetime
    media_urls: tuple[str, ...] = ()
    campaign_id: str | None = None
    parts: int = 1


def _to_message(row: SandboxMessageRow) -> SandboxMessage:
    sent_at, _ = parse_time_key(row.sent_key)
    return SandboxMessage(
        provider_message_id=row.provider_message_id,
        shop_id=row.shop_id,
        from_number=row.from_number,
        to_number=row.to_number,
        body=row.body,
        kind=MessageKind(row.kind),
        sent_at=sent_at,
        media_urls=tuple(str(url) for url in row.media_urls or ()),
        campaign_id=row.campaign_id,
        parts=int(row.parts),
    )


class SandboxProvider:
    """An SmsProvider for devstack and sandbox stages, with an outbox people and tests can read."""

    def __init__(self, clock: Clock, *, receipts: Callable[[dict[str, Any]], None] | None = None) -> None:
        """``receipts`` publishes a delivery event the way End User Messaging's configuration set would (to the
        delivery-receipts queue); None publishes none."""
        self._clock = clock
        self._receipts = receipts

    # -- the port ---------------------------------------------------------------------------------

    def send(self, sms: OutboundSms) -> SendReceipt:
        """Record the message as sent, unless a fault switch or the opt-out list says otherwise."""
        check_sendable(sms)  # refuse exactly what End User Messaging would refuse
        try:
            return self._send(sms)
        except PynamoDBException as exc:
            raise ProviderError("the sandbox outbox is unavailable", details={"sandbox": True}) from exc

    # The sandbox keeps one opt-out list per sender number (as a deployment with per-number lists would), so a
    # shop's opt-out goes on the list of each number of its pool.
    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """Put the number on each sender's opt-out list (idempotent)."""
        at = self._clock.now().isoformat()
        with SandboxControlRow.batch_write() as batch:
            for sender in dict.fromkeys(sender_numbers):
                batch.save(SandboxControlRow(name=sandbox_opt_out_key(sender, phone), data={"at": at}))

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """Take the number off each sender's opt-out list; absent is fine."""
        with SandboxControlRow.batch_write() as batch:
            for sender in dict.fromkeys(sender_numbers):
                batch.delete(SandboxControlRow(name=sandbox_opt_out_key(sender, phone)))

    def number_kind(self, number: str) -> str | None:
        """The sandbox's account holds every fictional number (+1555...), as the SIMULATOR kind, and nothing else:
        devstack's operator can assign its demo numbers, and a real number is refused as a real account would."""
        return SIMULATOR if number.startswith(FICTIONAL_PREFIX) and number[1:].isdigit() else None

    # -- fault injection --------------------------------------------------------------------------

    def throttle_next(self, n: int) -> None:
        """The next ``n`` sends (from any process) raise ProviderThrottled."""
        SandboxControlRow(name=THROTTLE, counter=_count(n)).save()

    def fail_next(self, n: int, reason: str = "SANDBOX_FAIL_NEXT") -> None:
        """The next ``n`` sends that get past throttling and the opt-out list raise ProviderRejected with ``reason``."""
        SandboxControlRow(name=FAIL_NEXT, counter=_count(n), data={"reason": reason}).save()

    def fail_numbers(self, numbers: Iterable[str]) -> None:
        """Every send to these numbers raises ProviderRejected, until replaced or cleared; empty clears."""
        wanted = sorted(set(numbers))
        if wanted:
            SandboxControlRow(name=FAIL_NUMBERS, data={"numbers": wanted}).save()
        else:
            SandboxControlRow(name=FAIL_NUMBERS).delete()

    def unreachable_numbers(self, numbers: Iterable[str]) -> None:
        """Sends to these numbers are accepted, then reported undeliverable (TEXT_INVALID); empty clears."""
        wanted = sorted(set(numbers))
        if wanted:
            SandboxControlRow(name=UNREACHABLE_NUMBERS, data={"numbers": wanted}).save()
        else:
            SandboxControlRow(name=UNREACHABLE_NUMBERS).delete()

    def clear_faults(self) -> None:
        """Switch every fault off (opt-out lists are not faults and stay)."""
        for name in _FAULTS:
            SandboxControlRow(name=name).delete()

    # -- readers ----------------------------------------------------------------------------------

    def received(self, phone: str) -> list[SandboxMessage]:
        """Everything sent to ``phone``, oldest first."""
        return [_to_message(row) for row in SandboxMessageRow.query(phone, consistent_read=True)]

    def sent_from(self, sender_number: str) -> list[SandboxMessage]:
        """Everything sent from ``sender_number``, oldest first."""
        return [_to_message(row) for row in SandboxMessageRow.by_sender.query(sender_number)]

    def count_sent(
        self,
        *,
        to_number: str | None = None,
        from_number: str | None = None,
        campaign_id: str | None = None,
        kind: MessageKind | None = None,
    ) -> int:
        """How many recorded messages match every given filter (no filter: all of them)."""
        rows: Iterator[SandboxMessageRow]
        if to_number is not None:
            rows = SandboxMessageRow.query(to_number, consistent_read=True)
        elif from_number is not None:
            rows = SandboxMessageRow.by_sender.query(from_number)
        else:
            rows = SandboxMessageRow.scan(consistent_read=True)  # sandbox tables stay small
        return sum(
            1
            for row in rows
            if (from_number is None or row.from_number == from_number)
            and (campaign_id is None or row.campaign_id == campaign_id)
            and (kind is None or row.kind == kind.value)
        )

    def is_opted_out(self, sender_number: str, phone: str) -> bool:
        """True when the number is on the sender's opt-out list."""
        try:
            SandboxControlRow.get(sandbox_opt_out_key(sender_number, phone), consistent_read=True)
        except SandboxControlRow.DoesNotExist:
            return False
        return True

    # -- internals --------------------------------------------------------------------------------

    def _send(self, sms: OutboundSms) -> SendReceipt:
        opt_out_key = sandbox_opt_out_key(sms.from_number, sms.to_number)
        # One consistent read for every switch; the atomic decrement below is only tried when a
        # counter is up, so a sandbox without faults costs one read and one write per send.
        controls = {row.name: row for row in SandboxControlRow.batch_get([*_FAULTS, opt_out_key], consistent_read=True)}

        throttle = controls.get(THROTTLE)
        if throttle is not None and throttle.counter > 0 and _take_one(THROTTLE):
            raise ProviderThrottled("sandbox: throttled (throttle_next)", details={"sandbox": "throttle_next"})

        # End User Messaging refuses every message, of any kind, to a number on the opt-out list; the
        # sandbox does the same so devstack catches ordering bugs (the STOP confirmation must go out
        # before add_opt_out; a HELP from an opted-out number cannot be answered).
        if opt_out_key in controls:
            raise ConsentRequired(
                f"{sms.to_number} is on the opt-out list of {sms.from_number}",
                details={"reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT", "phone": sms.to_number, "sandbox": True},
            )

        failing = controls.get(FAIL_NUMBERS)
        if failing is not None and sms.to_number in (failing.data or {}).get("numbers", ()):
            raise ProviderRejected(
                f"sandbox: sends to {sms.to_number} always fail (fail_numbers)",
                details={"reason": "SANDBOX_FAIL_NUMBERS", "sandbox": "fail_numbers"},
            )

        fail = controls.get(FAIL_NEXT)
        if fail is not None and fail.counter > 0 and _take_one(FAIL_NEXT):
            reason = str((fail.data or {}).get("reason", "SANDBOX_FAIL_NEXT"))
            raise ProviderRejected(f"sandbox: rejected ({reason})", details={"reason": reason, "sandbox": "fail_next"})

        at = self._clock.now().astimezone(timezone.utc)
        message_id = _new_message_id()
        parts = parts_of(sms)
        SandboxMessageRow(
            to_number=sms.to_number,
            sent_key=time_key(at, message_id),  # time first, so a phone's messages read back in send order
            from_number=sms.from_number,
            body=sms.body,
            kind=sms.kind.value,
            shop_id=sms.shop_id,
            provider_message_id=message_id,
            media_urls=list(sms.media_urls) or None,
            campaign_id=sms.campaign_id,
            parts=parts,
        ).save()
        if self._receipts is not None:
            unreachable = controls.get(UNREACHABLE_NUMBERS)
            dead = unreachable is not None and sms.to_number in (unreachable.data or {}).get("numbers", ())
            receipt = DeliveryReceipt(
                provider_message_id=message_id,
                phone=sms.to_number,
                event_type="TEXT_INVALID" if dead else "TEXT_DELIVERED",
                final=True,
                at=at,
                shop_id=sms.shop_id,
                campaign_id=sms.campaign_id,
                kind=sms.kind,
                description="sandbox: the number does not exist" if dead else "",
            )
            try:
                self._receipts(event_of(receipt, from_number=sms.from_number))
            except Exception:  # the message is sent: a lost receipt leaves it "sent", as a carrier's silence would
                logger.exception("sandbox: delivery receipt not published")
        return SendReceipt(provider_message_id=message_id, parts=parts)


def _count(n: int) -> int:
    if n < 0:
        raise ValueError(f"a fault count cannot be negative: {n}")
    return n


def _take_one(name: str) -> bool:
    """Atomically take one from the counter; False when it was already at zero (another worker won)."""
    try:
        SandboxControlRow(name=name).update(
            actions=[SandboxControlRow.counter.add(-1)],
            condition=SandboxControlRow.counter > 0,
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
