"""Tracked links: finding URLs in a message, short codes, the redirect target with UTM, and who is counted.

A per-recipient short link ``<link base>/r/<code>`` replaces every http(s) URL of a campaign message or an
inbox reply at send time. Codes are 9 characters of a 62-letter alphabet (53 random bits), so they cannot be
guessed or walked; anything else under /r/ is refused before any read.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit

DEFAULT_LINK_BASE = "http://127.0.0.1:8000"  # devstack's address; deployments set SMSCAST_LINK_DOMAIN
CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CODE_LENGTH = 9  # 62**9 > 2**53: well above the 48 random bits a code must carry
_CODE = re.compile(rf"[0-9A-Za-z]{{{CODE_LENGTH}}}")
# A URL runs to the next whitespace or angle bracket/quote; trailing sentence punctuation is not part of it.
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"
UTM_SOURCE = "smscast"
UTM_MEDIUM = "sms"
INBOX_UTM_CAMPAIGN = "inbox"  # reply links have no campaign
_UTM_KEYS = frozenset({"utm_source", "utm_medium", "utm_campaign"})
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"

# Link-preview fetchers (iMessage and most chat apps fetch a link to draw a card): redirected, never counted.
PREVIEW_AGENTS: tuple[str, ...] = (
    "facebookexternalhit",
    "facebookcatalog",
    "twitterbot",
    "slackbot",
    "slack-imgproxy",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "googlebot",
    "bingbot",
    "applebot",
    "embedly",
    "pinterest",
    "redditbot",
    "vkshare",
    "viber",
    "snapchat",
    "bitlybot",
    "iframely",
    "outbrain",
    "quora link preview",
    "google-pagerenderer",
)


def new_code() -> str:
    """A fresh random short code."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_code(text: str) -> bool:
    """True when ``text`` has the shape of a code (checked before any read, so hostile paths cost nothing)."""
    return bool(_CODE.fullmatch(text))


def short_url(link_base: str, code: str) -> str:
    """The link a recipient gets."""
    return f"{link_base.rstrip('/')}/r/{code}"


def find_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) of every http(s) URL in ``text``, trailing punctuation left out."""
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        if end - start > len("https://"):
            spans.append((start, end))
    return spans


def shorten(text: str, link_base: str, code_for: Callable[[int, str], str]) -> str:
    """``text`` with every URL replaced by its short link; ``code_for(n, url)`` gives the code of the n-th URL.
    URLs already under ``link_base`` (shortened before) stay as they are."""
    base = link_base.rstrip("/").lower() + "/r/"
    out: list[str] = []
    last = 0
    n = 0
    for start, end in find_urls(text):
        url = text[start:end]
        out.append(text[last:start])
        if url.lower().startswith(base):
            out.append(url)
        else:
            out.append(short_url(link_base, code_for(n, url)))
            n += 1
        last = end
    out.append(text[last:])
    return "".join(out)


def example_code() -> str:
    """A stand-in code of the real length, for previews and size checks."""
    return "x" * CODE_LENGTH


def example_short_url(link_base: str) -> str:
    """A short link of the real length, for previews and size checks."""
    return short_url(link_base, example_code())


def with_utm(target: str, campaign: str) -> str:
    """``target`` with utm_source/medium/campaign set, its own query (other keys) and fragment kept."""
    try:
        parts = urlsplit(target)
    except ValueError:  # a link the shop wrote malformed ("https://[oops"): sent on as written, without UTM
        return quote(target, safe=_URL_SAFE)
    # The target's own pairs stay byte for byte (re-encoding them could change what the shop's site reads);
    # only utm pairs it already had give way to ours.
    own = [pair for pair in parts.query.split("&") if pair and unquote_plus(pair.partition("=")[0]) not in _UTM_KEYS]
    utm = urlencode([("utm_source", UTM_SOURCE), ("utm_medium", UTM_MEDIUM), ("utm_campaign", campaign)])
    url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "&".join([*own, utm]), parts.fragment))
    # A Location header is ASCII: anything else (an accented path, a stray control character) is percent-encoded,
    # while what is already encoded or reserved stays as the shop wrote it.
    return quote(url, safe=_URL_SAFE)


def is_preview_agent(user_agent: str | None) -> bool:
    """True for link-preview fetchers (they open every link a message holds, nobody tapped it)."""
    if not user_agent:
        return False
    agent = user_agent.lower()
    return any(name in agent for name in PREVIEW_AGENTS)


@dataclass(frozen=True)
class Link:
    """One short link of one recipient: of a campaign message or of an inbox reply."""

    code: str
    shop_id: str
    phone: str
    target: str
    created_at: datetime
    campaign_id: str | None = None
    reply_id: str | None = None
    clicks: int = 0
    first_clicked_at: datetime | None = None

    @property
    def utm_campaign(self) -> str:
        """What utm_campaign says for this link."""
        return self.campaign_id or INBOX_UTM_CAMPAIGN


class Visit(str, Enum):
    """Whether opening a link counts as a click."""

    CLICK = "click"
    PREVIEW = "preview"  # a link-preview fetcher: redirected, not counted
    HEAD = "head"  # a HEAD request: redirected, not counted

    @classmethod
    def of(cls, method: str, user_agent: str | None) -> Visit:
        """Classify one request to a short link."""
        if method.upper() == "HEAD":
            return cls.HEAD
        if is_preview_agent(user_agent):
            return cls.PREVIEW
        return cls.CLICK


@dataclass(frozen=True)
class Click:
    """A counted click, remembered for attribution (latest click by phone within the window)."""

    shop_id: str
    phone: str
    code: str
    at: datetime
    campaign_id: str | None = None
