"""The campaign_sends worker: an invocation's records go through one pipeline (services.sending.send_batches), and
the answer is Lambda's partial batch response built from each batch's outcome."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from chalicelib.domain.sending import Claim, GroupClaim, SendBatch
from chalicelib.workers import campaign_sends
from devstack.pumps import LocalLambdaContext
from tests.fakes import FakeLedger, FakeSms
from tests.unit.conftest import Api
from tests.unit.test_campaign_engine import NY, SHOP, add, send_now


def record(message_id: str, body: str) -> dict[str, object]:
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body, "eventSource": "aws:sqs"}


def test_only_the_record_whose_batch_raised_comes_back_and_the_others_of_the_invocation_are_sent(api: Api) -> None:
    ports = api.ports
    add(ports, *NY[:6])
    cid = send_now(ports)
    assert isinstance(ports.ledger, FakeLedger) and isinstance(ports.sms, FakeSms)
    claim = ports.ledger.claim
    broken = set(NY[2:4])

    def refusing(shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        if {c.phone for c in claims} & broken:
            raise RuntimeError("DynamoDB is throttling")
        return claim(shop_id, campaign_id, claims, at)

    ports.ledger.claim = refusing  # type: ignore[method-assign]
    batches = [SendBatch(SHOP, cid, tuple(NY[i : i + 2])) for i in (0, 2, 4)]
    records = [
        record("a", json.dumps(batches[0].to_json())),
        record("b", json.dumps(batches[1].to_json())),
        record("c", "{not json"),  # dropped: a redelivery could not read it either
        record("d", json.dumps(batches[2].to_json())),
    ]
    answer = campaign_sends.handle_sqs_event({"Records": records}, LocalLambdaContext(function_name="campaign_sends"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}
    sent = sorted(s.sms.to_number for s in ports.sms.sent if s.sms.campaign_id == cid)
    assert sent == sorted(NY[:2] + NY[4:6])
