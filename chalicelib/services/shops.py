"""Use cases for shops: onboarding, API keys, reading and changing settings."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

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
    """Onboard a shop with validated settings; returns the shop and its first API key (shown once)."""
    shop_id = validate_shop_id(shop_id)
    shop_settings = apply_patch(ShopSettings(), settings, allow_fictional=ports.allow_fictional_numbers)
    api_key = new_api_key()
    shop = ports.shops.create(Shop(shop_id=shop_id, settings=shop_settings), hash_api_key(api_key))
    return shop, api_key


def get_settings(ports: Ports, shop_id: str) -> ShopSettings:
    """The shop's current settings."""
    return ports.shops.get(shop_id).settings


def update_settings(ports: Ports, shop_id: str, patch: Mapping[str, Any]) -> ShopSettings:
    """Validate the whole patch first, then save it against the version it was based on."""
    shop = ports.shops.get(shop_id)
    updated = apply_patch(shop.settings, patch, allow_fictional=ports.allow_fictional_numbers)
    return ports.shops.save_settings(shop, updated).settings
