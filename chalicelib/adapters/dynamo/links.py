"""Short links, their slots and clicks in DynamoDB.

A click is one read of the link and one transaction: the link's clicks (and, on its first click, its
first_clicked_at, conditioned on being absent, which is what makes a unique click unique), the campaign's
clicks and unique clicks (and the shop's totals), and the click record attribution reads, all ADDed together so the counters stay
exact under any number of concurrent clicks. The subscriber's last_clicked_at is a separate conditional
update, because a click on the link of a subscriber erased since must still count for the campaign.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import LabelledTransaction, commit_with_retries
from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.keys import gate_for, parse_time_key, stamp, thread_key, time_key, utc
from chalicelib.adapters.dynamo.tables import CampaignGateRow, ClickRow, LinkRow, SubscriberRow
from chalicelib.adapters.dynamo.totals import add_to_totals
from chalicelib.domain.links import Click, Link

# Longer than the longest attribution window a shop can set (30 days), with room for data requests.
CLICK_TTL = timedelta(days=90)
_SLOT = "slot#"
# Two items per link (the link and its slot), DynamoDB's 100 per transaction.
_LINKS_PER_TRANSACTION = 50


def row_to_link(row: LinkRow) -> Link:
    """The link a row holds."""
    return Link(
        code=row.code,
        shop_id=row.shop_id,
        phone=row.phone,
        target=row.target or "",
        created_at=utc(row.created_at),
        campaign_id=row.campaign_id,
        reply_id=row.reply_id,
        clicks=int(row.clicks or 0),
        first_clicked_at=utc(row.first_clicked_at) if row.first_clicked_at else None,
    )


class DynamoLinkStore:
    """``LinkStore`` on the links, clicks, campaigns and subscribers tables."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def get(self, code: str) -> Link | None:
        """The link with this code, or None."""
        try:
            row = LinkRow.get(code)
        except LinkRow.DoesNotExist:
            return None
        if row.key.startswith(_SLOT):
            return None
        return row_to_link(row)

    def slots(self, slots: Sequence[str]) -> dict[str, str]:
        """The codes these link slots hold (a slot without one is left out), in one batched read."""
        keys = list(dict.fromkeys(_SLOT + slot for slot in slots))
        rows = LinkRow.batch_get(keys, consistent_read=True) if keys else []
        return {row.key.removeprefix(_SLOT): str(row.code) for row in rows}

    def create(self, links: Sequence[tuple[str, Link]]) -> dict[str, str]:
        """Store each link and give its slot the link's code, both only if new, a transaction per 50 links. A
        link whose code is taken is left out (the caller tries another code); a slot that already holds a code
        keeps it. Returns slot -> the code it holds now, for every slot written or found taken."""
        held: dict[str, str] = {}
        pending = list({slot: link for slot, link in links}.items())
        for start in range(0, len(pending), _LINKS_PER_TRANSACTION):
            piece = pending[start : start + _LINKS_PER_TRANSACTION]
            while piece:
                failed = commit_with_retries(
                    partial(self._build_create, piece=tuple(piece)), sleep=self._sleep, busy="short links are busy; retry later"
                )
                if not failed:
                    held.update((slot, link.code) for slot, link in piece)
                    break
                taken_slots = {label.removeprefix("slot:") for label in failed if label.startswith("slot:")}
                taken_codes = {label.removeprefix("link:") for label in failed if label.startswith("link:")}
                held.update(self.slots(sorted(taken_slots)))
                piece = [(slot, link) for slot, link in piece if slot not in taken_slots and slot not in taken_codes]
        return held

    def _build_create(self, tx: LabelledTransaction, piece: tuple[tuple[str, Link], ...]) -> None:
        for slot, link in piece:
            owner = thread_key(link.shop_id, link.phone)
            row = LinkRow(
                link.code,
                subscriber_key=owner,
                code=link.code,
                shop_id=link.shop_id,
                phone=link.phone,
                created_at=utc(link.created_at),
                target=link.target,
                campaign_id=link.campaign_id,
                reply_id=link.reply_id,
            )
            # Labelled by slot, so a failure names the recipient's link whatever the code was.
            tx.put(f"link:{slot}", row, condition=LinkRow.key.does_not_exist())
            slot_row = LinkRow(
                _SLOT + slot,
                subscriber_key=owner,
                code=link.code,
                shop_id=link.shop_id,
                phone=link.phone,
                created_at=utc(link.created_at),
            )
            tx.put(f"slot:{slot}", slot_row, condition=LinkRow.key.does_not_exist())

    def record_click(self, link: Link, at: datetime) -> bool:
        """Count the click; True if it was the link's first (a unique click)."""
        when = utc(at)
        click = ClickRow(
            thread_key(link.shop_id, link.phone),
            time_key(when, link.code),
            campaign_id=link.campaign_id,
            expires_at=int((when + CLICK_TTL).timestamp()),
        )

        def build(first: bool) -> Callable[[LabelledTransaction], None]:
            link_actions: list[Action] = [LinkRow.clicks.add(1)]
            campaign_actions: list[Action] = [CampaignGateRow.clicks.add(1)]
            if first:
                link_actions.append(LinkRow.first_clicked_at.set(when))
                campaign_actions.append(CampaignGateRow.unique_clicks.add(1))

            def fill(tx: LabelledTransaction) -> None:
                condition = LinkRow.key.exists() & LinkRow.first_clicked_at.does_not_exist() if first else LinkRow.key.exists()
                tx.update("link", LinkRow(link.code), actions=link_actions, condition=condition)
                if link.campaign_id is not None:
                    # One of the campaign's gates, picked by the phone (a gate exists exactly while its campaign does).
                    tx.update(
                        "campaign",
                        CampaignGateRow(gate_for(link.shop_id, link.campaign_id, link.phone)),
                        actions=campaign_actions,
                        condition=CampaignGateRow.gate_key.exists(),
                    )
                    add_to_totals(tx, link.shop_id, {"clicks": 1, "unique_clicks": 1 if first else 0}, by=link.phone)
                tx.put("click", click)

            return fill

        busy = "clicks on this link are busy; retry"
        first = link.first_clicked_at is None
        failed = commit_with_retries(build(first), sleep=self._sleep, busy=busy) if first else frozenset({"link"})
        if "link" in failed:
            # Someone else's click was first (or we knew it already): count a repeat click.
            first = False
            failed = commit_with_retries(build(False), sleep=self._sleep, busy=busy)
        if failed:
            return False  # the link or its campaign is gone: nothing to count
        self._touch_subscriber(link, when)
        return first

    def _touch_subscriber(self, link: Link, when: datetime) -> None:
        # The version moves so a consent change that read the subscriber before this click retries instead of
        # writing back the older last_clicked_at; an older click never moves the fact back.
        row = SubscriberRow(link.shop_id, link.phone)
        condition = SubscriberRow.phone.exists() & (
            SubscriberRow.last_clicked_at.does_not_exist() | (SubscriberRow.last_clicked_at < when)
        )
        try:
            row.update(actions=[SubscriberRow.last_clicked_at.set(when), SubscriberRow.version.add(1)], condition=condition)
        except UpdateError as exc:
            if not condition_failed(exc):
                raise

    def latest_click(self, shop_id: str, phone: str, since: datetime, until: datetime) -> Click | None:
        """The latest click on a campaign link by the phone with since <= at <= until."""
        # "<stamp>#" sorts before every key at that stamp, "<stamp>$" after them ('$' follows '#').
        between = ClickRow.click_key.between(stamp(since) + "#", stamp(until) + "$")
        for row in ClickRow.query(
            thread_key(shop_id, phone), range_key_condition=between, scan_index_forward=False, consistent_read=True
        ):
            if row.campaign_id is None:
                continue  # an inbox reply's link: it belongs to no campaign
            at, code = parse_time_key(row.click_key)
            return Click(shop_id=shop_id, phone=phone, code=code, at=at, campaign_id=row.campaign_id)
        return None

    # --- PersonalData (customers/data_request, customers/redact) ---------------------------------------

    def export(self, shop_id: str, phone: str) -> dict[str, object]:
        """The person's short links (with their click counts) and every click they made, JSON-ready."""
        key = thread_key(shop_id, phone)
        links = [
            {
                "code": row.code,
                "target": row.target,
                "campaign_id": row.campaign_id,
                "reply_id": row.reply_id,
                "created_at": utc(row.created_at).isoformat(),
                "clicks": int(row.clicks or 0),
            }
            for row in LinkRow.by_subscriber.query(key)
            if not row.key.startswith(_SLOT)
        ]
        clicks = []
        for row in ClickRow.query(key, consistent_read=True):
            at, code = parse_time_key(row.click_key)
            clicks.append({"at": at.isoformat(), "code": code, "campaign_id": row.campaign_id})
        return {"links": links, "clicks": clicks}

    def erase(self, shop_id: str, phone: str) -> int:
        """Delete the person's links, link slots and clicks (a deleted link answers 404); how many items."""
        key = thread_key(shop_id, phone)
        erased = 0
        with LinkRow.batch_write() as batch:
            for link_row in LinkRow.by_subscriber.query(key):
                batch.delete(LinkRow(link_row.key))
                erased += 1
        with ClickRow.batch_write() as clicks:
            for click_row in ClickRow.query(key, consistent_read=True):
                clicks.delete(ClickRow(click_row.subscriber_key, click_row.click_key))
                erased += 1
        return erased
