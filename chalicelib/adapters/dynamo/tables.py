"""Every DynamoDB table, defined once as a PynamoDB model.

These classes are the single source of truth for table shapes: repositories use them, devstack and the
tests create tables from them (``create_tables``), and ``infra/`` renders them to CloudFormation
(``table_definitions``). Names carry the deployment's prefix, bound at start-up by ``bind_tables``.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.domain.sending import SENDS_IN_FLIGHT


class SmscastTable(Model):
    """Base: on-demand billing; ``base_name`` is the name without the deployment prefix."""

    base_name = ""
    sandbox_only = False  # created by devstack/tests and sandbox stages, never next to real sending

    class Meta:
        abstract = True
        billing_mode = "PAY_PER_REQUEST"
        table_name = "unbound"
        region = "us-east-1"
        # A send worker runs up to SENDS_IN_FLIGHT sends at once; those that touch DynamoDB (the sandbox provider's
        # outbox and switches, the consent guard) would otherwise queue on botocore's default pool of 10 and churn
        # connections. A pool only opens connections as they are needed.
        max_pool_connections = SENDS_IN_FLIGHT


class ShopRow(SmscastTable):
    """One shop: its settings (as JSON) and an optimistic-lock version."""

    base_name = "shops"

    class Meta(SmscastTable.Meta):
        table_name = "shops"

    shop_id = UnicodeAttribute(hash_key=True)
    settings = JSONAttribute()
    created_at = UTCDateTimeAttribute()
    version = NumberAttribute(default=0)
    uninstalled_at = UTCDateTimeAttribute(null=True)  # app/uninstalled; data kept until shop/redact
    # The operator's numbers assigned to the shop ([{number, mps, kind}]), kept here so the send path reads
    # the shop once; the sender# keys below are what makes each number belong to one shop.
    numbers = JSONAttribute(null=True)


class ShopKeyRow(SmscastTable):
    """A unique key that points at one shop: ``sender#+1...`` routes inbound SMS, ``apikey#<sha256>`` authenticates.

    Conditional puts on this table are what make a sender number or an API key belong to one shop only.
    """

    base_name = "shop-keys"

    class Meta(SmscastTable.Meta):
        table_name = "shop-keys"

    key = UnicodeAttribute(hash_key=True)
    shop_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    # sender# keys only: the number's rate and kind, so the operator's registry lists without reading shops.
    mps = NumberAttribute(null=True)
    kind = UnicodeAttribute(null=True)


class SubscriberCustomerIndex(GlobalSecondaryIndex["SubscriberRow"]):
    """Checkout subscribers by ``shop_id#customer_id`` (sparse: only rows with a Shopify customer id)."""

    class Meta:
        index_name = "by-customer"
        projection = AllProjection()

    customer_key = UnicodeAttribute(hash_key=True)


class SubscriberRow(SmscastTable):
    """A subscriber of one shop, keyed by E.164 phone."""

    base_name = "subscribers"

    class Meta(SmscastTable.Meta):
        table_name = "subscribers"

    shop_id = UnicodeAttribute(hash_key=True)
    phone = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    source = UnicodeAttribute()
    joined_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    opted_out_at = UTCDateTimeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    name_folded = UnicodeAttribute(null=True)  # the name case-folded: DynamoDB's contains() is case-sensitive
    profile_url = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)  # Shopify's customer id
    customer_key = UnicodeAttribute(null=True)  # shop_id#customer_id, the by-customer index key
    by_customer = SubscriberCustomerIndex()
    orders_count = NumberAttribute(default=0)
    last_order_at = UTCDateTimeAttribute(null=True)
    last_clicked_at = UTCDateTimeAttribute(null=True)
    unreachable_reason = UnicodeAttribute(null=True)  # a carrier's permanent failure (domain/receipts.py)
    unreachable_at = UTCDateTimeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, null=True)  # the merchant's labels (CSV imports)
    version = NumberAttribute(default=0)


class ConsentEventRow(SmscastTable):
    """Append-only consent record; ``subscriber_key`` is ``shop_id#phone``, ``event_key`` is ``<iso time>#<id>``."""

    base_name = "consent-events"

    class Meta(SmscastTable.Meta):
        table_name = "consent-events"

    subscriber_key = UnicodeAttribute(hash_key=True)
    event_key = UnicodeAttribute(range_key=True)
    action = UnicodeAttribute()
    source = UnicodeAttribute()
    text = UnicodeAttribute()
    page_url = UnicodeAttribute(null=True)  # sign-up form events: the page the form was on


class MessageRow(SmscastTable):
    """One line of a conversation; ``thread_key`` is ``shop_id#phone``, ``line_key`` is ``<iso time>#<id>``."""

    base_name = "messages"

    class Meta(SmscastTable.Meta):
        table_name = "messages"

    thread_key = UnicodeAttribute(hash_key=True)
    line_key = UnicodeAttribute(range_key=True)
    direction = UnicodeAttribute()
    body = UnicodeAttribute()
    kind = UnicodeAttribute(null=True)
    intent = UnicodeAttribute(null=True)
    media_urls = ListAttribute(of=UnicodeAttribute, null=True)
    campaign_id = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)


class DedupeRow(SmscastTable):
    """A key that may be taken once: inbound SMS ids, auto-reply claims, order ids."""

    base_name = "dedupe"

    class Meta(SmscastTable.Meta):
        table_name = "dedupe"

    key = UnicodeAttribute(hash_key=True)
    taken_at = UTCDateTimeAttribute()
    receipt = JSONAttribute(null=True)  # what is still to do after the guarded change (see SubscriberChange)
    expires_at = NumberAttribute(null=True)  # DynamoDB TTL (epoch seconds)


class CampaignRow(SmscastTable):
    """A campaign: definition and status (optimistic ``version``), planning checkpoint and ``planned``. The send
    path's counters live on its gates (CampaignGateRow); the ones here are only ever ADDed to by rows written before
    the gates existed, and are summed with the gates' on read. Campaign ids sort by creation time, so a reverse
    query is newest first."""

    base_name = "campaigns"

    class Meta(SmscastTable.Meta):
        table_name = "campaigns"

    shop_id = UnicodeAttribute(hash_key=True)
    campaign_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    message = UnicodeAttribute()
    segment_id = UnicodeAttribute()
    send_now = BooleanAttribute()
    send_at_local = UnicodeAttribute(null=True)  # naive ISO wall time in ``timezone``
    timezone = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    media_url = UnicodeAttribute(null=True)  # the merchant's https image link (MMS)
    media_s3_uri = UnicodeAttribute(null=True)  # its stored copy, what End User Messaging sends
    discount_code = UnicodeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    audience_rule = JSONAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    ended_early = BooleanAttribute(default=False)
    version = NumberAttribute(default=0)
    # planning checkpoint
    plan_page = NumberAttribute(default=0)
    plan_cursor = UnicodeAttribute(null=True)
    planning_done = BooleanAttribute(default=False)
    # counters (ADD only)
    planned = NumberAttribute(default=0)
    sent = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    done = NumberAttribute(default=0)  # sent + skipped + failed
    deferred = NumberAttribute(default=0)
    parts = NumberAttribute(default=0)  # message parts billed
    clicks = NumberAttribute(default=0)
    unique_clicks = NumberAttribute(default=0)  # recipients who clicked one of its links at least once
    orders = NumberAttribute(default=0)
    revenue = NumberAttribute(default=0)  # minor units
    currency = UnicodeAttribute(null=True)


class CampaignGateRow(SmscastTable):
    """One of a campaign's GATE_SHARDS gates (``gate_key`` is keys.gate_key): a copy of the campaign's status, which
    a send group's claim checks, and the counters its settle, defer, clicks and orders ADD to. Written with the
    campaign row in one transaction at every status change (adapters/dynamo/campaigns.py)."""

    base_name = "campaign-gates"

    class Meta(SmscastTable.Meta):
        table_name = "campaign-gates"

    gate_key = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    # counters (ADD only)
    sent = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    done = NumberAttribute(default=0)  # sent + skipped + failed: completion compares the gates' sum with planned
    deferred = NumberAttribute(default=0)
    parts = NumberAttribute(default=0)
    delivered = NumberAttribute(default=0)  # carriers' final receipts (domain/receipts.py)
    undelivered = NumberAttribute(default=0)
    clicks = NumberAttribute(default=0)
    unique_clicks = NumberAttribute(default=0)
    orders = NumberAttribute(default=0)
    revenue = NumberAttribute(default=0)  # minor units
    currency = UnicodeAttribute(null=True)


class CampaignTotalsRow(SmscastTable):
    """One of a shop's TOTALS_SHARDS totals items over all its campaigns, ADDed to in the same transaction as every
    campaign counter, so ``GET /campaigns`` reads a few items instead of every campaign (and their sum always agrees
    with them). The key attribute keeps its name ``shop_id`` (renaming it would make CloudFormation replace a named,
    retained table) but holds keys.totals_key, ``<shop>#t<shard>``; an item keyed by the bare shop id is one written
    before the totals were sharded, still read and summed."""

    base_name = "campaign-totals"

    class Meta(SmscastTable.Meta):
        table_name = "campaign-totals"

    shop_id = UnicodeAttribute(hash_key=True)
    planned = NumberAttribute(default=0)
    sent = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    deferred = NumberAttribute(default=0)
    parts = NumberAttribute(default=0)
    delivered = NumberAttribute(default=0)
    undelivered = NumberAttribute(default=0)
    clicks = NumberAttribute(default=0)
    unique_clicks = NumberAttribute(default=0)
    orders = NumberAttribute(default=0)
    revenue = NumberAttribute(default=0)  # minor units of currency
    currency = UnicodeAttribute(null=True)


class SendLedgerRow(SmscastTable):
    """One recipient of one campaign; ``campaign_key`` is ``shop_id#campaign_id#shard`` (keys.ledger_key), so a
    campaign's rows spread over many partitions. See domain/sending.py."""

    base_name = "send-ledger"

    class Meta(SmscastTable.Meta):
        table_name = "send-ledger"

    campaign_key = UnicodeAttribute(hash_key=True)
    phone = UnicodeAttribute(range_key=True)
    state = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    reason = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    # Stored under its old name: renaming the attribute would need a migration of every ledger row.
    parts = NumberAttribute(default=0, attr_name="segments")
    release_at = UTCDateTimeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    # The carrier's answer for a sent message, written once by the first final delivery receipt.
    delivery = UnicodeAttribute(null=True)
    delivery_reason = UnicodeAttribute(null=True)
    delivery_at = UTCDateTimeAttribute(null=True)


class ReleaseWaveRow(SmscastTable):
    """Recipients deferred by quiet hours to one release time; ``wave_key`` is
    ``shop_id#campaign_id#<release ISO>#<shard>`` (keys.wave_key). The ledger row, not this one, says whether
    they were sent."""

    base_name = "release-waves"

    class Meta(SmscastTable.Meta):
        table_name = "release-waves"

    wave_key = UnicodeAttribute(hash_key=True)
    phone = UnicodeAttribute(range_key=True)
    expires_at = NumberAttribute(null=True)


class ContactRow(SmscastTable):
    """The campaign messages a subscriber was claimed for lately, for the frequency cap: one item per subscriber
    (``subscriber_key`` is ``shop_id#phone``, ``sent_key`` is ``window``), rewritten by each claim on ``version``."""

    base_name = "contacts"

    class Meta(SmscastTable.Meta):
        table_name = "contacts"

    subscriber_key = UnicodeAttribute(hash_key=True)
    sent_key = UnicodeAttribute(range_key=True)
    sent = ListAttribute(of=UTCDateTimeAttribute, null=True)
    version = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)


class SegmentRow(SmscastTable):
    """A shop's custom segment: a name and a rule (see domain/segments.py)."""

    base_name = "segments"

    class Meta(SmscastTable.Meta):
        table_name = "segments"

    shop_id = UnicodeAttribute(hash_key=True)
    segment_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    rule = JSONAttribute()
    created_at = UTCDateTimeAttribute()


class PacerRow(SmscastTable):
    """A sender number's pacer (see domain/pacing.py): the last granted send instant, constant size, guarded by
    ``version``. Keyed by the number, not the shop: every shop and campaign sending from it shares its limit."""

    base_name = "pacers"

    class Meta(SmscastTable.Meta):
        table_name = "pacers"

    number = UnicodeAttribute(hash_key=True)
    last_ms = NumberAttribute(null=True)
    last_parts = NumberAttribute(default=1)
    last_sub_us = NumberAttribute(default=0)
    version = NumberAttribute(default=0)


class SenderIndex(GlobalSecondaryIndex["SandboxMessageRow"]):
    """Sandbox messages by sender, newest last."""

    class Meta:
        index_name = "by-sender"
        projection = AllProjection()

    from_number = UnicodeAttribute(hash_key=True)
    sent_key = UnicodeAttribute(range_key=True)


class SandboxMessageRow(SmscastTable):
    """What the sandbox provider 'sent': the durable outbox people and tests read."""

    base_name = "sandbox-messages"
    sandbox_only = True

    class Meta(SmscastTable.Meta):
        table_name = "sandbox-messages"

    to_number = UnicodeAttribute(hash_key=True)
    sent_key = UnicodeAttribute(range_key=True)  # <iso time>#<provider message id>
    from_number = UnicodeAttribute()
    by_sender = SenderIndex()
    body = UnicodeAttribute()
    kind = UnicodeAttribute()
    shop_id = UnicodeAttribute()
    provider_message_id = UnicodeAttribute()
    media_urls = ListAttribute(of=UnicodeAttribute, null=True)
    campaign_id = UnicodeAttribute(null=True)
    # Stored under its old name, so messages recorded before the rename still read back.
    parts = NumberAttribute(default=1, attr_name="segments")


class SandboxControlRow(SmscastTable):
    """Sandbox switches (fault injection) and its opt-out lists, one item each."""

    base_name = "sandbox-control"
    sandbox_only = True

    class Meta(SmscastTable.Meta):
        table_name = "sandbox-control"

    name = UnicodeAttribute(hash_key=True)
    data = JSONAttribute(null=True)
    counter = NumberAttribute(default=0)
    enabled = BooleanAttribute(default=True)


class ConversationStatusIndex(GlobalSecondaryIndex["ConversationRow"]):
    """A shop's conversations by ``<status>#<last activity>``: begins_with(status#) lists one status in time order."""

    class Meta:
        index_name = "by-status"
        projection = AllProjection()

    shop_id = UnicodeAttribute(hash_key=True)
    activity_key = UnicodeAttribute(range_key=True)


class ConversationRow(SmscastTable):
    """A subscriber's conversation as the Inbox lists it, guarded by ``version``. ``status`` and
    ``activity_key`` are derived from the other attributes on every write (see adapters/dynamo/inbox.py)."""

    base_name = "conversations"

    class Meta(SmscastTable.Meta):
        table_name = "conversations"

    shop_id = UnicodeAttribute(hash_key=True)
    phone = UnicodeAttribute(range_key=True)
    needs_reply = BooleanAttribute()
    opted_out = BooleanAttribute()
    last_activity_at = UTCDateTimeAttribute()
    last_inbound_at = UTCDateTimeAttribute(null=True)
    last_message = UnicodeAttribute(default="")
    last_direction = UnicodeAttribute()
    number = UnicodeAttribute(null=True)  # the shop's number the conversation is on (replies go from it)
    version = NumberAttribute(default=0)
    status = UnicodeAttribute()
    activity_key = UnicodeAttribute()  # <status>#<last_activity_at, fixed-width UTC ISO with microseconds>
    by_status = ConversationStatusIndex()


class InboxCounterRow(SmscastTable):
    """A shop's unresolved conversation count (the red dot); only ever ADDed to, in the conversation's transaction."""

    base_name = "inbox-counters"

    class Meta(SmscastTable.Meta):
        table_name = "inbox-counters"

    shop_id = UnicodeAttribute(hash_key=True)
    unresolved = NumberAttribute(default=0)


class ReplyRow(SmscastTable):
    """A one-to-one reply from the Inbox; ``thread_key`` is ``shop_id#phone``."""

    base_name = "replies"

    class Meta(SmscastTable.Meta):
        table_name = "replies"

    thread_key = UnicodeAttribute(hash_key=True)
    reply_id = UnicodeAttribute(range_key=True)
    text = UnicodeAttribute()
    state = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    send_at = UTCDateTimeAttribute(null=True)
    media_url = UnicodeAttribute(null=True)
    media_s3_uri = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    settled_at = UTCDateTimeAttribute(null=True)  # absent on rows settled before it was kept


class LinkSubscriberIndex(GlobalSecondaryIndex["LinkRow"]):
    """A subscriber's links and link slots, for data requests and erasure."""

    class Meta:
        index_name = "by-subscriber"
        projection = AllProjection()

    subscriber_key = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)


class LinkRow(SmscastTable):
    """A short link (``key`` is its code) or a recipient's link slot (``key`` is ``slot#<shop>#<owner>#<phone>#<n>``,
    ``code`` the code it got). Codes and slots share a table so a subscriber's are found and erased together."""

    base_name = "links"

    class Meta(SmscastTable.Meta):
        table_name = "links"

    key = UnicodeAttribute(hash_key=True)
    subscriber_key = UnicodeAttribute()  # shop_id#phone
    by_subscriber = LinkSubscriberIndex()
    code = UnicodeAttribute()
    shop_id = UnicodeAttribute()
    phone = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    target = UnicodeAttribute(null=True)  # links only
    campaign_id = UnicodeAttribute(null=True)
    reply_id = UnicodeAttribute(null=True)
    clicks = NumberAttribute(default=0)  # ADD only
    first_clicked_at = UTCDateTimeAttribute(null=True)  # set once, by the first click (the unique click)


class ClickRow(SmscastTable):
    """A counted click; ``subscriber_key`` is ``shop_id#phone``, ``click_key`` is ``<iso time>#<code>``, so
    attribution reads the phone's latest click before an order with one query."""

    base_name = "clicks"

    class Meta(SmscastTable.Meta):
        table_name = "clicks"

    subscriber_key = UnicodeAttribute(hash_key=True)
    click_key = UnicodeAttribute(range_key=True)
    campaign_id = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # DynamoDB TTL: clicks matter for attribution windows of days


class OrderSubscriberIndex(GlobalSecondaryIndex["OrderRow"]):
    """A subscriber's orders, for data requests and erasure (orders without a phone are not in it)."""

    class Meta:
        index_name = "by-subscriber"
        projection = AllProjection()

    subscriber_key = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(range_key=True)


class OrderRow(SmscastTable):
    """A Shopify order, stored once (the conditional put is the dedupe), with the campaign it was attributed
    to; ``cancelled_at`` is set once, and an order cancelled before it was seen is stored with only that."""

    base_name = "orders"

    class Meta(SmscastTable.Meta):
        table_name = "orders"

    shop_id = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(range_key=True)
    subscriber_key = UnicodeAttribute(null=True)  # shop_id#phone when the order has a phone
    by_subscriber = OrderSubscriberIndex()
    placed = BooleanAttribute(default=False)  # false for a cancellation that arrived first
    at = UTCDateTimeAttribute(null=True)
    total = NumberAttribute(default=0)  # minor units of currency
    currency = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    discount_codes = ListAttribute(of=UnicodeAttribute, null=True)
    campaign_id = UnicodeAttribute(null=True)
    attributed_by = UnicodeAttribute(null=True)
    counted_for_subscriber = BooleanAttribute(default=False)  # its phone's orders_count was moved by it
    cancelled_at = UTCDateTimeAttribute(null=True)


class IdempotencyRow(SmscastTable):
    """An ``Idempotency-Key`` taken by a request; ``key`` is ``shop_id#route#key``. ``status`` and ``body`` are
    set when the request finished (absent while in progress). See services/idempotency.py."""

    base_name = "idempotency"

    class Meta(SmscastTable.Meta):
        table_name = "idempotency"

    key = UnicodeAttribute(hash_key=True)
    fingerprint = UnicodeAttribute()
    status = NumberAttribute(null=True)
    body = JSONAttribute(null=True)
    lease_until = NumberAttribute()  # epoch seconds: an unfinished request older than this was abandoned
    expires_at = NumberAttribute()  # DynamoDB TTL (epoch seconds); also checked on read, TTL deletes late


class RateLimitRow(SmscastTable):
    """One request counter of one fixed window (the sign-up form's limits; domain/signup_form.py): ``key`` is
    ``signup#<shop>#<ip|phone|shop>#<hash>#<window start>``, so the IP address or phone is never stored. Only ever
    ADDed to under a condition, and deleted by TTL after its window."""

    base_name = "rate-limits"

    class Meta(SmscastTable.Meta):
        table_name = "rate-limits"

    key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # DynamoDB TTL (epoch seconds): an hour after the window ends


class PrivacyExportRow(SmscastTable):
    """The answer to one customers/data_request (see services/privacy.py); ``phone`` lets a redaction find it."""

    base_name = "privacy-exports"

    class Meta(SmscastTable.Meta):
        table_name = "privacy-exports"

    shop_id = UnicodeAttribute(hash_key=True)
    export_id = UnicodeAttribute(range_key=True)
    phone = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    data = JSONAttribute()


class ListJobRow(SmscastTable):
    """A CSV import or export of a shop's list (domain/list_jobs.py); ``job_id`` sorts by creation time, and
    the job's fields live in ``data`` (written whole, on ``version``)."""

    base_name = "list-jobs"

    class Meta(SmscastTable.Meta):
        table_name = "list-jobs"

    shop_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    data = JSONAttribute()
    version = NumberAttribute()
    expires_at = NumberAttribute()  # DynamoDB TTL: the record outlives its files (a day) by a month


ALL_TABLES: tuple[type[SmscastTable], ...] = (
    ShopRow,
    ShopKeyRow,
    SubscriberRow,
    ConsentEventRow,
    MessageRow,
    DedupeRow,
    CampaignRow,
    CampaignGateRow,
    CampaignTotalsRow,
    SendLedgerRow,
    ReleaseWaveRow,
    ContactRow,
    SegmentRow,
    PacerRow,
    SandboxMessageRow,
    SandboxControlRow,
    ConversationRow,
    InboxCounterRow,
    ReplyRow,
    IdempotencyRow,
    PrivacyExportRow,
    RateLimitRow,
    LinkRow,
    ClickRow,
    OrderRow,
    ListJobRow,
)


def bind_tables(prefix: str, region: str, host: str | None = None) -> None:
    """Point every model at ``<prefix>-<base_name>`` in ``region`` (and ``host``, for a local endpoint)."""
    for model in ALL_TABLES:
        name = f"{prefix}-{model.base_name}"
        meta = model.Meta
        if (meta.table_name, meta.region, getattr(meta, "host", None)) == (name, region, host):
            continue  # unchanged: keep the cached connection (building a botocore client is slow)
        meta.table_name = name
        meta.region = region
        meta.host = host  # type: ignore[attr-defined]
        model._connection = None  # PynamoDB caches the connection with the old name


def create_tables(*, include_sandbox: bool = True) -> None:
    """Create every (bound) table that does not exist yet; used by devstack and tests."""
    for model in ALL_TABLES:
        if model.sandbox_only and not include_sandbox:
            continue
        if not model.exists():
            model.create_table(wait=True)


def table_definitions(*, include_sandbox: bool = False) -> dict[str, dict[str, Any]]:
    """CloudFormation ``AWS::DynamoDB::Table`` resources rendered from the models (infra/ uses this)."""
    resources: dict[str, dict[str, Any]] = {}
    for model in ALL_TABLES:
        if model.sandbox_only and not include_sandbox:
            continue
        schema = model._get_schema()
        logical_id = "".join(part.capitalize() for part in model.base_name.split("-")) + "Table"
        props: dict[str, Any] = {
            "TableName": {"Fn::Sub": "${ResourcePrefix}-" + model.base_name},
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
            # HASH before RANGE, as CloudFormation requires
            "KeySchema": sorted(schema["key_schema"], key=lambda k: k["KeyType"]),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        }
        gsis = schema.get("global_secondary_indexes") or []
        if gsis:
            props["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": g["index_name"],
                    "KeySchema": sorted(g["key_schema"], key=lambda k: k["KeyType"]),
                    "Projection": {"ProjectionType": g["projection"]["ProjectionType"]},
                }
                for g in gsis
            ]
        if "expires_at" in model.get_attributes():
            props["TimeToLiveSpecification"] = {"AttributeName": "expires_at", "Enabled": True}
        resources[logical_id] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": props,
        }
    return resources
