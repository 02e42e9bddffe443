"""SMS encoding and part counting (GSM 03.38 vs UCS-2), as carriers bill it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + septet = two).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM_SINGLE, GSM_MULTI = 160, 153  # septets; a multipart message spends 7 on the UDH
UCS2_SINGLE, UCS2_MULTI = 70, 67  # UTF-16 code units

# End User Messaging refuses bodies over 1,600 characters; ten parts is what carriers reassemble reliably.
MAX_CHARACTERS = 1600
MAX_PARTS = 10


class Encoding(str, Enum):
    """How the message travels over the air."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsShape:
    """What a body costs: its encoding, length in encoding units and number of billed parts."""

    characters: int
    encoding: Encoding
    units: int
    parts: int


def _is_gsm(text: str) -> bool:
    return all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text)


def measure(text: str) -> SmsShape:
    """Encoding, unit count and part count of ``text``."""
    if _is_gsm(text):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, multi, encoding = GSM_SINGLE, GSM_MULTI, Encoding.GSM7
    else:
        # Emoji are two code units, as on the handset. Counted by code point, not by encoding, so that a
        # lone surrogate (valid in a JSON string) is measured instead of crashing the caller.
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi, encoding = UCS2_SINGLE, UCS2_MULTI, Encoding.UCS2
    if units <= single:
        parts = 1 if units else 0
    elif units == len(text):
        parts = -(-units // multi)  # every character one unit: nothing to keep together, plain division
    else:
        # An escape pair or a surrogate pair is never split across parts, so count part by part.
        parts = _count_parts(text, multi, encoding)
    return SmsShape(characters=len(text), encoding=encoding, units=units, parts=parts)


def _count_parts(text: str, per_part: int, encoding: Encoding) -> int:
    parts, used = 1, 0
    for ch in text:
        if encoding is Encoding.GSM7:
            size = 2 if ch in _GSM_EXTENDED else 1
        else:
            size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units (an emoji is two), counted by code point so a lone surrogate cannot crash it."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def provider_length(text: str) -> int:
    """Length as End User Messaging's 1,600-character limit may count it: UTF-16 units, never fewer than the
    code points, so a body within it is within the limit whichever way the provider counts."""
    return utf16_units(text)


def fits(text: str, *, max_parts: int = MAX_PARTS) -> bool:
    """True when ``text`` is within the provider's character limit and ``max_parts`` parts."""
    return provider_length(text) <= MAX_CHARACTERS and measure(text).parts <= max_parts
