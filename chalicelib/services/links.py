"""Tracked links: shorten a message for one recipient before it is sent, and follow a short link."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import links
from chalicelib.domain.errors import TransientError
from chalicelib.domain.links import Link, Visit
from chalicelib.services.ports import Ports

# A collision among 62**9 codes is a once-in-ages event; several in a row mean something else is wrong.
MAX_CODE_ATTEMPTS = 5


@dataclass(frozen=True)
class LinkOwner:
    """Whose links these are: one recipient of a campaign, or one inbox reply."""

    shop_id: str
    phone: str
    campaign_id: str | None = None
    reply_id: str | None = None

    def slot(self, n: int) -> str:
        """The key of the n-th link of this message: the same recipient of the same message gets the same code."""
        owner = f"campaign:{self.campaign_id}" if self.campaign_id else f"reply:{self.reply_id}"
        return f"{self.shop_id}#{owner}#{self.phone}#{n}"


def shorten(ports: Ports, text: str, owner: LinkOwner) -> str:
    """``text`` with every URL replaced by the owner's short link, each link stored before this returns."""
    return links.shorten(text, ports.link_base, lambda n, url: _code_for(ports, owner, n, url))


def _code_for(ports: Ports, owner: LinkOwner, n: int, url: str) -> str:
    slot = owner.slot(n)
    existing = ports.links.slot(slot)
    if existing is not None:
        return existing  # a redelivered batch: the code the first attempt made (and maybe sent)
    for _ in range(MAX_CODE_ATTEMPTS):
        link = Link(
            code=links.new_code(),
            shop_id=owner.shop_id,
            phone=owner.phone,
            target=url,
            created_at=ports.clock.now(),
            campaign_id=owner.campaign_id,
            reply_id=owner.reply_id,
        )
        # The link first, then the slot: a slot never names a code that does not resolve.
        if ports.links.create(link):
            return ports.links.take_slot(slot, link)
    raise TransientError("could not find a free short link code; retry")


@dataclass(frozen=True)
class Redirect:
    """Where a short link sends the browser, and whether the visit was counted as a click."""

    location: str
    counted: bool
    first: bool = False  # the recipient's first click on this link (a unique click)


def follow(ports: Ports, code: str, visit: Visit) -> Redirect | None:
    """The redirect for a short link (counting real clicks), or None for an unknown or malformed code."""
    if not links.is_code(code):
        return None  # before any read: hostile paths cost nothing and reach nothing
    link = ports.links.get(code)
    if link is None:
        return None
    location = links.with_utm(link.target, link.utm_campaign)
    if visit is not Visit.CLICK:
        return Redirect(location, counted=False)
    first = ports.links.record_click(link, ports.clock.now())
    return Redirect(location, counted=True, first=first)
