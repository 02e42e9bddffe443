"""Shops in DynamoDB: settings on the shop row, unique sender numbers and API keys on the shop-keys table.

A sender number or API key belongs to one shop because its shop-keys item is written with a condition
in the same transaction as the shop, so two shops racing for one number cannot both win.
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
from chalicelib.domain.shops import Shop, ShopSettings
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
    )


def _taken(number: str | None) -> Conflict:
    message = f"sender number {number} belongs to another shop"
    return Conflict(message, code="sender_number_taken", details={"sender_number": number})


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
        """Store a new shop with its sender number and API key (Conflict if the shop or either key is taken)."""
        now = self._clock.now()
        number = shop.settings.sender_number
        tx = LabelledTransaction()
        stored = replace(shop, version=1)  # like a new subscriber: the first stored version is 1
        row = ShopRow(shop.shop_id, settings=shop.settings.to_dict(), created_at=now, version=stored.version)
        tx.put("shop", row, condition=ShopRow.shop_id.does_not_exist())
        if number:
            sender = ShopKeyRow(sender_key(number), shop_id=shop.shop_id, created_at=now)
            tx.put("sender", sender, condition=ShopKeyRow.key.does_not_exist())
        if api_key_hash is not None:
            key = ShopKeyRow(api_key_key(_require_hash(api_key_hash)), shop_id=shop.shop_id, created_at=now)
            tx.put("api_key", key, condition=ShopKeyRow.key.does_not_exist())
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if "shop" in exc.failed:
                raise Conflict(f"shop {shop.shop_id} already exists", code="shop_exists") from exc
            if "sender" in exc.failed:
                raise _taken(number) from exc
            if "api_key" in exc.failed:
                raise Conflict("this API key is already in use", code="api_key_taken") from exc
            raise ConcurrentUpdate(f"shop {shop.shop_id} is being created concurrently; retry") from exc
        return stored

    def save_settings(self, shop: Shop, settings: ShopSettings) -> Shop:
        """Replace settings if ``shop.version`` is current, moving the sender number's routing key with them."""
        now = self._clock.now()
        old, new = shop.settings.sender_number, settings.sender_number
        tx = LabelledTransaction()
        tx.update(
            "shop",
            ShopRow(shop.shop_id),
            actions=[ShopRow.settings.set(settings.to_dict()), ShopRow.version.set(shop.version + 1)],
            condition=ShopRow.version == shop.version,
        )
        # The version condition guarantees shop.settings is what is stored, so ``old`` is the number this
        # shop really holds now.
        if old != new:
            if old:
                # A missing key is tolerated (nothing to free); another shop's key is never deleted.
                mine_or_gone = (ShopKeyRow.shop_id == shop.shop_id) | ShopKeyRow.key.does_not_exist()
                tx.delete("old_sender", ShopKeyRow(sender_key(old)), condition=mine_or_gone)
            if new:
                free_or_mine = ShopKeyRow.key.does_not_exist() | (ShopKeyRow.shop_id == shop.shop_id)
                tx.put("new_sender", ShopKeyRow(sender_key(new), shop_id=shop.shop_id, created_at=now), condition=free_or_mine)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            # A stale version wins over a taken number: after a reload the number may turn out to be ours.
            if "new_sender" in exc.failed and "shop" not in exc.failed and not exc.conflicted:
                raise _taken(new) from exc
            raise ConcurrentUpdate(f"settings of {shop.shop_id} changed meanwhile; reload and retry") from exc
        return replace(shop, settings=settings, version=shop.version + 1)

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
        """The shop whose sender number this is, for routing inbound SMS."""
        try:
            key = ShopKeyRow.get(sender_key(number), consistent_read=True)
        except ShopKeyRow.DoesNotExist:
            return None
        try:
            shop = self.get(key.shop_id)
        except NotFound:
            return None
        # Route only when both sides agree, so a stray key can never hand one shop's inbound to another.
        return shop if shop.settings.sender_number == number else None

    def shop_for_api_key(self, api_key_hash: str) -> str | None:
        """The shop id an API key hash belongs to."""
        if not isinstance(api_key_hash, str) or not _API_KEY_HASH.match(api_key_hash):
            return None
        try:
            return ShopKeyRow.get(api_key_key(api_key_hash), consistent_read=True).shop_id
        except ShopKeyRow.DoesNotExist:
            return None
