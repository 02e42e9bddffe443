"""Shops in DynamoDB: settings and assigned numbers on the shop row, unique sender numbers and API keys on
the shop-keys table.

A sender number or API key belongs to one shop because its shop-keys item is written with a condition
in the same transaction as the shop, so two shops racing for one number cannot both win. Numbers are the
operator's (services/numbers.py): assigning one writes the shop row's pool and the number's routing key
together; the merchant's settings only choose the primary among them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamo._transactions import LabelledTransaction, TransactionCancelled
from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.keys import api_key_key, sender_key, utc
from chalicelib.adapters.dynamo.tables import ShopKeyRow, ShopRow
from chalicelib.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound
from chalicelib.domain.shops import SenderNumber, Shop, ShopSettings
from chalicelib.services.ports import Clock

_API_KEY_HASH = re.compile(r"^[0-9a-f]{64}$")


def _require_hash(api_key_hash: str) -> str:
    if not isinstance(api_key_hash, str) or not _API_KEY_HASH.match(api_key_hash):
        raise InvalidInput("an API key hash is 64 lower-case hex digits (SHA-256)", code="invalid_api_key_hash")
    return api_key_hash


def row_to_shop(row: ShopRow) -> Shop:
    """The domain shop a row holds."""
    return Shop(
        shop_id=row.shop_id,
        settings=ShopSettings.from_dict(row.settings or {}),
        version=int(row.version),
        uninstalled_at=utc(row.uninstalled_at) if row.uninstalled_at else None,
        numbers=tuple(SenderNumber.from_dict(n) for n in row.numbers or ()),
    )


def _taken(number: str | None) -> Conflict:
    message = f"sender number {number} belongs to another shop"
    return Conflict(message, code="sender_number_taken", details={"sender_number": number})


def _pool(numbers: tuple[SenderNumber, ...]) -> list[dict[str, object]]:
    return [n.to_dict() for n in numbers]


class DynamoShopRepository:
    """``ShopRepository`` on the shops and shop-keys tables."""

    def __init__(self, clock: Clock) -> None:
        # Only for created_at bookkeeping; nothing decides anything on it.
        self._clock = clock

    def get(self, shop_id: str) -> Shop:
        """The shop, or NotFound (code ``shop_not_found``)."""
        try:
            # Strongly consistent: the version read here guards the next save_settings.
            return row_to_shop(ShopRow.get(shop_id, consistent_read=True))
        except ShopRow.DoesNotExist as exc:
            raise NotFound(f"shop {shop_id} not found", code="shop_not_found") from exc

    def create(self, shop: Shop, api_key_hash: str | None) -> Shop:
        """Store a new shop with its API key (Conflict if the shop or the key is taken). A new shop has no
        numbers: only the operator assigns them (assign_number)."""
        now = self._clock.now()
        tx = LabelledTransaction()
        stored = replace(shop, version=1, numbers=())  # like a new subscriber: the first stored version is 1
        row = ShopRow(shop.shop_id, settings=shop.settings.to_dict(), created_at=now, version=stored.version)
        tx.put("shop", row, condition=ShopRow.shop_id.does_not_exist())
        if api_key_hash is not None:
            key = ShopKeyRow(api_key_key(_require_hash(api_key_hash)), shop_id=shop.shop_id, created_at=now)
            tx.put("api_key", key, condition=ShopKeyRow.key.does_not_exist())
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "shop" in exc.failed:
                raise Conflict(f"shop {shop.shop_id} already exists", code="shop_exists") from exc
            if "api_key" in exc.failed:
                raise Conflict("this API key is already in use", code="api_key_taken") from exc
            raise ConcurrentUpdate(f"shop {shop.shop_id} is being created concurrently; retry") from exc
        return stored

    def save_settings(self, shop: Shop, settings: ShopSettings) -> Shop:
        """Replace settings if ``shop.version`` is current. Assigning or unassigning a number moves the version
        too, so the caller's check that the primary is one of ``shop.numbers`` holds for what is stored."""
        try:
            ShopRow(shop.shop_id).update(
                actions=[ShopRow.settings.set(settings.to_dict()), ShopRow.version.set(shop.version + 1)],
                condition=ShopRow.version == shop.version,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise ConcurrentUpdate(f"settings of {shop.shop_id} changed meanwhile; reload and retry") from exc
            raise
        return replace(shop, settings=settings, version=shop.version + 1)

    def assign_number(self, shop_id: str, sender: SenderNumber) -> Shop:
        """Add ``sender`` to the shop's pool (or restate its rate and kind), with its routing key, in one
        transaction. Conflict ``sender_number_taken`` when another shop has it; a shop without a primary gets it
        as its primary."""
        shop = self.get(shop_id)
        assigned = shop.with_number(sender)
        numbers, settings = assigned.numbers, assigned.settings
        now = self._clock.now()
        tx = LabelledTransaction()
        tx.update(
            "shop",
            ShopRow(shop_id),
            actions=[
                ShopRow.numbers.set(_pool(numbers)),
                ShopRow.settings.set(settings.to_dict()),
                ShopRow.version.set(shop.version + 1),
            ],
            condition=ShopRow.version == shop.version,
        )
        key = ShopKeyRow(sender_key(sender.number), shop_id=shop_id, created_at=now, mps=sender.mps, kind=sender.kind)
        free_or_mine = ShopKeyRow.key.does_not_exist() | (ShopKeyRow.shop_id == shop_id)
        tx.put("sender", key, condition=free_or_mine)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "sender" in exc.failed and "shop" not in exc.failed and not exc.conflicted:
                raise _taken(sender.number) from exc
            raise ConcurrentUpdate(f"shop {shop_id} changed meanwhile; retry") from exc
        return replace(shop, settings=settings, numbers=numbers, version=shop.version + 1)

    def unassign_number(self, number: str) -> Shop | None:
        """Take ``number`` out of its shop's pool and delete its routing key, in one transaction; the shop as
        stored after (None when no shop had the number). A primary that was this number falls back to the
        pool's first remaining number."""
        try:
            key = ShopKeyRow.get(sender_key(number), consistent_read=True)
        except ShopKeyRow.DoesNotExist:
            return None
        try:
            shop: Shop | None = self.get(key.shop_id)
        except NotFound:
            shop = None
        tx = LabelledTransaction()
        if shop is not None:
            left = shop.without_number(number)
            numbers, settings = left.numbers, left.settings
            tx.update(
                "shop",
                ShopRow(shop.shop_id),
                actions=[
                    ShopRow.numbers.set(_pool(numbers)),
                    ShopRow.settings.set(settings.to_dict()),
                    ShopRow.version.set(shop.version + 1),
                ],
                condition=ShopRow.version == shop.version,
            )
        tx.delete("sender", ShopKeyRow(sender_key(number)), condition=ShopKeyRow.shop_id == key.shop_id)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            raise ConcurrentUpdate(f"the assignment of {number} changed meanwhile; retry") from exc
        if shop is None:
            return None
        return replace(shop, settings=settings, numbers=numbers, version=shop.version + 1)

    def assigned_numbers(self) -> list[tuple[SenderNumber, str]]:
        """Every assigned number of the deployment with the shop it belongs to, by number (an operator's
        listing: a scan of the small shop-keys table)."""
        found = [
            (SenderNumber(row.key.removeprefix("sender#"), int(row.mps or 1), row.kind or "UNKNOWN"), row.shop_id)
            for row in ShopKeyRow.scan(ShopKeyRow.key.startswith("sender#"), consistent_read=True)
        ]
        return sorted(found, key=lambda item: item[0].number)

    def mark_uninstalled(self, shop_id: str, at: datetime) -> Shop:
        """Record that the app was uninstalled (the first time wins; NotFound for an unknown shop)."""
        try:
            # No version bump: settings saves racing with this must not fail, and it never changes back here.
            ShopRow(shop_id).update(
                actions=[ShopRow.uninstalled_at.set(ShopRow.uninstalled_at | utc(at))],
                condition=ShopRow.shop_id.exists(),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                raise NotFound(f"shop {shop_id} not found", code="shop_not_found") from exc
            raise
        return self.get(shop_id)

    def shop_for_sender(self, number: str) -> Shop | None:
        """The shop whose pool holds this number, for routing inbound SMS."""
        try:
            key = ShopKeyRow.get(sender_key(number), consistent_read=True)
        except ShopKeyRow.DoesNotExist:
            return None
        try:
            shop = self.get(key.shop_id)
        except NotFound:
            return None
        # Route only when both sides agree, so a stray key can never hand one shop's inbound to another.
        return shop if shop.owns(number) else None

    def shop_for_api_key(self, api_key_hash: str) -> str | None:
        """The shop id an API key hash belongs to."""
        if not isinstance(api_key_hash, str) or not _API_KEY_HASH.match(api_key_hash):
            return None
        try:
            return ShopKeyRow.get(api_key_key(api_key_hash), consistent_read=True).shop_id
        except ShopKeyRow.DoesNotExist:
            return None
