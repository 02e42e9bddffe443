"""The send ledger's vocabulary: one row per campaign recipient, claimed before the provider is called.

absent -> claimed -> sent | failed        (the normal path; the claim precedes the send)
absent -> deferred -> claimed -> ...       (quiet hours: waits durably for its release wave)
absent | deferred -> skipped               (not eligible at send time: opted out, capped, ...)
claimed -> absent | deferred               (only when the provider definitely did not send: throttled)
A claimed row found by a later delivery means a worker died mid-send: it becomes failed
("interrupted"), never sent again, so a recipient gets at most one message per campaign.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from chalicelib.domain.messages import ConversationMessage
from chalicelib.domain.receipts import Delivery

# A group's claim is a lease: its worker starts no send after ``claimed_at + SEND_LEASE``, and End Campaign
# returns only after waiting this long, so once End returns no send of the campaign can start. It covers the
# pacer's first-slot wait and horizon (about a second each) plus the claim's own latency.
SEND_LEASE = timedelta(seconds=3)
# The most recipients one claim (and one outcome) transaction covers: DynamoDB takes 100 items per
# TransactWriteItems; a claim writes two per recipient (ledger row, contact window) plus the campaign's status
# check, an outcome two (ledger row, thread line) plus the campaign's and the shop's counters.
GROUP_SIZE = 49
# Groups one worker holds claimed and unsettled at once: the one sending, and the next ones, claimed while the
# earlier ones' last slots are still ahead (at the pacer's rebook instant) so that a worker alone on a number keeps
# it busy instead of idling while a group's last sends return and settle. A fast number needs more of them: its
# groups go out in tens of milliseconds, but each stays unsettled until its slowest answer is back (up to about
# 150 ms), so a worker holds what the number grants in IN_FLIGHT_SECONDS (``groups_in_flight``). A crash costs at
# most that many groups as "interrupted": two at 100 MPS, six at 1,000 MPS, always under a second of grants.
MIN_GROUPS_IN_FLIGHT = 2
MAX_GROUPS_IN_FLIGHT = 8
IN_FLIGHT_SECONDS = 0.25
SENDS_IN_FLIGHT = MAX_GROUPS_IN_FLIGHT * GROUP_SIZE  # the most sends one worker may have started and unanswered


def groups_in_flight(mps: int) -> int:
    """How many groups a worker sending from a number of ``mps`` may hold claimed and unsettled at once."""
    wanted = -(-int(mps * IN_FLIGHT_SECONDS * 1000) // (GROUP_SIZE * 1000))
    return max(MIN_GROUPS_IN_FLIGHT, min(MAX_GROUPS_IN_FLIGHT, wanted))


def next_group_size(queued: int, unsettled: int, mps: int, full: int = GROUP_SIZE) -> int:
    """How many of ``queued`` recipients to ask the pacer for next, with ``unsettled`` claimed and not settled yet
    and ``full`` the most one grant on this number has given (GROUP_SIZE before any); 0: settle the earliest group
    first.

    The bound is in recipients, ``groups_in_flight`` full groups, not a count of groups: a short group (a batch's
    tail, messages given back for a missed slot) must not hold a whole group's room, or the next full group waits
    for a settle and the number idles. A group is asked for short to fit, but never under half a full group
    unless that is all there is, so a blip costs one extra claim, not a run of small ones."""
    room = groups_in_flight(mps) * full - unsettled
    whole = min(GROUP_SIZE, queued)
    size = min(whole, room)
    return size if size > 0 and (size == whole or size >= full // 2) else 0


# Campaign messages remembered per subscriber for the frequency cap: longer than any cap a merchant can set.
CONTACT_MEMORY = timedelta(days=100)


class SendState(str, Enum):
    """Where one recipient of one campaign stands."""

    DEFERRED = "deferred"
    CLAIMED = "claimed"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (SendState.SENT, SendState.SKIPPED, SendState.FAILED)


class SkipReason(str, Enum):
    """Why an eligible-at-plan recipient was not sent to."""

    NOT_SUBSCRIBED = "not_subscribed"  # opted out (or gone) between planning and sending
    FREQUENCY_CAP = "frequency_cap"
    CARRIER_OPT_OUT = "carrier_opt_out"  # the provider's opt-out list refused the number
    NO_SENDER = "no_sender_number"
    UNREACHABLE = "unreachable"  # a carrier reported the number cannot receive texts (domain/receipts.py)


class FailReason(str, Enum):
    """Why a send failed for good."""

    REJECTED = "rejected"  # the provider refused this message or number
    THROTTLED = "throttled"  # still throttled after every retry
    INTERRUPTED = "interrupted"  # a worker died between claim and record: outcome unknown, not resent
    ERROR = "error"


@dataclass(frozen=True)
class LedgerEntry:
    """One recipient's row in a campaign's send ledger."""

    shop_id: str
    campaign_id: str
    phone: str
    state: SendState
    at: datetime
    reason: str | None = None
    provider_message_id: str | None = None
    parts: int = 0
    release_at: datetime | None = None
    attempts: int = 0
    # What the carrier reported for a sent message (first final receipt wins; domain/receipts.py).
    delivery: Delivery | None = None
    delivery_reason: str | None = None
    delivery_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    """What recording a set of delivery receipts did, by provider message id; ids in none of these sets had
    their outcome recorded before (a duplicate or a later final event), and count nothing again."""

    recorded: frozenset[str] = frozenset()
    # The row is still claimed: the carrier answered before the worker settled the group. Try again later.
    not_settled: frozenset[str] = frozenset()
    # No row of the campaign holds the id (a message the ledger does not know, or a stale event): ignored.
    unknown: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ContactWindow:
    """The campaign messages a subscriber was claimed for lately (the frequency cap counts them), versioned so
    two campaigns claiming the same subscriber at once cannot both squeeze under the cap."""

    sent: tuple[datetime, ...] = ()
    version: int = 0

    def count_since(self, since: datetime) -> int:
        """Messages at or after ``since``."""
        return sum(1 for at in self.sent if at >= since)

    def with_send(self, at: datetime) -> ContactWindow:
        """This window after one more message at ``at``, forgetting what is older than CONTACT_MEMORY."""
        kept = tuple(sorted((t for t in (*self.sent, at) if t >= at - CONTACT_MEMORY), reverse=True))
        return ContactWindow(kept, self.version + 1)

    def without(self, at: datetime) -> ContactWindow:
        """This window with the message claimed at ``at`` taken out again (it was never sent)."""
        sent = list(self.sent)
        if at in sent:
            sent.remove(at)
        return ContactWindow(tuple(sent), self.version + 1)


class ClaimRefusal(str, Enum):
    """Why one recipient of a group was not claimed."""

    CAMPAIGN_NOT_RUNNING = "campaign_not_running"  # the whole group: the campaign ended before the claim
    TAKEN = "taken"  # another delivery claimed or settled it first
    CONTACTS_CHANGED = "contacts_changed"  # another campaign messaged them since we read: decide again later


@dataclass(frozen=True)
class Claim:
    """One recipient in a group's claim: the ledger state the worker saw and the contact window it read."""

    phone: str
    previous: SendState | None  # None (absent) or DEFERRED
    contacts: ContactWindow = field(default_factory=ContactWindow)


@dataclass(frozen=True)
class GroupClaim:
    """What a group claim came to: the phones now held by this worker, and why the others were not."""

    claimed: tuple[str, ...]
    refused: dict[str, ClaimRefusal]

    @property
    def campaign_running(self) -> bool:
        return ClaimRefusal.CAMPAIGN_NOT_RUNNING not in self.refused.values()


@dataclass(frozen=True)
class Settlement:
    """One recipient's final outcome, moved from ``previous``; a sent message carries its thread line."""

    entry: LedgerEntry
    previous: SendState | None
    line: ConversationMessage | None = None


@dataclass(frozen=True)
class Release:
    """A claimed recipient given back unsent (throttled, or its slot or lease ran out): the row goes back to
    absent, and the message its claim added to the contact window is taken out, so it never counts for the cap."""

    phone: str
    claimed: ContactWindow  # the window as the claim wrote it
    claimed_at: datetime

    @property
    def restored(self) -> ContactWindow:
        """The window to store instead (one version on)."""
        return self.claimed.without(self.claimed_at)


@dataclass(frozen=True)
class Deferral:
    """One recipient waiting for quiet hours to end, moved from ``previous`` (absent or already deferred)."""

    phone: str
    release_at: datetime
    previous: SendState | None
    moved_from: datetime | None = None  # already deferred: the release time it leaves (its wave entry goes)


@dataclass(frozen=True)
class SendBatch:
    """Recipients of one campaign that travel together in one queue message."""

    shop_id: str
    campaign_id: str
    phones: tuple[str, ...]
    attempt: int = 0  # provider-throttling retries so far for these phones

    def to_json(self) -> dict[str, object]:
        return {"shop_id": self.shop_id, "campaign_id": self.campaign_id, "phones": list(self.phones), "attempt": self.attempt}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SendBatch:
        """Parse a queued batch; ValueError for anything that is not one."""
        # str(None) would make a batch for shop "None": refuse instead of guessing.
        if not isinstance(data, dict) or not isinstance(data.get("shop_id"), str) or not isinstance(data.get("campaign_id"), str):
            raise ValueError("a send batch needs shop_id and campaign_id")
        phones = data.get("phones")
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            raise ValueError("phones must be a list of strings")
        attempt = data.get("attempt", 0)
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
            raise ValueError("attempt must be a whole number from 0")
        return cls(shop_id=str(data["shop_id"]), campaign_id=str(data["campaign_id"]), phones=tuple(phones), attempt=attempt)
