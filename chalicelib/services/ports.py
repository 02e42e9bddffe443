"""The ports use cases talk to. Adapters implement them; tests use in-memory fakes (tests/fakes.py)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Generic, Protocol, TypeVar

from chalicelib.domain.attribution import Attribution
from chalicelib.domain.campaigns import Campaign, CampaignStats, PagePlan
from chalicelib.domain.inbox import Conversation, ConversationStatus, Reply
from chalicelib.domain.jobs import Job
from chalicelib.domain.links import DEFAULT_LINK_BASE, Click, Link
from chalicelib.domain.list_jobs import JobKind, ListJob
from chalicelib.domain.media import StoredMedia
from chalicelib.domain.messages import ConversationMessage, OutboundSms, SendReceipt
from chalicelib.domain.orders import Order
from chalicelib.domain.pacing import Slots
from chalicelib.domain.privacy import PrivacyExport
from chalicelib.domain.receipts import DeliveryReceipt
from chalicelib.domain.segments import Segment
from chalicelib.domain.sending import (
    Claim,
    ContactWindow,
    Deferral,
    DeliveryRecord,
    GroupClaim,
    LedgerEntry,
    Release,
    SendBatch,
    Settlement,
)
from chalicelib.domain.shopify import Webhook
from chalicelib.domain.shops import SenderNumber, Shop, ShopSettings
from chalicelib.domain.signup_form import SignupLimits
from chalicelib.domain.subscribers import ConsentEvent, Source, Subscriber, SubscriberSearch, SubscriberStatus

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``cursor`` is opaque and None on the last page."""

    items: Sequence[T]
    cursor: str | None = None


class Clock(Protocol):
    """The only way code learns the time, so tests and devstack can move it."""

    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...


class ShopRepository(Protocol):
    """Shops, their settings, their API keys and the sender numbers that route inbound SMS to them."""

    def get(self, shop_id: str) -> Shop:
        """The shop, or NotFound."""
        ...

    def create(self, shop: Shop, api_key_hash: str | None) -> Shop:
        """Store a new shop without numbers (Conflict if it exists or its API key is taken)."""
        ...

    def save_settings(self, shop: Shop, settings: ShopSettings) -> Shop:
        """Replace settings if ``shop.version`` is still current (else ConcurrentUpdate). Assigning and
        unassigning numbers move the version too, so ``shop.numbers`` is what is stored when this succeeds."""
        ...

    def assign_number(self, shop_id: str, sender: SenderNumber) -> Shop:
        """The operator's assignment: ``sender`` joins the shop's pool and routes inbound SMS to it, at once;
        Conflict ``sender_number_taken`` when another shop has it; ConcurrentUpdate when the shop changed."""
        ...

    def unassign_number(self, number: str) -> Shop | None:
        """Take the number out of its shop's pool and routing, at once; the shop after (None: nobody had it)."""
        ...

    def assigned_numbers(self) -> list[tuple[SenderNumber, str]]:
        """Every assigned number of the deployment and the shop it belongs to (the operator's registry)."""
        ...

    def shop_for_sender(self, number: str) -> Shop | None:
        """The shop whose pool holds this number, for routing inbound SMS."""
        ...

    def shop_for_api_key(self, api_key_hash: str) -> str | None:
        """The shop id an API key hash belongs to."""
        ...

    def mark_uninstalled(self, shop_id: str, at: datetime) -> Shop:
        """Record that the app was uninstalled (the first time wins); NotFound for an unknown shop."""
        ...


@dataclass(frozen=True)
class SubscriberChange:
    """Everything one consent-relevant action writes, committed all-or-nothing.

    ``expected_version`` None means the subscriber must not exist yet; otherwise the stored version must
    equal it (optimistic locking), and the new version is one more. ``dedupe_key`` makes the whole change
    happen at most once (an inbound SMS id); a second commit with the same key raises AlreadyDone.
    """

    subscriber: Subscriber | None = None
    expected_version: int | None = None
    event: ConsentEvent | None = None
    message: ConversationMessage | None = None
    dedupe_key: str | None = None
    receipt: dict[str, str] | None = None  # stored with the dedupe key: what is still to do afterwards


class AlreadyDone(Exception):
    """The change carries a dedupe key that was committed before."""


class SubscriberStore(Protocol):
    """Subscribers, their consent history, and the conversation lines that change them."""

    def get(self, shop_id: str, phone: str) -> Subscriber | None:
        """One subscriber or None."""
        ...

    def page(
        self,
        shop_id: str,
        *,
        status: SubscriberStatus | None = None,
        source: Source | None = None,
        search: SubscriberSearch | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Subscriber]:
        """Subscribers ordered by phone, filtered by status, source and a search; a bad cursor is InvalidInput."""
        ...

    def get_many(self, shop_id: str, phones: Sequence[str]) -> dict[str, Subscriber]:
        """The subscribers that exist among ``phones`` (one batched read)."""
        ...

    def consent_history(self, shop_id: str, phone: str) -> list[ConsentEvent]:
        """Every consent event for the number, oldest first."""
        ...

    def apply(self, change: SubscriberChange) -> Subscriber | None:
        """Commit ``change`` atomically and return the stored subscriber (with its new version).

        A change that leaves the number anything but active moves its contact window to a new version in the same
        commit (``ContactHistory``): campaign groups that read the window before cannot claim the number any more,
        which is how the send path honours a STOP that lands while its batch is in flight."""
        ...

    def receipt(self, dedupe_key: str) -> dict[str, str] | None:
        """The receipt stored with a committed dedupe key ({} if it had none); None if never committed."""
        ...

    def by_customer_id(self, shop_id: str, customer_id: str) -> Subscriber | None:
        """The subscriber with this Shopify customer id, or None."""
        ...


class Conversations(Protocol):
    """The per-subscriber thread of messages."""

    def append(self, message: ConversationMessage) -> None:
        """Add a line to the thread (idempotent on message_id)."""
        ...

    def thread(self, shop_id: str, phone: str, *, limit: int = 100, cursor: str | None = None) -> Page[ConversationMessage]:
        """The thread, oldest first."""
        ...


class RateLimiter(Protocol):
    """Request counters of fixed windows (the sign-up form's limits per IP, phone and shop)."""

    def take(self, key: str, limit: int, expires_at: datetime) -> bool:
        """Count one request on ``key`` if it has counted fewer than ``limit``; False, counting nothing, when it has
        its limit. Atomic: callers racing on one key never count past ``limit``. The counter may be forgotten after
        ``expires_at`` (its window's end)."""
        ...


class Claims(Protocol):
    """A ledger of one-time actions: claiming a key succeeds once, ever."""

    def claim(self, key: str, at: datetime) -> bool:
        """True if this call took the key, False if someone took it before."""
        ...

    def release(self, key: str) -> None:
        """Give a key back after the action it guarded definitely did not happen (e.g. throttled)."""
        ...

    def taken(self, key: str) -> bool:
        """True if someone claimed the key (a strongly consistent read; claims made after it are not seen)."""
        ...


class SmsProvider(Protocol):
    """Sends SMS/MMS and keeps the carrier-side opt-out list in step with ours."""

    def send(self, sms: OutboundSms) -> SendReceipt:
        """Send one message; ProviderThrottled (retry later), ProviderRejected, or ConsentRequired."""
        ...

    def add_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """Put the number on the opt-out list of every one of the shop's ``sender_numbers``, so the provider
        refuses it whichever pool number a send comes from (a provider with one list per deployment makes one
        call)."""
        ...

    def remove_opt_out(self, sender_numbers: Sequence[str], phone: str) -> None:
        """Take the number off those opt-out lists after START."""
        ...

    def number_kind(self, number: str) -> str | None:
        """The kind of origination number ``number`` is in the provider's account (TOLL_FREE, SHORT_CODE ...),
        or None when the account has no such number: the operator's check before assigning it."""
        ...


# --- Campaign engine -------------------------------------------------------------------------------------


class CampaignRepository(Protocol):
    """Campaigns and their counters. Definition/status writes are optimistic (version); counters and the
    planning checkpoint are separate atomic updates, so workers never fight the merchant's edits."""

    def create(self, campaign: Campaign) -> Campaign:
        """Store a new campaign (version 1)."""
        ...

    def get(self, shop_id: str, campaign_id: str) -> Campaign:
        """The campaign with current stats, or NotFound (code campaign_not_found)."""
        ...

    def page(self, shop_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[Campaign]:
        """The shop's campaigns, newest first."""
        ...

    def all(self, shop_id: str) -> Iterator[Campaign]:
        """Every campaign of the shop, newest first."""
        ...

    def totals(self, shop_id: str) -> CampaignStats:
        """The shop's totals over every campaign, kept as an aggregate moved with each campaign counter."""
        ...

    def by_discount_code(self, shop_id: str, codes: Sequence[str]) -> dict[str, str]:
        """Upper-cased discount code -> the newest campaign of the shop carrying it, for those of ``codes`` in use."""
        ...

    def save(self, campaign: Campaign) -> Campaign:
        """Write definition and status if the stored version equals ``campaign.version`` (else
        ConcurrentUpdate); returns it with version + 1. Stats and planning fields are not written."""
        ...

    def delete(self, campaign: Campaign) -> None:
        """Delete if the stored version equals ``campaign.version`` (else ConcurrentUpdate)."""
        ...

    def checkpoint_plan(self, shop_id: str, campaign_id: str, *, page: int, next_cursor: str | None, planned: int) -> bool:
        """Record that planning page ``page`` is done: plan_page page -> page + 1, plan_cursor, planned += n,
        planning_done when next_cursor is None. False (and nothing written) if plan_page was not ``page``."""
        ...

    def complete_if_done(self, shop_id: str, campaign_id: str, at: datetime) -> bool:
        """In Progress -> Completed when planning is done and every planned recipient has an outcome."""
        ...

    def keep_page_plan(self, shop_id: str, campaign_id: str, plan: PagePlan, at: datetime) -> PagePlan:
        """Keep ``plan`` unless a plan for its page is kept already; the kept one either way (first read wins)."""
        ...


class ClaimResult(str, Enum):
    """What claiming a recipient in the send ledger found."""

    CLAIMED = "claimed"  # ours: send now
    TAKEN = "taken"  # already claimed or finished by someone
    CAMPAIGN_NOT_RUNNING = "campaign_not_running"  # ended (or not started): send nothing more
    NOT_SUBSCRIBED = "not_subscribed"  # the subscriber is not active at this instant


class SendLedger(Protocol):
    """One row per campaign recipient, moved a group at a time: the claim that precedes every send, and the
    outcome after it (see adapters/dynamo/ledger.py for the conditions each step carries)."""

    def get_many(self, shop_id: str, campaign_id: str, phones: Sequence[str]) -> dict[str, LedgerEntry]:
        """Existing rows for these phones."""
        ...

    def claim(self, shop_id: str, campaign_id: str, claims: Sequence[Claim], at: datetime) -> GroupClaim:
        """Atomically per recipient, with the campaign still In Progress: the row is still where the worker saw
        it (absent or deferred) and the contact window unchanged -> claimed, and the window gains this message.
        This is what makes End Campaign and the frequency cap hold against in-flight workers (consent is read
        by the caller just before). Recipients whose condition failed are refused with the reason; the rest are
        claimed."""
        ...

    def settle(
        self, shop_id: str, campaign_id: str, settlements: Sequence[Settlement], *, released: Sequence[Release] = ()
    ) -> frozenset[str]:
        """Move each row from its ``previous`` state to its outcome, add the group to the campaign's counters
        and write sent messages' thread lines, all at once; claimed rows in ``released`` go back to absent and
        their contact windows lose the unsent message (unless another claim changed them since). Returns the
        phones recorded by this call: a row someone else settled is not counted twice."""
        ...

    def defer(self, shop_id: str, campaign_id: str, deferrals: Sequence[Deferral], at: datetime) -> int:
        """Absent or deferred -> deferred until each release time, listed in that release wave; returns how
        many were deferred for the first time (the campaign's deferred counter grows once per recipient)."""
        ...

    def wave(self, shop_id: str, campaign_id: str, release_at: datetime, *, limit: int, cursor: str | None) -> Page[str]:
        """Phones waiting in one release wave."""
        ...

    def record_deliveries(self, shop_id: str, campaign_id: str, receipts: Sequence[DeliveryReceipt]) -> DeliveryRecord:
        """Record final delivery receipts on the sent rows holding their message ids, each at most once (the first
        final receipt of a message wins), and add them to the campaign's and the shop's Delivered / Undelivered
        counters in the same step."""
        ...


class ContactHistory(Protocol):
    """The campaign messages each subscriber was claimed for lately, for the frequency cap."""

    def windows(self, shop_id: str, phones: Sequence[str]) -> dict[str, ContactWindow]:
        """Each phone's window (empty for a phone never messaged), in one read."""
        ...


class Pacer(Protocol):
    """Shared pacing of a sender number across every worker, shop and campaign using it (domain/pacing.py)."""

    def grant(self, number: str, limit: int, parts: Sequence[int]) -> Slots:
        """Send instants for a prefix of messages of ``parts`` parts each, evenly spaced under ``limit`` parts a
        second at ``number``; none and a ``retry_after`` when the number is booked too far ahead.

        Each instant is granted once: send on it (sleeping until it, never later than ``on_time`` allows) or
        drop it, and ask again for the messages left over."""
        ...


class SegmentRepository(Protocol):
    """A shop's custom segments (built-ins live in the domain)."""

    def create(self, segment: Segment) -> Segment:
        """Store a new custom segment."""
        ...

    def get(self, shop_id: str, segment_id: str) -> Segment:
        """The segment or NotFound (code segment_not_found)."""
        ...

    def list(self, shop_id: str) -> list[Segment]:
        """The shop's custom segments, oldest first."""
        ...


class Schedules(Protocol):
    """One-time schedules that put a job on the job queue when they fire (EventBridge Scheduler)."""

    def at(self, name: str, when: datetime, timezone: str, job: Job, *, move: bool = True) -> None:
        """Create or move the schedule ``name`` to the naive wall time ``when`` in ``timezone``; it deletes
        itself after firing. ``move=False``: leave an existing schedule alone (a quiet-hours wave's name
        already fixes its time, so the second batch to need it saves the update call)."""
        ...

    def cancel(self, name: str) -> None:
        """Delete the schedule; a missing one is fine."""
        ...


class JobQueue(Protocol):
    """The engine's queues: campaign jobs (start, plan, release) and recipient send batches."""

    def enqueue(self, job: Job, *, delay_seconds: int = 0) -> None:
        """Put one job on the campaign-jobs queue."""
        ...

    def enqueue_sends(self, batches: Sequence[SendBatch], *, delay_seconds: int = 0) -> None:
        """Put send batches on the sends queue (ten per API call)."""
        ...


# --- Inbox ----------------------------------------------------------------------------------------------


class InboxRepository(Protocol):
    """Conversations as the Inbox lists them, and the shop's unresolved count (the red dot)."""

    def get(self, shop_id: str, phone: str) -> Conversation | None:
        """One conversation or None."""
        ...

    def save(self, conversation: Conversation, *, previous: Conversation | None) -> Conversation:
        """Write ``conversation`` if the stored one is still ``previous`` (None: none stored yet; else same
        version), and in the same transaction move the shop's unresolved count by the difference. So the count
        is exact under any concurrency: every change to it rides on a version-checked write. Raises
        ConcurrentUpdate when someone else wrote first; returns the stored conversation (version + 1)."""
        ...

    def page(self, shop_id: str, status: ConversationStatus, *, limit: int = 50, cursor: str | None = None) -> Page[Conversation]:
        """Conversations in ``status``, most recent activity first."""
        ...

    def unresolved_count(self, shop_id: str) -> int:
        """How many conversations are unresolved."""
        ...


class ReplyRepository(Protocol):
    """One-to-one replies, including those waiting for quiet hours to end."""

    def create(self, reply: Reply) -> Reply:
        """Store a new reply (Conflict if the id exists)."""
        ...

    def get(self, shop_id: str, phone: str, reply_id: str) -> Reply | None:
        """One reply or None."""
        ...

    def pending(self, shop_id: str, phone: str) -> list[Reply]:
        """Scheduled replies not yet sent or cancelled, oldest first."""
        ...

    def settle(self, reply: Reply) -> bool:
        """Move a SCHEDULED reply to ``reply.state`` (sent / cancelled / failed, with reason and provider id);
        False if it was no longer scheduled (someone settled it first)."""
        ...


# --- Media -----------------------------------------------------------------------------------------------


class MediaLibrary(Protocol):
    """Images for MMS: End User Messaging sends media only from the deployment's S3 bucket (s3://bucket/key)."""

    def import_image(self, shop_id: str, url: str) -> StoredMedia:
        """Download a merchant's https image and store it for sending; the same image is stored once.
        InvalidInput with code invalid_media_url (https, public host, port 443, no credentials),
        media_too_large (over 2 MB), unsupported_media_type (not GIF/JPEG/PNG by its bytes) or
        media_unreachable (download failed)."""
        ...


# --- Exports ----------------------------------------------------------------------------------------------


class ExportFiles(Protocol):
    """Files a merchant downloads (the subscriber list as CSV): written as a stream, fetched by a link that expires."""

    def store(self, shop_id: str, name: str, chunks: Iterable[bytes], *, content_type: str) -> None:
        """Write the file from ``chunks``, consuming them one at a time (never the whole file in memory);
        the same name again replaces it. TransientError when the store did not take it."""
        ...

    def link(self, shop_id: str, name: str, *, expires_in: int) -> str:
        """A download link to the stored file, valid for ``expires_in`` seconds."""
        ...


@dataclass(frozen=True)
class UploadForm:
    """A presigned browser upload (S3 POST): the form's URL and fields; the file goes in the field ``file``."""

    url: str
    fields: dict[str, str]
    max_bytes: int
    content_type: str


class ImportFiles(Protocol):
    """Files merchants upload for import, and the parts of their reports, beside the exports."""

    def upload_form(self, shop_id: str, name: str, *, max_bytes: int, content_type: str, expires_in: int) -> UploadForm:
        """A form the browser posts the file with; the store refuses a file over ``max_bytes``."""
        ...

    def size(self, shop_id: str, name: str) -> int | None:
        """The uploaded file's size in bytes, or None when nothing was uploaded."""
        ...

    def read(self, shop_id: str, name: str, *, start: int = 0) -> Generator[bytes, None, None]:
        """The file from byte ``start`` as a stream of chunks (never the whole file in memory)."""
        ...

    def put(self, shop_id: str, name: str, data: bytes, *, content_type: str) -> None:
        """Write a small file whole (a report part)."""
        ...

    def erase_shop(self, shop_id: str) -> int:
        """Delete every import and export file of the shop (shop/redact); how many."""
        ...


class ListJobStore(Protocol):
    """Import and export jobs of a shop's list, with their progress."""

    def create(self, job: ListJob) -> ListJob:
        """Store a new job (version 1)."""
        ...

    def get(self, shop_id: str, job_id: str) -> ListJob | None:
        """One job of the shop, or None (strongly consistent)."""
        ...

    def save(self, job: ListJob) -> ListJob:
        """Write ``job`` if the stored one is still at ``job.version``; ConcurrentUpdate otherwise."""
        ...

    def recent(self, shop_id: str, kind: JobKind, *, limit: int = 20) -> list[ListJob]:
        """The shop's latest jobs of a kind, newest first."""
        ...

    def erase_shop(self, shop_id: str) -> int:
        """Delete the shop's job records (shop/redact)."""
        ...


class ListJobQueue(Protocol):
    """The list-jobs queue: imports and exports, apart from the campaign jobs so they never delay a start."""

    def enqueue(self, shop_id: str, job_id: str, *, delay_seconds: int = 0) -> None:
        """Ask a worker to run (or resume) the job."""
        ...


# --- Shopify and privacy ----------------------------------------------------------------------------------


class WebhookQueue(Protocol):
    """Verified webhooks waiting for the webhook worker (SQS)."""

    def put(self, webhook: Webhook) -> None:
        """Queue one webhook; TransientError when the queue did not take it."""
        ...


class PersonalData(Protocol):
    """A store that holds data about one person (one phone in one shop)."""

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """Everything this store keeps about the person, JSON-ready."""
        ...

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete everything this store keeps about the person; how many items were deleted."""
        ...


class Suppressions(Protocol):
    """Hashed numbers of redacted people: never added, imported or texted again, without keeping the number."""

    def add(self, shop_id: str, phone: str, at: datetime) -> None:
        """Suppress the number for the shop (idempotent)."""
        ...

    def contains(self, shop_id: str, phone: str) -> bool:
        """True when the number was suppressed for the shop."""
        ...

    def suppressed(self, shop_id: str, phones: Sequence[str]) -> set[str]:
        """Which of ``phones`` were suppressed for the shop (batched reads: a CSV import asks per 100 rows)."""
        ...


class PrivacyExports(Protocol):
    """Answers to customers/data_request, kept for the merchant to hand to the customer."""

    def save(self, export: PrivacyExport) -> None:
        """Store the export (the same id again replaces it)."""
        ...

    def get(self, shop_id: str, export_id: str) -> PrivacyExport | None:
        """One export, or None."""
        ...


class ShopData(Protocol):
    """Everything stored for a shop, for shop/redact."""

    def erase_shop(self, shop_id: str) -> int:
        """Delete every item of the shop in every table; how many items were deleted."""


# --- Tracked links -----------------------------------------------------------------------------------------


class LinkStore(Protocol):
    """Short links, the per-recipient slots that make them once, and the clicks on them."""

    def get(self, code: str) -> Link | None:
        """The link with this code, or None."""
        ...

    def slots(self, slots: Sequence[str]) -> dict[str, str]:
        """The codes these recipients' link slots (``shop#campaign-or-reply#phone#n``) hold; empty ones left out."""
        ...

    def create(self, links: Sequence[tuple[str, Link]]) -> dict[str, str]:
        """Store each (slot, link) only if both are new: a taken code is never overwritten (that link is left
        out, to be tried again with another code) and a slot keeps the first code it was given. Returns slot ->
        the code it holds now, for every slot written or found taken."""
        ...

    def record_click(self, link: Link, at: datetime) -> bool:
        """Count a click atomically: the link's and its campaign's clicks (and unique clicks on the link's first
        click), a click record for attribution, the subscriber's last_clicked_at. True for a first click."""
        ...

    def latest_click(self, shop_id: str, phone: str, since: datetime, until: datetime) -> Click | None:
        """The latest click on a campaign link by the phone with since <= at <= until."""
        ...


class OrderOutcome(str, Enum):
    """What recording an order event did."""

    COUNTED = "counted"  # stored and added to its campaign (or stored unattributed)
    DUPLICATE = "duplicate"  # seen before (a redelivery, or cancelled before it was placed): nothing counted
    CANCELLED = "cancelled"  # taken out of its campaign's Orders and Revenue
    ALREADY_CANCELLED = "already_cancelled"  # nothing to take out a second time


@dataclass(frozen=True)
class StoredOrder:
    """An order as stored: the order, the campaign it was attributed to, and whether it was cancelled."""

    order: Order
    attribution: Attribution | None
    cancelled: bool = False


class OrderStore(Protocol):
    """Orders, each counted once, with the campaign counters and subscriber facts they move."""

    def get(self, shop_id: str, order_id: str) -> StoredOrder | None:
        """The stored order, or None."""
        ...

    def record(self, order: Order, attribution: Attribution | None) -> OrderOutcome:
        """Store the order once (dedupe on shop + order id) and, in the same transaction, add it to its
        campaign's Orders and Revenue and to the subscriber's orders_count and last_order_at."""
        ...

    def cancel(self, shop_id: str, order_id: str, at: datetime) -> OrderOutcome:
        """Mark the order cancelled once and take it out of its campaign's Orders and Revenue (and the
        subscriber's orders_count) in the same transaction; an order not seen yet is stored cancelled, so a
        late orders/create never counts it."""
        ...


# Waiting goes through a port too, so tests with a virtual clock wait instantly and exactly.
Sleeper = Callable[[float], None]


def thread_pool(workers: int) -> Executor:
    """Threads for a worker's concurrent sends (``Ports.send_pool``)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send")


@dataclass
class Ports:
    """What the use cases need, bundled; built by the composition root or by tests with fakes."""

    clock: Clock
    shops: ShopRepository
    subscribers: SubscriberStore
    conversations: Conversations
    claims: Claims
    sms: SmsProvider
    campaigns: CampaignRepository
    ledger: SendLedger
    contacts: ContactHistory
    pacer: Pacer
    segments: SegmentRepository
    schedules: Schedules
    jobs: JobQueue
    sleep: Sleeper
    media: MediaLibrary
    inbox: InboxRepository
    replies: ReplyRepository
    links: LinkStore
    orders: OrderStore
    webhooks: WebhookQueue
    suppressions: Suppressions
    exports: PrivacyExports
    shop_data: ShopData
    export_files: ExportFiles
    rate_limits: RateLimiter
    import_files: ImportFiles
    list_jobs: ListJobStore
    list_job_queue: ListJobQueue
    # Every store holding data about a person: customers/data_request and customers/redact walk this list.
    personal_data: list[PersonalData] = field(default_factory=list)
    allow_fictional_numbers: bool = False
    link_base: str = DEFAULT_LINK_BASE  # where short links point: the deployment's link domain
    # Campaign messages in flight at once, each started at its own slot: one provider call takes tens of
    # milliseconds, far longer than the gap between slots at a short code's rate, and a worker has
    # up to MAX_GROUPS_IN_FLIGHT groups sending. Tests keep 1 (sent one after another on the calling thread).
    concurrent_sends: int = 1
    # Where those concurrent sends run (tests run them on virtual time): called with ``concurrent_sends``.
    send_pool: Callable[[int], Executor] = field(default=thread_pool)
    # What the storefront sign-up form allows per IP, phone and shop in a window (the operator's, not a shop's).
    signup_limits: SignupLimits = field(default_factory=SignupLimits)
