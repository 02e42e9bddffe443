"""Onboarding a shop as the operator does: create it, then assign its numbers (with their rates) through the
operator's registry (services/numbers.py), since a shop's settings cannot name a number it was not given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.domain.shops import Shop
from chalicelib.services import numbers as registry
from chalicelib.services import shops
from chalicelib.services.ports import Ports

DEFAULT_MPS = 100


def create_shop(
    ports: Ports, *, shop_id: str, settings: Mapping[str, Any], numbers: Mapping[str, int] | None = None
) -> tuple[Shop, str]:
    """A shop with ``numbers`` (number -> MPS) assigned. ``settings["sender_number"]``, when given, is assigned
    first (at DEFAULT_MPS unless ``numbers`` states its rate) and so becomes the primary."""
    wanted = dict(settings)
    primary = wanted.pop("sender_number", None)
    pool = dict(numbers or {})
    if primary is not None:
        pool = {primary: pool.get(primary, DEFAULT_MPS), **pool}
    shop, api_key = shops.create_shop(ports, shop_id=shop_id, settings=wanted)
    for number, mps in pool.items():
        shop = registry.assign(ports, number, shop_id, mps=mps)
    return shop, api_key


def assign(ports: Ports, number: str, shop_id: str, *, mps: int = DEFAULT_MPS) -> Shop:
    """The operator assigns one more number to the shop."""
    return registry.assign(ports, number, shop_id, mps=mps)
