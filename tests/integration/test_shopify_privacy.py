"""The Shopify webhook work on the real adapters (moto): checkout subscribers found by customer id, uninstall
recorded, and redactions that really remove the data, proved by reading every table back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.adapters.dynamo.privacy import ERASED_TABLES, KEPT_TABLES, DynamoContactData, DynamoSendHistoryData
from chalicelib.adapters.dynamo.tables import ALL_TABLES, DedupeRow, ReleaseWaveRow, SendLedgerRow, SubscriberRow
from chalicelib.composition import Container, use_container
from chalicelib.domain.links import Visit
from chalicelib.domain.messages import InboundSms
from chalicelib.domain.orders import Order
from chalicelib.domain.privacy import suppression_hash
from chalicelib.domain.sending import Claim, Deferral, LedgerEntry, SendState, Settlement
from chalicelib.domain.shopify import Topic, Webhook
from chalicelib.domain.subscribers import SubscriberStatus
from chalicelib.services import campaigns, inbox, links, orders, webhooks
from chalicelib.services.inbound import receive_sms
from chalicelib.services.links import LinkOwner
from chalicelib.services.ports import Ports
from chalicelib.settings import Settings
from devstack.shopify import customer_payload
from tests.commands import new_campaign
from tests.fakes import FrozenClock
from tests.integration.conftest import TEST_PREFIX, TEST_REGION
from tests.numbers import create_shop

pytestmark = pytest.mark.integration

SHOP = "alpha.myshopify.com"
OTHER = "beta.myshopify.com"
SENDER, OTHER_SENDER = "+15550100000", "+15550100001"
PHONE = "+15551230000"
AT = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)  # 10:00 in New York: no quiet hours
SANDBOX = {"sandbox-messages", "sandbox-control"}  # devstack's stand-in for the carrier, not smscast's data
_ids = iter(range(10_000))


@pytest.fixture
def ports(aws: None) -> Iterator[Ports]:
    settings = Settings.from_env(
        {
            "AWS_REGION": TEST_REGION,
            "SMSCAST_RESOURCE_PREFIX": TEST_PREFIX,
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
        }
    )
    container = Container(settings, clock=FrozenClock(AT))
    use_container(container)
    container.client("s3").create_bucket(Bucket=settings.exports_bucket)  # imports and exports (shop/redact deletes them)
    ports = container.ports
    create_shop(ports, shop_id=SHOP, settings={"sender_number": SENDER})
    create_shop(ports, shop_id=OTHER, settings={"sender_number": OTHER_SENDER})
    yield ports
    use_container(None)


def run(ports: Ports, topic: Topic, payload: dict[str, Any], shop: str = SHOP) -> webhooks.Handled:
    webhook = Webhook(shop, topic, f"wh-{next(_ids)}", json.dumps(payload), AT)
    return webhooks.handle(ports, webhook)


def history(ports: Ports, shop: str, phone: str = PHONE) -> None:
    """A checkout subscriber who texted, got a reply, and received a campaign message."""
    run(ports, Topic.CUSTOMERS_CREATE, customer_payload(phone, at=AT, customer_id=7001), shop=shop)
    sender = SENDER if shop == SHOP else OTHER_SENDER
    receive_sms(ports, InboundSms(f"in-{next(_ids)}", phone, sender, "Do you ship to Canada?", AT))
    inbox.reply(ports, shop, phone, inbox.ReplyRequest(text="We do!"))
    # a campaign message they received: their row in that campaign's (sharded) ledger and their contact window
    sale = ports.campaigns.save(
        campaigns.create_campaign(
            ports, shop, new_campaign({"name": "Flash", "message": "Hi", "segment_id": "all", "draft": True})
        ).start(AT, {"all": []})
    )
    assert ports.ledger.claim(shop, sale.campaign_id, [Claim(phone, None)], AT).claimed == (phone,)
    entry = LedgerEntry(shop, sale.campaign_id, phone, SendState.SENT, AT, provider_message_id="pm-1", parts=1)
    assert ports.ledger.settle(shop, sale.campaign_id, [Settlement(entry, SendState.CLAIMED)]) == {phone}
    # a campaign that deferred the person to a quiet-hours release wave, then moved them to a later one
    campaign = campaigns.create_campaign(
        ports, shop, new_campaign({"name": "Sale", "message": "Hi", "segment_id": "all", "draft": True})
    )
    assert ports.ledger.defer(shop, campaign.campaign_id, [Deferral(phone, AT + timedelta(hours=12), None)], AT) == 1
    moved = Deferral(phone, AT + timedelta(hours=13), SendState.DEFERRED, moved_from=AT + timedelta(hours=12))
    assert ports.ledger.defer(shop, campaign.campaign_id, [moved], AT + timedelta(hours=12)) == 0
    # a tracked link they tapped, and an order that click attributes to the campaign
    text = links.shorten(ports, "New in: https://shop.example/new", LinkOwner(shop, phone, campaign_id=campaign.campaign_id))
    code = text.rsplit("/", 1)[1]
    assert links.follow(ports, code, Visit.CLICK) is not None
    order = Order(shop, f"{next(_ids)}", AT + timedelta(hours=1), 4250, "USD", phone, "7001", ())
    orders.order_placed(ports, order)


def items(model: Any) -> list[dict[str, Any]]:
    return [row.serialize() for row in model.scan()]


def mentions(value: str) -> dict[str, int]:
    """How many items of each table mention ``value`` anywhere (keys or attributes)."""
    found: dict[str, int] = {}
    for model in ALL_TABLES:
        count = sum(value in json.dumps(item) for item in items(model))
        if count:
            found[model.base_name] = count
    return found


def test_every_table_is_decided_for_shop_redact() -> None:
    assert {model.base_name for model in ALL_TABLES} == ERASED_TABLES | KEPT_TABLES
    assert not ERASED_TABLES & KEPT_TABLES


def test_a_checkout_subscriber_is_found_by_its_customer_id(ports: Ports) -> None:
    run(ports, Topic.CUSTOMERS_CREATE, customer_payload(PHONE, at=AT, customer_id=7001, name="Ada Lovelace"))
    sub = ports.subscribers.by_customer_id(SHOP, "7001")
    assert sub is not None and (sub.phone, sub.customer_id, sub.name) == (PHONE, "7001", "Ada Lovelace")
    assert sub.profile_url == "https://admin.shopify.com/store/alpha/customers/7001"
    assert ports.subscribers.by_customer_id(OTHER, "7001") is None
    assert SubscriberRow.get(SHOP, PHONE).customer_key == f"{SHOP}#7001"


def test_uninstall_is_recorded_once_and_survives_a_settings_save(ports: Ports) -> None:
    assert run(ports, Topic.APP_UNINSTALLED, {"id": 1}) is webhooks.Handled.DONE
    first = ports.shops.get(SHOP).uninstalled_at
    assert first == AT
    later = ports.shops.mark_uninstalled(SHOP, datetime(2026, 11, 22, tzinfo=timezone.utc))
    assert later.uninstalled_at == AT
    saved = ports.shops.save_settings(later, later.settings)
    assert saved.uninstalled_at == AT and ports.shops.get(SHOP).uninstalled_at == AT
    assert ports.shops.get(OTHER).uninstalled_at is None


def test_a_data_request_exports_every_store(ports: Ports) -> None:
    history(ports, SHOP)
    run(ports, Topic.CUSTOMERS_DATA_REQUEST, {"customer": {"id": 7001, "phone": None}, "data_request": {"id": 42}})
    export = ports.exports.get(SHOP, "dr_42")
    assert export is not None and export.phone == PHONE
    data: dict[str, Any] = export.data
    assert data["subscriber"]["status"] == "active"
    assert [e["source"] for e in data["consent_history"]] == ["shopify"]
    assert [m["body"] for m in data["messages"]] == ["Do you ship to Canada?", "We do!"]
    assert data["conversation"]["last_message"] == "We do!"
    assert [r["text"] for r in data["replies"]] == ["We do!"]
    assert data["campaign_messages_received"] == [AT.isoformat()]
    assert sorted(c["state"] for c in data["campaign_sends"]) == ["deferred", "sent"]
    assert [o["total"] for o in data["orders"]] == [4250]
    assert data["links"] and data["clicks"], "the tapped link and its click are the person's data too"


def test_customers_redact_removes_the_person_and_keeps_only_a_hash(ports: Ports) -> None:
    history(ports, SHOP)
    history(ports, OTHER)  # the same person in another shop is another shop's business
    run(ports, Topic.CUSTOMERS_DATA_REQUEST, {"customer": {"id": 7001, "phone": PHONE}, "data_request": {"id": 1}})
    assert mentions(f"{SHOP}#{PHONE}")  # there was something to erase
    assert {"send-ledger", "release-waves", "contacts", "links", "clicks", "orders"} <= set(mentions(PHONE))
    assert mentions(PHONE)["release-waves"] == 2  # one wave in each shop: a moved deferral left no entry behind

    run(ports, Topic.CUSTOMERS_REDACT, {"customer": {"id": 7001, "phone": PHONE}, "orders_to_redact": [1]})

    # every item that still holds the number belongs to the other shop
    for model in ALL_TABLES:
        if model.base_name in SANDBOX:
            continue
        for item in items(model):
            text = json.dumps(item)
            assert not (PHONE in text and (SHOP in text or item.get("shop_id", {}).get("S") == SHOP)), (model.base_name, item)
    assert ports.subscribers.get(SHOP, PHONE) is None and ports.inbox.unresolved_count(SHOP) == 0
    assert ports.subscribers.get(OTHER, PHONE) is not None
    (suppressed,) = [row for row in DedupeRow.scan() if row.key.startswith("suppressed#")]
    assert suppressed.key == "suppressed#" + suppression_hash(SHOP, PHONE)
    assert ports.suppressions.contains(SHOP, PHONE) and not ports.suppressions.contains(OTHER, PHONE)

    # never again: a checkout webhook cannot bring the number back
    run(ports, Topic.CUSTOMERS_CREATE, customer_payload(PHONE, at=AT, customer_id=7001))
    assert ports.subscribers.get(SHOP, PHONE) is None


def test_shop_redact_erases_the_shop_and_nothing_else(ports: Ports) -> None:
    history(ports, SHOP)
    history(ports, OTHER)
    run(ports, Topic.CUSTOMERS_DATA_REQUEST, {"customer": {"phone": PHONE}, "data_request": {"id": 1}})
    run(ports, Topic.APP_UNINSTALLED, {"id": 1})
    # a crowd deferred by the shop's campaign, so its ledger spans many of the campaign's partitions
    (sale,) = [c for c in ports.campaigns.all(SHOP) if c.name == "Sale"]
    crowd = [Deferral(f"+1555123{i:04d}", AT + timedelta(hours=12), None) for i in range(1, 41)]
    assert ports.ledger.defer(SHOP, sale.campaign_id, crowd, AT) == 40
    assert len({row.campaign_key for row in SendLedgerRow.scan() if row.campaign_key.startswith(f"{SHOP}#")}) > 20
    before_other = mentions(OTHER)
    assert len(mentions(SHOP)) >= 10  # shops, keys, subscribers, consent, messages, conversations, replies, ...
    for shop in (SHOP, OTHER):  # an uploaded import and an export of each shop, in the exports bucket
        ports.import_files.put(shop, "imports/x/upload.csv", b"phone\n", content_type="text/csv")
        ports.export_files.store(shop, "subscribers-x.csv", iter([b"phone\n"]), content_type="text/csv")

    run(ports, Topic.SHOP_REDACT, {"shop_id": 1, "shop_domain": SHOP})

    assert ports.import_files.size(SHOP, "imports/x/upload.csv") is None
    assert ports.import_files.size(SHOP, "subscribers-x.csv") is None
    assert ports.import_files.size(OTHER, "imports/x/upload.csv") == ports.import_files.size(OTHER, "subscribers-x.csv") == 6

    assert {table for table in mentions(SHOP) if table not in SANDBOX} == set()
    assert [row.campaign_key for row in SendLedgerRow.scan() if row.campaign_key.startswith(f"{SHOP}#")] == []
    assert mentions(OTHER) == before_other
    other = ports.subscribers.get(OTHER, PHONE)
    assert other is not None and other.status is SubscriberStatus.ACTIVE


def test_the_export_lists_the_contact_windows_message_times_not_its_key(ports: Ports) -> None:
    history(ports, SHOP)
    assert DynamoContactData().export(SHOP, PHONE) == {"campaign_messages_received": [AT.isoformat()]}


def test_a_moved_deferral_leaves_no_wave_entry_behind_for_erasure_to_miss(ports: Ports) -> None:
    history(ports, SHOP)  # deferred to one wave, then moved to a later one: the earlier entry goes with the move
    history(ports, OTHER)
    assert len([w for w in ReleaseWaveRow.scan() if w.wave_key.startswith(f"{SHOP}#")]) == 1

    DynamoSendHistoryData().erase(SHOP, PHONE)

    assert [w.wave_key for w in ReleaseWaveRow.scan() if w.wave_key.startswith(f"{SHOP}#")] == []
    assert len([w for w in ReleaseWaveRow.scan() if w.wave_key.startswith(f"{OTHER}#")]) == 1
    assert not [r for r in SendLedgerRow.scan() if r.campaign_key.startswith(f"{SHOP}#")]
