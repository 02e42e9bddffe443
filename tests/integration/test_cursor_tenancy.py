"""Page cursors across tenants, on moto (the fakes' cursors do not model DynamoDB's keys): a cursor shop B was
given is refused when shop A pages with it, and one forged by putting A's id into B's key pages only A's rows.
The inbox's own test does the same for its listing (test_dynamo_inbox.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from chalicelib.adapters.dynamo.campaigns import DynamoCampaignRepository
from chalicelib.adapters.dynamo.conversations import DynamoConversations
from chalicelib.adapters.dynamo.cursors import decode_cursor, encode_cursor
from chalicelib.adapters.dynamo.subscribers import DynamoSubscriberStore
from chalicelib.domain.errors import InvalidInput
from chalicelib.services.ports import Page
from tests.fakes import FrozenClock
from tests.integration.test_dynamo_campaigns import campaign
from tests.integration.test_dynamo_conversations import line
from tests.integration.test_dynamo_subscribers import T0, seed

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]

A, B = "alpha.myshopify.com", "beta.myshopify.com"
PHONE = "+15555550123"

Pager = Callable[[str, "str | None"], Page]  # (shop, cursor) -> a page of one row


def _subscribers() -> tuple[Pager, Callable[[object], str]]:
    store = DynamoSubscriberStore(FrozenClock(T0))
    for shop in (A, B):
        seed(store, shop, 3)
    return (lambda shop, cursor: store.page(shop, limit=1, cursor=cursor)), (lambda row: row.shop_id)


def _campaigns() -> tuple[Pager, Callable[[object], str]]:
    repo = DynamoCampaignRepository()
    for shop in (A, B):
        for n in range(3):
            repo.create(campaign(f"c00{n}", shop_id=shop))
    return (lambda shop, cursor: repo.page(shop, limit=1, cursor=cursor)), (lambda row: row.shop_id)


def _thread() -> tuple[Pager, Callable[[object], str]]:
    conversations = DynamoConversations()
    for shop in (A, B):
        for n in range(3):
            conversations.append(line(f"{shop}-m{n}", T0.replace(second=n), shop_id=shop, phone=PHONE))
    return (lambda shop, cursor: conversations.thread(shop, PHONE, limit=1, cursor=cursor)), (lambda row: row.shop_id)


def _keys(cursor: str) -> set[str]:
    """The attribute names inside a cursor (each listing's key has its own)."""
    return set(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))))


LISTINGS = {"subscribers": _subscribers, "campaigns": _campaigns, "thread": _thread}


@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_another_shops_cursor_is_refused(listing: str) -> None:
    page, _ = LISTINGS[listing]()
    theirs = page(B, None).cursor
    assert theirs is not None
    with pytest.raises(InvalidInput) as refused:
        page(A, theirs)
    assert refused.value.code == "invalid_cursor"


@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_a_cursor_rewritten_for_the_callers_shop_pages_only_its_rows(listing: str) -> None:
    page, owner = LISTINGS[listing]()
    theirs = page(B, None).cursor
    assert theirs is not None
    key = decode_cursor(theirs, expected_keys=_keys(theirs))
    partition = next(name for name in ("shop_id", "thread_key") if name in key)
    key[partition] = {"S": key[partition]["S"].replace(B, A)}
    forged = encode_cursor(key)
    seen: list[str] = []
    cursor: str | None = forged
    while cursor is not None:
        got = page(A, cursor)
        seen += [owner(item) for item in got.items]
        cursor = got.cursor
    assert set(seen) <= {A}
