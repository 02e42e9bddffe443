"""Phone numbers: everything is E.164 inside smscast; this is the one place that parses them."""

from __future__ import annotations

import re
from urllib.parse import unquote

import phonenumbers
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezones

from chalicelib.domain.errors import InvalidInput

# NANP area code 555 is reserved for fiction and testing; devstack and tests use it so that no
# real person can ever be texted by a demo. Production refuses it (see Settings.allow_fictional_numbers).
FICTIONAL_PREFIX = "+1555"
# phonenumbers digs a number out of any text ('call me at 212...', '212-555-1234 ext 9', vanity letters,
# control characters) and drops extensions; a field that holds a phone must hold only a phone.
_PHONE_CHARS = re.compile(r"\+?[0-9 \t\u00a0().\-/]+")  # NBSP: numbers pasted from web pages


def normalize_phone(raw: object, *, default_region: str = "US", allow_fictional: bool = False) -> str:
    """Return the E.164 form of ``raw`` or raise InvalidInput with a reason a person can act on."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("phone must be a non-empty string", code="invalid_phone")
    text = unquote(raw.strip())
    if len(text) > 32:
        raise InvalidInput("phone is too long", code="invalid_phone")
    if not _PHONE_CHARS.fullmatch(text):
        raise InvalidInput(f"phone may hold only digits, spaces, '()./-' and a leading '+': {text!r}", code="invalid_phone")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"not a phone number: {text!r}", code="invalid_phone") from exc
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(parsed):
        return e164
    # IS_POSSIBLE, not is_possible_number(): that also passes 7-digit local-only numbers ('+15551230').
    possible = phonenumbers.is_possible_number_with_reason(parsed) == phonenumbers.ValidationResult.IS_POSSIBLE
    if allow_fictional and e164.startswith(FICTIONAL_PREFIX) and possible:
        return e164
    raise InvalidInput(f"not a valid phone number: {text!r}", code="invalid_phone")


def is_region(code: str) -> bool:
    """True for an upper-case ISO 3166 alpha-2 code phonenumbers knows numbers of ('US', 'CA', 'FR')."""
    return code in phonenumbers.SUPPORTED_REGIONS


def region_of(e164: str) -> str | None:
    """ISO country code of an E.164 number, e.g. 'US'; None when unknown."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164))


def timezones_of(e164: str) -> tuple[str, ...]:
    """Every IANA timezone the number may be in; empty when the number says nothing useful."""
    zones = phone_timezones.time_zones_for_number(phonenumbers.parse(e164))
    return tuple(z for z in zones if z != "Etc/Unknown")


def place_of(e164: str) -> str:
    """Where the number is registered ('Texas', 'New York, NY'); '' when unknown."""
    return str(geocoder.description_for_number(phonenumbers.parse(e164), "en"))
