"""The storefront sign-up form: what a request must hold, the limits that keep it from being abused, and what a
request does to the number it names (pure rules; services/signup.py runs them).

Double opt-in: the form only asks. The number becomes a *pending* subscriber with the exact wording the form
showed, the page it was on and the time (the consent proof), and gets the shop's confirmation text; it becomes
active only when the person replies Y from that phone (services/inbound.py, the same path as the keyword). A form
anyone can post to would otherwise let anyone subscribe anyone.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from urllib.parse import urlsplit

import phonenumbers

from chalicelib.domain.errors import Conflict, InvalidInput
from chalicelib.domain.phones import FICTIONAL_PREFIX, normalize_phone
from chalicelib.domain.shops import ShopSettings
from chalicelib.domain.subscribers import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Source,
    Subscriber,
    SubscriberStatus,
)

MAX_PAGE_URL = 2048
# A request id the popup makes per submission (a UUID) and sends again on a retry: the same id never texts twice.
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_URL_TEXT = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces: what a browser's location.href is


@dataclass(frozen=True)
class SignupLimits:
    """How much one caller, one number and one shop may ask of the form in a window (fixed windows, per shop).

    The operator's, not the merchant's: they bound what an SMS-pumping attack can cost. An IP gets 5 requests an
    hour (a person retyping a number twice is fine, a script is not), a number 3 confirmation requests an hour
    whoever asks (so nobody can flood one phone), and a shop 500 requests an hour across every caller (so a botnet
    of many IPs and many numbers still costs at most that many texts)."""

    per_ip: int = 5
    per_phone: int = 3
    per_shop: int = 500
    window: timedelta = timedelta(hours=1)


class LimitScope(str, Enum):
    """What a sign-up counter counts."""

    IP = "ip"
    PHONE = "phone"
    SHOP = "shop"


@dataclass(frozen=True)
class Window:
    """A fixed counting window [start, end)."""

    start: datetime
    end: datetime

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the window ends (at least 1), for a Retry-After header."""
        return max(1, int((self.end - now).total_seconds() + 0.999))


def window_at(at: datetime, length: timedelta) -> Window:
    """The fixed window holding ``at``: windows of ``length`` counted from the Unix epoch, in UTC."""
    seconds = int(length.total_seconds())
    epoch = int(at.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % seconds, timezone.utc)
    return Window(start, start + length)


def counter_key(shop_id: str, scope: LimitScope, subject: str, window: Window) -> str:
    """The counter of one subject in one window. The subject (an IP address, a phone) is kept only as a hash:
    the counters are for counting, and expire soon after their window (see the RateLimiter port)."""
    digest = hashlib.sha256(f"{shop_id}#{scope.value}#{subject}".encode()).hexdigest()[:40]
    return f"signup#{shop_id}#{scope.value}#{digest}#{int(window.start.timestamp())}"


def limit_of(limits: SignupLimits, scope: LimitScope) -> int:
    """The most requests ``scope`` allows in one window."""
    return {LimitScope.IP: limits.per_ip, LimitScope.PHONE: limits.per_phone, LimitScope.SHOP: limits.per_shop}[scope]


@dataclass(frozen=True)
class SignupRequest:
    """A checked request of the form: the number in E.164, the wording that was shown and where, when, and the
    submission's id (its retry carries the same one)."""

    shop_id: str
    phone: str
    consent_text: str
    page_url: str
    at: datetime
    request_id: str

    @property
    def digest(self) -> str:
        """A name for this submission that holds no phone number (dedupe and claim keys live past an erasure)."""
        return hashlib.sha256(f"{self.shop_id}#{self.phone}#{self.request_id}".encode()).hexdigest()


def check_page_url(url: str) -> str:
    """The page the form was on: an absolute http(s) URL of printable ASCII (what ``location.href`` gives),
    without credentials; anything else is InvalidInput ``invalid_page_url``."""
    if not isinstance(url, str) or len(url) > MAX_PAGE_URL or not _URL_TEXT.fullmatch(url):
        raise InvalidInput(f"page_url must be an http(s) URL of at most {MAX_PAGE_URL} characters", code="invalid_page_url")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # an unclosed "[" and the like
        raise InvalidInput("page_url must be an http(s) URL", code="invalid_page_url") from exc
    if parts.scheme not in ("http", "https") or not host or parts.username is not None or "<" in url or ">" in url:
        raise InvalidInput("page_url must be an http(s) URL of the page the form is on", code="invalid_page_url")
    return url


def check_request_id(request_id: str) -> str:
    """8 to 64 letters, digits, ``-`` or ``_`` (a UUID fits)."""
    if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
        raise InvalidInput("request_id must be 8 to 64 letters, digits, '-' or '_'", code="invalid_request_id")
    return request_id


def signup_phone(typed: str, country: str, settings: ShopSettings, *, allow_fictional: bool) -> str:
    """The number as typed (national form read in ``country``, the form's country choice, or international with
    +) in E.164, if it is a number of a country the shop takes sign-ups from. InvalidInput ``invalid_phone`` or
    ``country_not_allowed`` (which says nothing about whether the number is subscribed)."""
    allowed = settings.signup_countries
    if country not in allowed:
        raise InvalidInput(f"country must be one of {', '.join(allowed)}", code="country_not_allowed")
    e164 = normalize_phone(typed, default_region=country, allow_fictional=allow_fictional)
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164))
    if region is None and allow_fictional and e164.startswith(FICTIONAL_PREFIX):
        region = "US"  # +1 555 numbers belong to no region; devstack's and the tests' phones are American
    if region not in allowed:
        raise InvalidInput(f"this form takes numbers of {', '.join(allowed)} only", code="country_not_allowed")
    return e164


def consent_wording(settings: ShopSettings) -> str:
    """The wording the form shows, with the shop's name filled in."""
    return settings.render(settings.signup_consent_text)


def check_consent_text(shown: str, settings: ShopSettings) -> str:
    """The wording the form says it showed must be the shop's current wording: the consent record keeps what the
    person read, and a client cannot make it keep anything else. Conflict ``consent_text_changed`` when the
    merchant changed it since the form loaded (the popup then reloads it)."""
    current = consent_wording(settings)
    if " ".join(shown.split()) != " ".join(current.split()):
        raise Conflict("the sign-up wording changed since the form loaded; reload it", code="consent_text_changed")
    return current


class SignupOutcome(str, Enum):
    """What a sign-up request did to its number. Never told to the caller: every one answers the same."""

    REQUESTED = "requested"  # a new number: pending, confirmation texted
    ASKED_AGAIN = "asked_again"  # still pending: the confirmation texted again
    ALREADY_ACTIVE = "already_active"  # subscribed already: nothing sent
    OPTED_OUT = "opted_out"  # said STOP: nothing sent, nothing changed (only their own START brings them back)
    SUPPRESSED = "suppressed"  # erased at the person's request: never subscribed again
    PHONE_LIMITED = "phone_limited"  # the number had its confirmations for this window: nothing sent
    NOT_SENT = "not_sent"  # the confirmation could not go out (the provider throttled or refused it)


@dataclass(frozen=True)
class SignupPlan:
    """What to write (the pending subscriber, the REQUESTED consent event) and whether to text the confirmation."""

    outcome: SignupOutcome
    subscriber: Subscriber | None = None
    event: ConsentEvent | None = None

    @property
    def texts(self) -> bool:
        """True when the confirmation text goes out."""
        return self.outcome in (SignupOutcome.REQUESTED, SignupOutcome.ASKED_AGAIN)


def decide(request: SignupRequest, existing: Subscriber | None, *, suppressed: bool) -> SignupPlan:
    """The one decision table of a sign-up. Opted-out and erased numbers are never texted nor changed; an active
    subscriber is not texted again (they consented already, and a confirmation they did not ask for is noise and
    a cost an attacker could run up); a pending one is asked again (within the phone limit)."""
    if suppressed:
        return SignupPlan(SignupOutcome.SUPPRESSED)
    status = existing.status if existing else None
    if status is SubscriberStatus.OPTED_OUT:
        return SignupPlan(SignupOutcome.OPTED_OUT)
    if status is SubscriberStatus.ACTIVE:
        return SignupPlan(SignupOutcome.ALREADY_ACTIVE)
    event = ConsentEvent(
        shop_id=request.shop_id,
        phone=request.phone,
        at=request.at,
        event_id=f"signup-{request.digest[:32]}",
        action=ConsentAction.REQUESTED,
        source=ConsentSource.WEB,
        text=request.consent_text,
        page_url=request.page_url,
    )
    if existing is not None:
        # Pending already (from the keyword or the form): the record keeps this request too, the status is as is.
        return SignupPlan(SignupOutcome.ASKED_AGAIN, None, event)
    pending = Subscriber(
        shop_id=request.shop_id,
        phone=request.phone,
        status=SubscriberStatus.PENDING,
        source=Source.SIGNUP,
        joined_at=request.at,
        updated_at=request.at,
    )
    return SignupPlan(SignupOutcome.REQUESTED, pending, event)
