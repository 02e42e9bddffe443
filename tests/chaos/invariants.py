"""The invariants of DESIGN.md, checked after a round from what is stored and what the sandbox provider sent.

Each check is a small function returning violations (one string each, with the details to start from). Order
is the timeline's (tests/chaos/faults.py), not timestamps: the virtual clock moves back during a round.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator

from chalicelib.adapters.sms.sandbox import SandboxMessage
from chalicelib.domain.campaigns import Campaign, CampaignStatus
from chalicelib.domain.inbox import Conversation, ConversationStatus, QuietHoursChoice
from chalicelib.domain.messages import ConversationMessage, InboundSms, MessageKind
from chalicelib.domain.quiet_hours import Recipient, is_quiet, timezones_of
from chalicelib.domain.sending import SendState
from chalicelib.domain.shops import QuietHours
from chalicelib.domain.subscribers import ConsentAction
from tests.chaos.faults import SendRecord
from tests.chaos.world import World

Check = Callable[[World], list[str]]


def _campaigns(world: World) -> Iterator[Campaign]:
    for shop_id, ids in world.campaigns.items():
        for cid in ids:
            yield world.campaign_store.get(shop_id, cid)


def _all_phones(world: World) -> set[str]:
    phones = {p for shop_phones in world.phones.values() for p in shop_phones}
    return phones | {s.phone for s in world.timeline.sends}


def outbox(world: World) -> list[SandboxMessage]:
    """Everything the sandbox provider recorded as sent: the ground truth of sends (read once, after the drain)."""
    if world.outbox is None:
        world.outbox = [m for phone in sorted(_all_phones(world)) for m in world.sandbox.received(phone)]
    return world.outbox


def planned_phones(world: World, shop_id: str, cid: str) -> list[str]:
    """The recipients the planner kept, page by page (what ``stats.planned`` counts)."""
    phones: list[str] = []
    page = 0
    while (plan := world.campaign_store.page_plan(shop_id, cid, page)) is not None:
        phones.extend(plan.phones)
        if plan.next_cursor is None:
            break
        page += 1
    return phones


# --- the checks ----------------------------------------------------------------------------------------


def outbox_matches_timeline(world: World) -> list[str]:
    """The harness saw every message the provider recorded, and nothing else (else the checks below are blind)."""
    stored = {m.provider_message_id for m in outbox(world)}
    seen = {s.message_id for s in world.timeline.sends}
    return [f"outbox and timeline disagree: {sorted(stored ^ seen)[:5]}"] if stored != seen else []


def duplicate_sends(world: World) -> list[str]:
    """At most once: one campaign message per (campaign, phone) in the provider's record."""
    counts = Counter((m.shop_id, m.campaign_id, m.to_number) for m in outbox(world) if m.kind is MessageKind.CAMPAIGN)
    return [
        f"duplicate send: campaign {cid} of {shop} reached {phone} {n} times"
        for (shop, cid, phone), n in sorted(counts.items(), key=str)
        if n > 1
    ]


def consent_log_matches_store(world: World) -> list[str]:
    """The consent events the harness saw committed are exactly the stored, append-only history."""
    logged: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in world.timeline.consents:
        logged[record.event.shop_id, record.event.phone].append(record.event.event_id)
    found = []
    for shop_id, phones in world.phones.items():
        for phone in phones:
            stored = [e.event_id for e in world.ports.subscribers.consent_history(shop_id, phone)]
            if sorted(stored) != sorted(logged.get((shop_id, phone), [])):
                seen = logged.get((shop_id, phone))
                found.append(f"consent history of {phone} at {shop_id} is {stored}, but the commits seen were {seen}")
    return found


def sends_after_stop(world: World) -> list[str]:
    """Consent: no campaign message or reply to a number whose latest consent event (when it went out) is an opt-out."""
    found = []
    for send in world.timeline.sends:
        if send.kind is MessageKind.COMPLIANCE:
            continue
        before = [
            c
            for c in world.timeline.consents
            if (c.event.shop_id, c.event.phone) == (send.shop_id, send.phone) and c.seq < send.seq
        ]
        if before and before[-1].event.action is ConsentAction.OPTED_OUT:
            stop = before[-1].event
            found.append(
                f"send after STOP: {send.kind.value} {send.campaign_id or ''} to {send.phone} at {send.shop_id} "
                f"(#{send.seq}, {send.at.isoformat()}) after opt-out {stop.event_id} ({stop.source.value} {stop.text!r}, "
                f"#{before[-1].seq}, {stop.at.isoformat()})"
            )
    return found


def sends_after_end(world: World) -> list[str]:
    """End means end: no send of a campaign starts after End Campaign returned."""
    found = []
    for send in world.timeline.sends:
        ended = world.timeline.ended.get((send.shop_id, send.campaign_id or ""))
        if send.kind is MessageKind.CAMPAIGN and ended is not None and send.seq > ended:
            found.append(
                f"send after End: campaign {send.campaign_id} to {send.phone} (#{send.seq}) after End returned (#{ended})"
            )
    return found


def _quiet(send: SendRecord, quiet_hours: QuietHours) -> bool:
    return is_quiet(Recipient.of(send.phone, send.shop.settings.timezone), quiet_hours, send.at)


def _settings_raced(world: World, send: SendRecord) -> bool:
    """The shop's settings were saved between the group's claim and this send (a merchant's edit landing on a
    group already in flight, whose worker read the shop before its claim)."""
    claims = [seq for seq in world.timeline.claims.get((send.shop_id, send.campaign_id or "", send.phone), []) if seq < send.seq]
    changed = world.timeline.settings_changed.get(send.shop_id, [])
    return bool(claims) and any(claims[-1] < seq < send.seq for seq in changed)


def sends_in_quiet_hours(world: World) -> list[str]:
    """Quiet hours: no campaign message while the recipient is in quiet hours: never inside the legal floor, and
    never inside the shop's own window unless that window was changed while the message's group was in flight."""
    found = []
    for s in world.timeline.sends:
        if s.kind is not MessageKind.CAMPAIGN:
            continue
        legal = _quiet(s, QuietHours(enabled=False))
        raced = _settings_raced(world, s)
        if legal and raced and not timezones_of(s.phone):
            # A number that names no timezone is judged in the shop's, and the merchant moved the shop's timezone
            # while this message's group was in flight (seed 318: New York to London): counted as a note below.
            continue
        if legal or (_quiet(s, s.shop.settings.quiet_hours) and not raced):
            found.append(
                f"send in quiet hours: campaign {s.campaign_id} to {s.phone} at {s.at.isoformat()} "
                f"(shop tz {s.shop.settings.timezone}, quiet hours {s.shop.settings.quiet_hours}, "
                f"{'legal floor' if legal else 'the shop window'})"
            )
    return found


def replies_in_quiet_hours(world: World) -> list[str]:
    """Only an explicit "Send Reply Now" overrides quiet hours: a reply asked or scheduled goes out outside them."""
    found = []
    for s in world.timeline.sends:
        if s.kind is not MessageKind.REPLY:
            continue
        tag = s.body.rsplit(" ", 1)[-1]
        choice = world.reply_choices.get(tag)
        if choice is not QuietHoursChoice.SEND_NOW and _quiet(s, s.shop.settings.quiet_hours):
            found.append(f"reply in quiet hours: {tag} ({choice.value if choice else '?'}) to {s.phone} at {s.at.isoformat()}")
    return found


def _thread(world: World, shop_id: str, phone: str) -> list[ConversationMessage]:
    lines: list[ConversationMessage] = []
    cursor = None
    while True:
        page = world.ports.conversations.thread(shop_id, phone, limit=100, cursor=cursor)
        lines.extend(page.items)
        if (cursor := page.cursor) is None:
            return lines


def lost_inbound(world: World, dead: Iterable[object] = ()) -> list[str]:
    """Nothing lost: every inbound SMS is stored once in its thread, or waits in the dead-letter queue (reported)."""
    found = [f"inbound message {b.message_id} from {b.from_number} dead-lettered" for b in dead if isinstance(b, InboundSms)]
    threads: dict[tuple[str, str], Counter[str]] = {}
    for shop_id, phone, message_id in world.inbound_ids:
        if (shop_id, phone) not in threads:
            threads[shop_id, phone] = Counter(line.message_id for line in _thread(world, shop_id, phone))
        n = threads[shop_id, phone][message_id]
        if n != 1:
            found.append(f"inbound message {message_id} from {phone} to {shop_id} stored {n} times")
    return found


def unsettled_at_completion(world: World, shop_id: str, cid: str) -> list[str]:
    """A campaign completes (not ended) only when every planned recipient is sent, skipped or failed."""
    planned = planned_phones(world, shop_id, cid)
    rows = world.ports.ledger.get_many(shop_id, cid, planned)
    open_ = sorted(p for p in planned if p not in rows or not rows[p].state.final)
    found = (
        [f"campaign {cid} of {shop_id} completed with {len(open_)} planned recipients unsettled: {open_[:5]}"] if open_ else []
    )
    campaign = world.campaign_store.get(shop_id, cid)
    if campaign.stats.planned != len(planned):
        found.append(f"campaign {cid} of {shop_id} counts {campaign.stats.planned} planned, its kept plans hold {len(planned)}")
    return found


def every_recipient_settled(world: World) -> list[str]:
    """After the drain every started campaign is completed, and those not ended have everyone settled."""
    found = []
    for c in _campaigns(world):
        if c.status is CampaignStatus.IN_PROGRESS:
            found.append(f"campaign {c.campaign_id} of {c.shop_id} still in progress after the drain ({c.stats})")
        elif c.status is CampaignStatus.COMPLETED and not c.ended_early:
            found.extend(unsettled_at_completion(world, c.shop_id, c.campaign_id))
    return found


def counters_match_ledger(world: World) -> list[str]:
    """Each campaign's counters equal its ledger rows; every sent row holds a message the provider recorded, and
    every message the provider took is its recipient's row (sent, or failed when the worker died around it)."""
    found = []
    sent_by_campaign: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for m in outbox(world):
        if m.kind is MessageKind.CAMPAIGN and m.campaign_id:
            sent_by_campaign[m.shop_id, m.campaign_id][m.to_number].append(m.provider_message_id)
    for c in _campaigns(world):
        phones = sorted(set(world.phones[c.shop_id]) | set(planned_phones(world, c.shop_id, c.campaign_id)))
        rows = world.ports.ledger.get_many(c.shop_id, c.campaign_id, phones)
        states = Counter(r.state for r in rows.values())
        for state, counted in (
            (SendState.SENT, c.stats.sent),
            (SendState.SKIPPED, c.stats.skipped),
            (SendState.FAILED, c.stats.failed),
        ):
            if states[state] != counted:
                found.append(
                    f"campaign {c.campaign_id} of {c.shop_id} counts {counted} {state.value}, its ledger has {states[state]}"
                )
        outbox_of = sent_by_campaign.get((c.shop_id, c.campaign_id), {})
        for phone, row in rows.items():
            if row.state is SendState.SENT and row.provider_message_id not in outbox_of.get(phone, []):
                found.append(f"campaign {c.campaign_id}: {phone} recorded sent as {row.provider_message_id}, not in the outbox")
        for phone, row in rows.items():
            # A worker that died between claim and settle leaves the row claimed; the record's redelivery settles it
            # failed "interrupted", ended campaign or not (it once stayed claimed for good after End).
            if row.state is SendState.CLAIMED:
                found.append(f"campaign {c.campaign_id}: {phone} is still claimed after the drain")
        for phone, ids in outbox_of.items():
            found_row = rows.get(phone)
            if found_row is None or found_row.state not in (SendState.SENT, SendState.FAILED):
                now = found_row.state.value if found_row else "no row"
                found.append(f"campaign {c.campaign_id}: the provider sent to {phone} ({ids}) but its ledger row is {now}")
        clicks = world.clicks.get((c.shop_id, c.campaign_id), 0)
        if c.stats.clicks != clicks:
            found.append(f"campaign {c.campaign_id} of {c.shop_id} counts {c.stats.clicks} clicks, {clicks} were counted")
    found.extend(_orders_match(world))
    return found


def _orders_match(world: World) -> list[str]:
    """Money: each order counts once, in its campaign's Orders and Revenue, and not at all once cancelled."""
    expected: dict[tuple[str, str], tuple[int, int]] = defaultdict(lambda: (0, 0))
    for shop_id, order_id in sorted(set(world.orders)):
        stored = world.ports.orders.get(shop_id, order_id)
        if stored is None or stored.cancelled or stored.attribution is None:
            continue
        n, revenue = expected[shop_id, stored.attribution.campaign_id]
        expected[shop_id, stored.attribution.campaign_id] = (n + 1, revenue + stored.order.total)
    found = []
    for c in _campaigns(world):
        n, revenue = expected.get((c.shop_id, c.campaign_id), (0, 0))
        if (c.stats.orders, c.stats.revenue) != (n, revenue):
            found.append(
                f"campaign {c.campaign_id} of {c.shop_id} counts {c.stats.orders} orders / {c.stats.revenue} revenue, "
                f"the stored orders make {n} / {revenue}"
            )
    return found


def _conversations(world: World, shop_id: str, status: ConversationStatus) -> list[Conversation]:
    rows: list[Conversation] = []
    cursor = None
    while True:
        page = world.ports.inbox.page(shop_id, status, limit=50, cursor=cursor)
        rows.extend(page.items)
        if (cursor := page.cursor) is None:
            return rows


def unresolved_count_matches_rows(world: World) -> list[str]:
    """The Inbox's red dot equals its unresolved conversations."""
    found = []
    for shop_id in world.phones:
        rows = _conversations(world, shop_id, ConversationStatus.UNRESOLVED)
        count = world.ports.inbox.unresolved_count(shop_id)
        if count != len(rows):
            found.append(f"unresolved count of {shop_id} is {count}, {len(rows)} conversations are unresolved")
    return found


def observations(world: World) -> Counter[str]:
    """What held only by the allowances above, counted for the report: sends whose group had the shop's quiet
    hours (or, for a number naming no timezone, the shop's timezone) changed under it."""
    seen: Counter[str] = Counter()
    for s in world.timeline.sends:
        if s.kind is MessageKind.CAMPAIGN and _quiet(s, s.shop.settings.quiet_hours) and _settings_raced(world, s):
            seen["note: sent in the shop's quiet hours set while its group was in flight"] += 1
            if _quiet(s, QuietHours(enabled=False)) and not timezones_of(s.phone):
                seen["note: ... past the legal floor in the shop's timezone, moved while in flight"] += 1
    return +seen  # without the zeros


CHECKS: tuple[Check, ...] = (
    outbox_matches_timeline,
    duplicate_sends,
    consent_log_matches_store,
    sends_after_stop,
    sends_after_end,
    sends_in_quiet_hours,
    replies_in_quiet_hours,
    every_recipient_settled,
    counters_match_ledger,
    unresolved_count_matches_rows,
)


def check_all(world: World, *, dead: Iterable[object] = ()) -> list[str]:
    """Every invariant; dead-lettered messages are reported too (a drained round should have none)."""
    dead = list(dead)
    found = [f"dead-lettered after repeated failures: {b!r}" for b in dead if not isinstance(b, InboundSms)]
    found += lost_inbound(world, dead)
    for check in CHECKS:
        found.extend(f"{check.__name__}: {v}" for v in check(world))
    return found
