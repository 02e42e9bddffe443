"""Use cases for growing the list: the shop's shareable keyword link."""

from __future__ import annotations

from chalicelib.domain.signup import ShareLink, share_link
from chalicelib.services.ports import Ports


def get_share_link(ports: Ports, shop_id: str) -> ShareLink:
    """The shop's keyword link (Conflict ``no_sender_number`` / ``no_opt_in_keyword`` when it cannot have one)."""
    return share_link(ports.shops.get(shop_id))
