"""Use cases for shops: onboarding, API keys, reading and changing settings."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.errors import Conflict
from chalicelib.domain.shops import Shop, ShopSettings, apply_patch, validate_shop_id
from chalicelib.services.ports import Ports

API_KEY_PREFIX = "sk_"


def hash_api_key(api_key: str) -> str:
    """The only form an API key is stored in. Keys are 256-bit random, so a plain SHA-256 is enough
    (no salt or stretching is needed against guessing a key of that entropy)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A fresh API key to show the merchant once."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def create_shop(ports: Ports, *, shop_id: str, settings: Mapping[str, Any]) -> tuple[Shop, str]:
    """Onboard a shop with validated settings; returns the shop and its first API key (shown once). A new
    shop has no sender number: the operator assigns numbers (services/numbers.py), the first becomes primary."""
    shop_id = validate_shop_id(shop_id)
    shop_settings = apply_patch(ShopSettings(), settings, allow_fictional=ports.allow_fictional_numbers)
    if shop_settings.sender_number is not None:
        raise _not_assigned(shop_settings.sender_number)
    api_key = new_api_key()
    shop = ports.shops.create(Shop(shop_id=shop_id, settings=shop_settings), hash_api_key(api_key))
    return shop, api_key


def _not_assigned(number: str) -> Conflict:
    return Conflict(
        f"{number} is not one of this shop's sender numbers; the operator assigns numbers",
        code="sender_number_not_assigned",
        details={"sender_number": number},
    )


def get_settings(ports: Ports, shop_id: str) -> Shop:
    """The shop: its current settings and its numbers."""
    return ports.shops.get(shop_id)


def update_settings(ports: Ports, shop_id: str, patch: Mapping[str, Any]) -> Shop:
    """Validate the whole patch first, then save it against the version it was based on. The primary sender
    number must be one the operator assigned to the shop; the save's version check keeps that true, since
    assigning and unassigning numbers move the version too."""
    shop = ports.shops.get(shop_id)
    updated = apply_patch(shop.settings, patch, allow_fictional=ports.allow_fictional_numbers)
    if "sender_number" in patch and updated.sender_number is not None and not shop.owns(updated.sender_number):
        raise _not_assigned(updated.sender_number)
    return ports.shops.save_settings(shop, updated)
