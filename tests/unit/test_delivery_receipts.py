"""Delivery receipts move the ledger and the campaign's Delivered / Undelivered once each, whatever their order
or how often they come; a number a carrier calls dead is marked unreachable and skipped by later campaigns."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import InvalidInput, TransientError
from chalicelib.domain.messages import MessageKind
from chalicelib.domain.receipts import Delivery, DeliveryReceipt, event_of, parse
from chalicelib.domain.sending import SendState, SkipReason
from chalicelib.domain.subscribers import ConsentAction, ConsentSource
from chalicelib.services import campaigns, receipts
from chalicelib.services.ports import Ports
from chalicelib.workers import delivery_receipts
from devstack.pumps import LocalLambdaContext
from tests.engine import Engine
from tests.fakes import FakeLedger, FakeSms
from tests.unit.conftest import Api
from tests.unit.test_campaign_engine import NY, SENDER, SHOP, add, make_ports, send_now

AT = datetime(2026, 11, 20, 15, 0, 5, tzinfo=timezone.utc)


def event(message_id: str = "m-1", phone: str = NY[0], kind: str = "TEXT_DELIVERED", **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "eventType": kind,
        "eventVersion": "1.0",
        "eventTimestamp": 1_763_650_805_000,
        "isFinal": True,
        "originationPhoneNumber": SENDER,
        "destinationPhoneNumber": phone,
        "messageId": message_id,
        "messageStatus": "DELIVERED",
        "messageStatusDescription": "Message has been accepted by phone",
        "context": {"shop_id": SHOP, "kind": "campaign", "campaign_id": "cmp_1"},
    }
    body.update(over)
    return body


class TestParse:
    def test_an_end_user_messaging_event_becomes_a_receipt(self) -> None:
        receipt = parse(json.dumps(event()))
        assert receipt.provider_message_id == "m-1" and receipt.phone == NY[0]
        assert receipt.outcome is Delivery.DELIVERED and receipt.reason is None
        assert (receipt.shop_id, receipt.campaign_id, receipt.kind) == (SHOP, "cmp_1", MessageKind.CAMPAIGN)
        assert receipt.at == datetime(2025, 11, 20, 15, 0, 5, tzinfo=timezone.utc)

    def test_an_sns_envelope_is_unwrapped(self) -> None:
        envelope = {"Type": "Notification", "Message": json.dumps(event(kind="TEXT_INVALID"))}
        receipt = parse(json.dumps(envelope))
        assert receipt.outcome is Delivery.UNDELIVERED and receipt.number_unreachable
        assert receipt.reason == "TEXT_INVALID: Message has been accepted by phone"

    @pytest.mark.parametrize("kind", ["TEXT_QUEUED", "TEXT_PENDING"])
    def test_a_message_on_its_way_has_no_outcome(self, kind: str) -> None:
        assert parse(event(kind=kind, isFinal=False)).outcome is None

    def test_a_final_event_of_an_unknown_type_is_not_guessed(self) -> None:
        assert parse(event(kind="TEXT_SOMETHING_NEW")).outcome is None

    def test_only_number_level_failures_mark_a_number(self) -> None:
        assert parse(event(kind="TEXT_BLOCKED")).number_unreachable
        for kind in ("TEXT_SPAM", "TEXT_CARRIER_BLOCKED", "TEXT_UNREACHABLE", "TEXT_TTL_EXPIRED"):
            receipt = parse(event(kind=kind))
            assert receipt.outcome is Delivery.UNDELIVERED and not receipt.number_unreachable

    @pytest.mark.parametrize(
        "body",
        [
            "not json",
            "[]",
            json.dumps({k: v for k, v in event().items() if k != "messageId"}),
            json.dumps(event(destinationPhoneNumber="")),
            json.dumps(event(eventTimestamp="yesterday")),
            json.dumps(event(eventTimestamp=True)),
            json.dumps(event(messageId="x" * 500)),
        ],
    )
    def test_malformed_events_are_refused(self, body: str) -> None:
        with pytest.raises(InvalidInput):
            parse(body)

    def test_context_values_that_could_break_a_key_are_dropped(self) -> None:
        receipt = parse(event(context={"shop_id": "a#b", "campaign_id": "cmp_1", "kind": "nonsense"}))
        assert receipt.shop_id is None and receipt.kind is None

    def test_event_of_round_trips(self) -> None:
        receipt = parse(event(kind="TEXT_CARRIER_UNREACHABLE"))
        assert parse(event_of(receipt, from_number=SENDER)) == receipt


# --- recording over a real campaign run on the fakes ------------------------------------------------------


def sent_campaign(ports: Ports, *phones: str) -> str:
    add(ports, *phones)
    cid = send_now(ports)
    Engine(ports).run()
    return cid


def receipt_for(ports: Ports, cid: str, phone: str, kind: str = "TEXT_DELIVERED", *, final: bool = True) -> DeliveryReceipt:
    assert isinstance(ports.ledger, FakeLedger)
    row = ports.ledger.rows[(SHOP, cid, phone)]
    assert row.provider_message_id is not None
    return DeliveryReceipt(row.provider_message_id, phone, kind, final, AT, SHOP, cid, MessageKind.CAMPAIGN, "carrier said so")


def stats(ports: Ports, cid: str) -> tuple[int, int]:
    s = campaigns.get_campaign(ports, SHOP, cid).stats
    return s.delivered, s.undelivered


class TestRecording:
    def test_each_message_counts_once_however_often_its_receipt_comes(self) -> None:
        ports = make_ports()
        cid = sent_campaign(ports, *NY[:3])
        batch = [receipt_for(ports, cid, p) for p in NY[:3]]
        first = receipts.record(ports, batch + batch[:1])  # a duplicate inside the poll too
        again = receipts.record(ports, batch)
        assert (first.delivered, first.duplicates) == (3, 1)
        assert (again.delivered, again.duplicates) == (0, 3)
        assert stats(ports, cid) == (3, 0)
        assert ports.campaigns.totals(SHOP).delivered == 3

    def test_the_first_final_receipt_wins_and_pending_ones_never_override(self) -> None:
        ports = make_ports()
        cid = sent_campaign(ports, NY[0], NY[1])
        late_pending = receipt_for(ports, cid, NY[0], "TEXT_PENDING", final=False)
        receipts.record(ports, [receipt_for(ports, cid, NY[0]), late_pending])
        receipts.record(ports, [receipt_for(ports, cid, NY[0], "TEXT_UNKNOWN")])  # a second final: ignored
        # out of order the other way round: pending first, then the final one
        receipts.record(ports, [receipt_for(ports, cid, NY[1], "TEXT_PENDING", final=False)])
        report = receipts.record(ports, [receipt_for(ports, cid, NY[1], "TEXT_SPAM")])
        assert report.undelivered == 1 and report.reasons == {"TEXT_SPAM": 1}
        assert stats(ports, cid) == (1, 1)
        assert isinstance(ports.ledger, FakeLedger)
        row = ports.ledger.rows[(SHOP, cid, NY[1])]
        assert (row.state, row.delivery, row.delivery_reason) == (
            SendState.SENT,
            Delivery.UNDELIVERED,
            "TEXT_SPAM: carrier said so",
        )

    def test_an_unknown_message_id_moves_nothing(self) -> None:
        ports = make_ports()
        cid = sent_campaign(ports, NY[0])
        stranger = replace(receipt_for(ports, cid, NY[0]), provider_message_id="not-ours")
        other_phone = replace(receipt_for(ports, cid, NY[0]), phone=NY[5])
        no_context = replace(receipt_for(ports, cid, NY[0]), shop_id=None)
        report = receipts.record(ports, [stranger, other_phone, no_context])
        assert report.unknown == 3 and stats(ports, cid) == (0, 0)

    def test_a_receipt_that_beats_the_outcome_is_tried_again(self) -> None:
        ports = make_ports()
        add(ports, NY[0])
        cid = send_now(ports)
        fake_sms = ports.sms
        assert isinstance(fake_sms, FakeSms) and isinstance(ports.ledger, FakeLedger)
        early: list[receipts.ReceiptReport] = []

        def carrier_answers_at_once(sms: object) -> None:
            # The provider accepted the message; its receipt arrives while the row is still claimed.
            message_id = f"fake-{len(fake_sms.sent)}"
            receipt = DeliveryReceipt(message_id, NY[0], "TEXT_DELIVERED", True, AT, SHOP, cid, MessageKind.CAMPAIGN)
            early.append(receipts.record(ports, [receipt]))

        fake_sms.on_send = carrier_answers_at_once
        Engine(ports).run()
        assert len(early[0].retry) == 1 and early[0].delivered == 0
        assert receipts.record(ports, early[0].retry).delivered == 1
        assert stats(ports, cid) == (1, 0)

    def test_receipts_of_replies_only_mark_dead_numbers(self) -> None:
        ports = make_ports()
        add(ports, NY[0])
        reply = DeliveryReceipt("r-1", NY[0], "TEXT_DELIVERED", True, AT, SHOP, None, MessageKind.REPLY)
        assert receipts.record(ports, [reply]).not_campaign == 1


class TestUnreachableNumbers:
    def test_a_dead_number_is_marked_with_its_reason_and_skipped_by_the_next_campaign(self) -> None:
        ports = make_ports()
        cid = sent_campaign(ports, NY[0], NY[1])
        dead = receipt_for(ports, cid, NY[0], "TEXT_INVALID")
        assert receipts.record(ports, [dead, dead]).unreachable == 1
        assert receipts.record(ports, [dead]).unreachable == 0  # redelivered: marked once
        subscriber = ports.subscribers.get(SHOP, NY[0])
        assert subscriber is not None and subscriber.unreachable
        assert subscriber.unreachable_reason == "TEXT_INVALID: carrier said so"
        history = ports.subscribers.consent_history(SHOP, NY[0])
        marks = [e for e in history if e.action is ConsentAction.UNREACHABLE]
        assert len(marks) == 1 and marks[0].source is ConsentSource.CARRIER and marks[0].text.startswith("TEXT_INVALID")
        assert subscriber.can_receive_marketing  # consent is untouched: it is not a STOP

        ports.clock.advance(days=2)  # type: ignore[attr-defined]
        second = send_now(ports)
        Engine(ports).run()
        assert isinstance(ports.ledger, FakeLedger) and isinstance(ports.sms, FakeSms)
        row = ports.ledger.rows[(SHOP, second, NY[0])]
        assert (row.state, row.reason) == (SendState.SKIPPED, SkipReason.UNREACHABLE.value)
        assert [s.sms.to_number for s in ports.sms.sent if s.sms.campaign_id == second] == [NY[1]]

    def test_a_temporary_failure_marks_nothing(self) -> None:
        ports = make_ports()
        cid = sent_campaign(ports, NY[0])
        receipts.record(ports, [receipt_for(ports, cid, NY[0], "TEXT_UNREACHABLE")])
        subscriber = ports.subscribers.get(SHOP, NY[0])
        assert subscriber is not None and not subscriber.unreachable

    def test_a_mark_lost_to_a_crash_is_made_by_the_redelivery(self, monkeypatch: pytest.MonkeyPatch) -> None:
        ports = make_ports()
        cid = sent_campaign(ports, NY[0])
        dead = receipt_for(ports, cid, NY[0], "TEXT_BLOCKED")

        def crash(*args: object, **kwargs: object) -> int:
            raise RuntimeError("worker died after the ledger step")

        monkeypatch.setattr(receipts, "_mark_unreachable", crash)
        with pytest.raises(RuntimeError):
            receipts.record(ports, [dead])
        monkeypatch.undo()
        report = receipts.record(ports, [dead])
        assert report.duplicates == 1 and report.unreachable == 1
        assert stats(ports, cid) == (0, 1)


def test_receipts_trail_the_send_by_up_to_72_hours_and_still_count() -> None:
    ports = make_ports()
    cid = sent_campaign(ports, NY[0])
    ports.clock.advance(hours=72)  # type: ignore[attr-defined]
    late = replace(receipt_for(ports, cid, NY[0]), at=AT + timedelta(hours=72))
    assert receipts.record(ports, [late]).delivered == 1


class TestWorker:
    def record(self, message_id: str, body: str) -> dict[str, object]:
        return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body, "eventSource": "aws:sqs"}

    def test_a_poll_is_recorded_at_once_and_only_early_receipts_are_retried(
        self, api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        ports = api.ports
        add(ports, NY[0], NY[1])
        cid = send_now(ports)
        Engine(ports).run()
        assert isinstance(ports.ledger, FakeLedger)
        claimed = ports.ledger.rows[(SHOP, cid, NY[1])]
        ports.ledger.rows[(SHOP, cid, NY[1])] = replace(claimed, state=SendState.CLAIMED)  # its worker is still sending
        retried: list[list[dict[str, object]]] = []
        monkeypatch.setattr(delivery_receipts, "_retry_soon", retried.append)
        good = event_of(receipt_for(ports, cid, NY[0]), from_number=SENDER)
        early = event_of(receipt_for(ports, cid, NY[1]), from_number=SENDER)
        records = [
            self.record("a", json.dumps(good)),
            self.record("b", json.dumps(early)),
            self.record("c", "{not json"),  # dropped: retrying cannot fix it
            self.record("d", json.dumps(good)),  # a duplicate in the same poll
        ]
        answer = delivery_receipts.handle_sqs_event({"Records": records}, LocalLambdaContext(function_name="delivery_receipts"))
        assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}
        assert [[r["messageId"] for r in batch] for batch in retried] == [["b"]]
        assert stats(ports, cid) == (1, 0)
        metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
        assert [m.get("MessagesDelivered") for m in metrics] == [[1.0]]  # the duplicate counted nothing

    def test_a_failure_of_the_whole_poll_hands_every_readable_record_back(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def down(*args: object) -> None:
            raise TransientError("DynamoDB is throttling")

        monkeypatch.setattr(receipts, "record", down)
        good = json.dumps(event())
        answer = delivery_receipts.handle_sqs_event(
            {"Records": [self.record("a", good), self.record("b", "nope")]}, LocalLambdaContext(function_name="delivery_receipts")
        )
        assert answer == {"batchItemFailures": [{"itemIdentifier": "a"}]}
