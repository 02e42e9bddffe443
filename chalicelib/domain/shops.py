"""A shop and its settings: the rules a merchant sets, validated field by field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from chalicelib.domain import encoding
from chalicelib.domain.errors import InvalidInput, ShopUninstalled
from chalicelib.domain.keywords import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS, validate_join_keyword
from chalicelib.domain.phones import is_region, normalize_phone

# Compliance texts answer in one reply; two parts is the most carriers are sure to stitch back.
COMPLIANCE_TEXT_MAX_PARTS = 2
MAX_MPS = 3000  # End User Messaging's highest 10DLC throughput tier
# Settings stored before sender numbers became the operator's: their merchant-set "mps" is no limit any more.
_RETIRED_FIELDS = frozenset({"mps"})
# fullmatch and [0-9]: `$` lets "21:00\n" through and `\d` takes any Unicode digit.
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_SHOP_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{1,99}$")
# The sign-up form's wording is shown on a web page, not texted: a paragraph, not SMS parts.
SIGNUP_CONSENT_TEXT_MAX = 600
MAX_SIGNUP_COUNTRIES = 50


@dataclass(frozen=True)
class QuietHours:
    """The shop's own no-send window in recipient-local time; it may wrap midnight (21:00-09:00)."""

    enabled: bool = True
    start: time = time(21, 0)
    end: time = time(9, 0)

    def contains(self, local: time) -> bool:
        """True when ``local`` (a wall-clock time) falls inside the window; end is exclusive."""
        if not self.enabled or self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``messages`` campaign messages per subscriber in any ``days`` days."""

    messages: int
    days: int


@dataclass(frozen=True)
class ShopSettings:
    """Everything a merchant can set. Defaults are safe: quiet hours on.

    ``sender_number`` is the shop's primary number (Inbox replies, keyword confirmations, welcome texts),
    chosen among the numbers the operator assigned to the shop (``Shop.numbers``); the rate each number may
    send at is the operator's, not the merchant's (a merchant cannot raise a carrier's limit)."""

    shop_name: str = "Our store"
    timezone: str = "America/New_York"
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    sender_number: str | None = None
    opt_in_keyword: str = "JOIN"
    welcome_text: str = (
        "Welcome to {shop_name} texts! Msg frequency varies. Msg&data rates may apply. Reply HELP for help, STOP to opt out."
    )
    confirm_text: str = (
        "{shop_name}: reply Y to confirm you want marketing texts. Msg&data rates may apply. Reply STOP to cancel."
    )
    stop_text: str = "{shop_name}: you are unsubscribed and will get no more messages. Reply START to resubscribe."
    help_text: str = "{shop_name}: for help reply to this message. Msg&data rates may apply. Reply STOP to opt out."
    opt_out_hint: bool = True
    attribution_window_days: int = 5
    frequency_cap: FrequencyCap | None = None
    # The storefront sign-up form (POST /signup/{shop}): the countries whose numbers it takes, and the wording it
    # shows beside the phone field. US and Canada by default: the sender numbers the operator leases (toll-free,
    # 10DLC, short codes) are North American, and every other country a form accepts is a country an SMS-pumping
    # attacker can make the shop pay international rates to; a shop that sells abroad adds its countries.
    signup_countries: tuple[str, ...] = ("US", "CA")
    signup_consent_text: str = (
        "By submitting this form, you agree to receive recurring automated marketing text messages from {shop_name} "
        "at the number provided. Consent is not a condition of purchase. Msg frequency varies. Msg&data rates may "
        "apply. Reply HELP for help, STOP to cancel."
    )

    def render(self, text: str) -> str:
        """A compliance text with the shop's name filled in."""
        return text.replace("{shop_name}", self.shop_name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the API returns and the store keeps."""
        data = asdict(self)
        data["quiet_hours"] = self.quiet_hours.to_dict()
        data["frequency_cap"] = asdict(self.frequency_cap) if self.frequency_cap else None
        data["signup_countries"] = list(self.signup_countries)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShopSettings:
        """Rebuild stored settings; stored data was validated on the way in (by the rules of its day, so a
        text saved before a compliance rule existed still loads)."""
        kept = {name: value for name, value in data.items() if name not in _RETIRED_FIELDS}
        return apply_patch(cls(), kept, allow_fictional=True, check_compliance=False)


@dataclass(frozen=True)
class SenderNumber:
    """One of the deployment's origination numbers as the operator assigned it to a shop: its rate in message
    parts per second (the carrier's, stated by the operator: e.g. 3 toll-free, 100 short code) and its kind as
    the End User Messaging account reports it (TOLL_FREE, SHORT_CODE, TEN_DLC, SIMULATOR ...)."""

    number: str
    mps: int
    kind: str = "UNKNOWN"

    def __post_init__(self) -> None:
        if isinstance(self.mps, bool) or not isinstance(self.mps, int) or not 1 <= self.mps <= MAX_MPS:
            raise InvalidInput(f"mps must be a whole number from 1 to {MAX_MPS}", code="invalid_mps")

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "mps": self.mps, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SenderNumber:
        return cls(number=str(data["number"]), mps=int(data["mps"]), kind=str(data.get("kind") or "UNKNOWN"))


@dataclass(frozen=True)
class Shop:
    """A merchant's store: the tenant every record belongs to."""

    shop_id: str
    settings: ShopSettings
    version: int = 0
    uninstalled_at: datetime | None = None  # app/uninstalled: nothing is sent for the shop any more
    # The shop's pool: every number the operator assigned to it, in assignment order (never set by the merchant).
    numbers: tuple[SenderNumber, ...] = ()

    @property
    def primary(self) -> str | None:
        """The number one-to-one texts come from: the merchant's choice while it is still assigned, else the
        first number assigned (None when the shop has no number at all)."""
        chosen = self.settings.sender_number
        if chosen is not None and self.owns(chosen):
            return chosen
        return self.numbers[0].number if self.numbers else None

    @property
    def total_mps(self) -> int:
        """The pool's combined rate in parts per second (at least 1, so a shop without numbers still paces)."""
        return max(sum(n.mps for n in self.numbers), 1)

    def owns(self, number: str | None) -> bool:
        """True when ``number`` is one of the shop's assigned numbers."""
        return number is not None and any(n.number == number for n in self.numbers)

    def number_list(self) -> list[str]:
        """The pool's numbers (every opt-out list the shop's subscribers must be on)."""
        return [n.number for n in self.numbers]

    def with_number(self, sender: SenderNumber) -> Shop:
        """The shop once the operator assigned ``sender`` (assigning it again restates its rate and kind). The
        first number a shop gets becomes its primary, so a newly onboarded shop can reply at once."""
        if self.owns(sender.number):
            numbers = tuple(sender if n.number == sender.number else n for n in self.numbers)
        else:
            numbers = (*self.numbers, sender)
        settings = self.settings
        if not self.owns(settings.sender_number):
            settings = replace(settings, sender_number=self.primary or sender.number)
        return replace(self, numbers=numbers, settings=settings)

    def without_number(self, number: str) -> Shop:
        """The shop once ``number`` was unassigned: a primary that was it falls back to the first number left."""
        numbers = tuple(n for n in self.numbers if n.number != number)
        settings = self.settings
        if settings.sender_number == number or not self.owns(settings.sender_number):
            settings = replace(settings, sender_number=numbers[0].number if numbers else None)
        return replace(self, numbers=numbers, settings=settings)

    @property
    def installed(self) -> bool:
        """False once the merchant uninstalled the app: no campaign, reply or auto-reply goes out."""
        return self.uninstalled_at is None

    def require_installed(self) -> None:
        """Raise ShopUninstalled when the app was uninstalled."""
        if not self.installed:
            raise ShopUninstalled(f"{self.shop_id} uninstalled the app; nothing is sent for it")


def validate_shop_id(shop_id: str) -> str:
    """Shop ids are lower-case domains such as 'demo.myshopify.com'."""
    if not isinstance(shop_id, str) or not _SHOP_ID.fullmatch(shop_id):
        raise InvalidInput("shop id must be a lower-case domain", code="invalid_shop")
    return shop_id


def _bad(name: str, why: str) -> InvalidInput:
    return InvalidInput(f"{name}: {why}", code="invalid_settings", details={"field": name})


def _int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(name, f"must be a whole number from {low} to {high}")
    return value


def _has_lone_surrogate(value: str) -> bool:
    # JSON may carry "\ud83d" alone; no carrier, and no UTF-8 store, can take it.
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)


def _hhmm(name: str, value: Any) -> time:
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        raise _bad(name, "must be a time as HH:MM (24-hour)")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _text(name: str, value: Any, *, max_parts: int = COMPLIANCE_TEXT_MAX_PARTS, shop_name: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, "must be non-empty text")
    if _has_lone_surrogate(value):
        raise _bad(name, "must be valid Unicode text")
    rendered = value.replace("{shop_name}", shop_name)
    if not encoding.fits(rendered, max_parts=max_parts):
        shape = encoding.measure(rendered)
        raise _bad(name, f"is {shape.parts} SMS parts ({shape.encoding.value}); at most {max_parts} allowed")
    return value


# What carriers (CTIA) require of the two answers a subscriber can always ask for: each names the shop;
# the STOP answer confirms the opt-out (or says how to opt back in); the HELP answer says how to get help
# and how to opt out.
_UNSUBSCRIBED = re.compile(
    r"unsubscribed|opted[ -]out|no (?:more|further) (?:messages|texts|msgs)|(?:will not|won't) (?:receive|get)"
)
_HELP_CONTACT = re.compile(r"\bhelp\b|\bsupport\b|\bcontact\b|\bcall\b|\bemail\b|@|https?://|www\.|[0-9]{3}")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Z0-9-]+", text.upper()))


def _compliance(name: str, value: str, shop_name: str) -> None:
    """Refuse a STOP or HELP answer that lost what carriers require."""
    if name not in ("stop_text", "help_text"):
        return
    folded = value.casefold()
    if "{shop_name}" not in value and shop_name.casefold() not in folded:
        raise _bad(name, "must name the shop: write {shop_name} or the shop's name")
    if name == "stop_text" and not (_UNSUBSCRIBED.search(folded) or _words(value) & OPT_IN_WORDS):
        raise _bad(name, "must confirm the opt-out (e.g. 'you are unsubscribed') or say how to opt back in (START)")
    if name == "help_text":
        if not _HELP_CONTACT.search(folded) and not _words(value) & HELP_WORDS:
            raise _bad(name, "must say how to get help (reply, email, phone or link)")
        if not _words(value) & OPT_OUT_WORDS:
            raise _bad(name, "must say how to opt out (e.g. 'Reply STOP to opt out')")


# What carriers (CTIA) and the TCPA ask of the wording next to a phone field that signs people up for marketing
# texts: who sends them, that they recur, that rates may apply, and how to stop.
_RATES = re.compile(r"\brates?\b")
_FREQUENCY = re.compile(r"frequen|recurring|\b[0-9]+\s*(?:msgs?|messages|texts)\b")


def _signup_consent_text(value: Any, shop_name: str, *, check_compliance: bool) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > SIGNUP_CONSENT_TEXT_MAX:
        raise _bad("signup_consent_text", f"must be text of 1 to {SIGNUP_CONSENT_TEXT_MAX} characters")
    if _has_lone_surrogate(value):
        raise _bad("signup_consent_text", "must be valid Unicode text")
    if not check_compliance:
        return value
    folded = value.casefold()
    if "{shop_name}" not in value and shop_name.casefold() not in folded:
        raise _bad("signup_consent_text", "must name the shop: write {shop_name} or the shop's name")
    if not _FREQUENCY.search(folded):
        raise _bad("signup_consent_text", "must say the texts recur (e.g. 'Msg frequency varies' or '4 msgs/month')")
    if not _RATES.search(folded):
        raise _bad("signup_consent_text", "must say rates may apply (e.g. 'Msg&data rates may apply')")
    if not _words(value) & OPT_OUT_WORDS:
        raise _bad("signup_consent_text", "must say how to opt out (e.g. 'Reply STOP to cancel')")
    return value


def _signup_countries(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_SIGNUP_COUNTRIES:
        raise _bad("signup_countries", f"must be a list of 1 to {MAX_SIGNUP_COUNTRIES} country codes")
    codes: list[str] = []
    for code in value:
        if not isinstance(code, str) or not is_region(code):
            raise _bad("signup_countries", f"{code!r} is not an ISO 3166 country code with phone numbers (e.g. US)")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def _quiet_hours(current: QuietHours, value: Any) -> QuietHours:
    if not isinstance(value, dict):
        raise _bad("quiet_hours", "must be an object with enabled, start, end")
    unknown = set(value) - {"enabled", "start", "end"}
    if unknown:
        raise _bad("quiet_hours", f"unknown fields {sorted(unknown)}")
    result = current
    if "enabled" in value:
        if not isinstance(value["enabled"], bool):
            raise _bad("quiet_hours.enabled", "must be true or false")
        result = replace(result, enabled=value["enabled"])
    if "start" in value:
        result = replace(result, start=_hhmm("quiet_hours.start", value["start"]))
    if "end" in value:
        result = replace(result, end=_hhmm("quiet_hours.end", value["end"]))
    if _open_minutes(result) < MIN_OPEN_MINUTES:
        raise _bad(
            "quiet_hours",
            "leaves less than an hour to send between 12:00 and 20:00, the hours every state's law allows",
        )
    return result


# 12:00-20:00 is what the strictest legal windows share (Connecticut 9-20 on weekdays, Texas 12-21 on
# Sundays). Quiet hours must leave at least an hour of it, or some recipients could never be reached.
_ALWAYS_LEGAL = (12 * 60, 20 * 60)
MIN_OPEN_MINUTES = 60


def _open_minutes(quiet: QuietHours) -> int:
    start, end = _ALWAYS_LEGAL
    return sum(1 for m in range(start, end) if not quiet.contains(time(m // 60, m % 60)))


def _frequency_cap(value: Any) -> FrequencyCap | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"messages", "days"}:
        raise _bad("frequency_cap", "must be null or an object with messages and days")
    return FrequencyCap(
        messages=_int("frequency_cap.messages", value["messages"], 1, 100), days=_int("frequency_cap.days", value["days"], 1, 90)
    )


@cache
def _known_timezones() -> frozenset[str]:
    """The IANA names this runtime knows: read once, since each read walks the whole timezone database (about
    45 ms, and every shop read validates its settings; found by the chaos rounds)."""
    return frozenset(available_timezones())


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or value not in _known_timezones():
        raise _bad("timezone", "must be an IANA timezone such as America/New_York")
    ZoneInfo(value)
    return value


SETTINGS_FIELDS = frozenset(ShopSettings.__dataclass_fields__)


def apply_patch(
    current: ShopSettings, patch: Mapping[str, Any], *, allow_fictional: bool = False, check_compliance: bool = True
) -> ShopSettings:
    """Return ``current`` with ``patch`` applied, refusing unknown fields and invalid values whole."""
    if not isinstance(patch, Mapping):
        raise InvalidInput("settings must be a JSON object", code="invalid_settings")
    unknown = set(patch) - SETTINGS_FIELDS
    if unknown:
        raise InvalidInput(
            f"unknown settings fields: {sorted(unknown)}", code="unknown_field", details={"fields": sorted(unknown)}
        )
    changes: dict[str, Any] = {}
    if "shop_name" in patch:
        name = patch["shop_name"]
        if not isinstance(name, str) or not name.strip() or len(name) > 60 or _has_lone_surrogate(name):
            raise _bad("shop_name", "must be 1-60 characters")
        changes["shop_name"] = name.strip()
    shop_name = changes.get("shop_name", current.shop_name)
    if "timezone" in patch:
        changes["timezone"] = _timezone(patch["timezone"])
    if "quiet_hours" in patch:
        changes["quiet_hours"] = _quiet_hours(current.quiet_hours, patch["quiet_hours"])
    if "sender_number" in patch:
        value = patch["sender_number"]
        changes["sender_number"] = None if value is None else _sender(value, allow_fictional)
    if "opt_in_keyword" in patch:
        try:
            changes["opt_in_keyword"] = (
                validate_join_keyword(patch["opt_in_keyword"]) if isinstance(patch["opt_in_keyword"], str) else None
            )
        except ValueError as exc:
            raise _bad("opt_in_keyword", str(exc)) from exc
        if changes["opt_in_keyword"] is None:
            raise _bad("opt_in_keyword", "must be text")
    for name in ("welcome_text", "confirm_text", "stop_text", "help_text"):
        if name in patch:
            changes[name] = _text(name, patch[name], shop_name=shop_name)
        elif "shop_name" in changes:
            # A new name changes every rendered text, so the kept ones must still fit and still name the shop.
            _text(name, getattr(current, name), shop_name=shop_name)
        if check_compliance and (name in patch or "shop_name" in changes):
            _compliance(name, changes.get(name, getattr(current, name)), shop_name)
    if "opt_out_hint" in patch:
        if not isinstance(patch["opt_out_hint"], bool):
            raise _bad("opt_out_hint", "must be true or false")
        changes["opt_out_hint"] = patch["opt_out_hint"]
    if "attribution_window_days" in patch:
        changes["attribution_window_days"] = _int("attribution_window_days", patch["attribution_window_days"], 1, 30)
    if "frequency_cap" in patch:
        changes["frequency_cap"] = _frequency_cap(patch["frequency_cap"])
    if "signup_countries" in patch:
        changes["signup_countries"] = _signup_countries(patch["signup_countries"])
    if "signup_consent_text" in patch or ("shop_name" in changes and check_compliance):
        # A new name must still be named by the wording (when it names the shop by name, not by {shop_name}).
        text = patch.get("signup_consent_text", current.signup_consent_text)
        changes["signup_consent_text"] = _signup_consent_text(text, shop_name, check_compliance=check_compliance)
    return replace(current, **changes)


def _sender(value: Any, allow_fictional: bool) -> str:
    try:
        return normalize_phone(value, allow_fictional=allow_fictional)
    except InvalidInput as exc:
        raise _bad("sender_number", exc.message) from exc
