"""Tracked links: shorten a message for one recipient before it is sent, and follow a short link."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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
    return shorten_many(ports, [(text, owner)])[0]


def shorten_many(ports: Ports, messages: Sequence[tuple[str, LinkOwner]]) -> list[str]:
    """Each message with its URLs replaced by its owner's short links, in one write per 50 links however many
    messages: the send path shortens a whole batch at once. Nothing is read first: a slot is written only if it
    is new, so a redelivery's write finds the codes the first attempt stored (and maybe sent) and uses those."""
    wanted: dict[str, tuple[LinkOwner, str]] = {}
    for text, owner in messages:

        def note(n: int, url: str, owner: LinkOwner = owner) -> str:
            wanted.setdefault(owner.slot(n), (owner, url))
            return links.example_code()

        links.shorten(text, ports.link_base, note)
    codes: dict[str, str] = {}
    for _ in range(MAX_CODE_ATTEMPTS):
        missing = [slot for slot in wanted if slot not in codes]
        if not missing:
            break
        now = ports.clock.now()
        fresh = [(slot, _link(wanted[slot], now)) for slot in missing]
        # The link and its slot together, each only if new: no slot ever names a code that does not resolve.
        codes.update(ports.links.create(fresh))
    else:
        raise TransientError("could not find free short link codes; retry")
    shortened: list[str] = []
    for text, owner in messages:

        def code(n: int, _url: str, owner: LinkOwner = owner) -> str:
            return codes[owner.slot(n)]

        shortened.append(links.shorten(text, ports.link_base, code))
    return shortened


def _link(wanted: tuple[LinkOwner, str], at: datetime) -> Link:
    owner, url = wanted
    return Link(
        code=links.new_code(),
        shop_id=owner.shop_id,
        phone=owner.phone,
        target=url,
        created_at=at,
        campaign_id=owner.campaign_id,
        reply_id=owner.reply_id,
    )


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
