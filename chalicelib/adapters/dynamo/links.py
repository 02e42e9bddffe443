"""Short links, their slots and clicks in DynamoDB.

A click is one read of the link and one transaction: the link's clicks (and, on its first click, its
first_clicked_at, conditioned on being absent, which is what makes a unique click unique), the campaign's
clicks and unique clicks (and the shop's totals), and the click record attribution reads, all ADDed together so the counters stay
exact under any number of concurrent clicks. The subscriber's last_clicked_at is a separate conditional
update, because a click on the link of a subscriber erased since must still count for the campaign.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo._transactions import LabelledTransaction, commit_with_retries
from chalicelib.adapters.dynamo.conditions import condition_failed, save_new
from chalicelib.adapters.dynamo.keys import parse_time_key, stamp, thread_key, time_key, utc
from chalicelib.adapters.dynamo.tables import CampaignRow, ClickRow, LinkRow, SubscriberRow
from chalicelib.adapters.dynamo.totals import add_to_totals
from chalicelib.domain.links import Click, Link

# Longer than the longest attribution window a shop can set (30 days), with room for data requests.
CLICK_TTL = timedelta(days=90)
_SLOT = "slot#"


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

    def create(self, link: Link) -> bool:
        """Store a new link; False (nothing written) if the code is taken."""
        row = LinkRow(
            link.code,
            subscriber_key=thread_key(link.shop_id, link.phone),
            code=link.code,
            shop_id=link.shop_id,
            phone=link.phone,
            created_at=utc(link.created_at),
            target=link.target,
            campaign_id=link.campaign_id,
            reply_id=link.reply_id,
        )
        return save_new(row, LinkRow.key.does_not_exist())

    def slot(self, slot: str) -> str | None:
        """The code the slot holds, or None."""
        try:
            return str(LinkRow.get(_SLOT + slot, consistent_read=True).code)
        except LinkRow.DoesNotExist:
            return None

    def take_slot(self, slot: str, link: Link) -> str:
        """Give the slot ``link.code`` unless it has one; the code it holds afterwards."""
        row = LinkRow(
            _SLOT + slot,
            subscriber_key=thread_key(link.shop_id, link.phone),
            code=link.code,
            shop_id=link.shop_id,
            phone=link.phone,
            created_at=utc(link.created_at),
        )
        if save_new(row, LinkRow.key.does_not_exist()):
            return link.code
        held = self.slot(slot)
        assert held is not None  # slots are never deleted except by erasure of the whole subscriber
        return held

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
            campaign_actions: list[Action] = [CampaignRow.clicks.add(1)]
            if first:
                link_actions.append(LinkRow.first_clicked_at.set(when))
                campaign_actions.append(CampaignRow.unique_clicks.add(1))

            def fill(tx: LabelledTransaction) -> None:
                condition = LinkRow.key.exists() & LinkRow.first_clicked_at.does_not_exist() if first else LinkRow.key.exists()
                tx.update("link", LinkRow(link.code), actions=link_actions, condition=condition)
                if link.campaign_id is not None:
                    tx.update(
                        "campaign",
                        CampaignRow(link.shop_id, link.campaign_id),
                        actions=campaign_actions,
                        condition=CampaignRow.campaign_id.exists(),
                    )
                    add_to_totals(tx, link.shop_id, {"clicks": 1, "unique_clicks": 1 if first else 0})
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
