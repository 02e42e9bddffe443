"""Growing the list: the shop's shareable keyword link (an ``sms:`` URI a QR code can carry)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from chalicelib.domain.errors import Conflict
from chalicelib.domain.shops import Shop


@dataclass(frozen=True)
class ShareLink:
    """A link that opens the phone's messaging app with the shop's keyword typed, addressed to its number."""

    link: str
    keyword: str
    number: str


def sms_link(number: str, body: str) -> str:
    """An ``sms:`` URI to ``number`` (E.164, kept as is: RFC 5724 allows its ``+``) with ``body`` prefilled.

    RFC 5724 writes the body as ``sms:+15550100000?body=JOIN``; iOS 8+ reads the body only after ``&``
    (iOS 7 and older wanted ``;body=``), and Android splits the query on ``&`` and skips the empty first
    pair. ``?&body=`` is the one form both open with the text typed, and a strict RFC 5724 parser still
    finds a ``body`` field in it (an empty field before it carries nothing). The body is percent-encoded with
    nothing left safe: a space is ``%20`` (``+`` would be typed as a plus sign: this is not a form), and
    ``&``, ``#`` or ``?`` in it cannot end it early."""
    return f"sms:{number}?&body={quote(body, safe='')}"


def share_link(shop: Shop) -> ShareLink:
    """The shop's keyword link to its primary number; Conflict when it has no number or no keyword yet."""
    number = shop.primary
    if number is None:
        raise Conflict("the shop has no sender number yet; the operator assigns numbers", code="no_sender_number")
    keyword = (shop.settings.opt_in_keyword or "").strip()
    if not keyword:
        raise Conflict("the shop has no opt-in keyword; set one in Settings", code="no_opt_in_keyword")
    return ShareLink(link=sms_link(number, keyword), keyword=keyword, number=number)
