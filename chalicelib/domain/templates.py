"""Campaign text: personalisation with fallbacks, the opt-out hint, and what the result costs.

Placeholders are ``{first_name}``, ``{name}``, ``{shop_name}`` and ``{discount_code}`` (the campaign's code);
``{first_name|there}`` falls back to
"there" when the subscriber has no name. Anything else in braces is refused when the campaign is saved,
so a typo never reaches a phone as literal ``{frist_name}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.domain import encoding, links
from chalicelib.domain.errors import InvalidInput

OPT_OUT_HINT = "Reply STOP to opt out"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# The merchant's own words carry the opt-out; a subscriber named Christopher or a shop called "Stop & Shop" does not.
_MENTIONS_STOP = re.compile(r"\bstop\b", re.IGNORECASE | re.ASCII)
_FIELDS = frozenset({"first_name", "name", "shop_name", "discount_code"})
_FALLBACK_MAX = 30
MAX_MESSAGE_CHARACTERS = 1000  # leaves room in the 1,600 limit for names, links and the opt-out hint


@dataclass(frozen=True)
class Personal:
    """What a template may use about one recipient."""

    name: str | None = None
    shop_name: str = ""
    discount_code: str | None = None

    @property
    def first_name(self) -> str | None:
        if not self.name or not self.name.split():
            return None
        return self.name.split()[0]


def validate_template(text: object) -> str:
    """The template if it is usable; InvalidInput naming the problem otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("message must be non-empty text", code="invalid_message")
    if len(text) > MAX_MESSAGE_CHARACTERS:
        raise InvalidInput(f"message is over {MAX_MESSAGE_CHARACTERS} characters", code="message_too_long")
    stray = _PLACEHOLDER.sub("", text)
    if "{" in stray or "}" in stray:  # counts alone let "}x{" and "{{first_name}}" through
        raise InvalidInput("message has an unmatched { or }", code="invalid_placeholder")
    for match in _PLACEHOLDER.finditer(text):
        field, _, fallback = match.group(1).partition("|")
        if field.strip() not in _FIELDS:
            raise InvalidInput(
                f"unknown placeholder {{{match.group(1)}}}; use {', '.join('{' + f + '}' for f in sorted(_FIELDS))}",
                code="invalid_placeholder",
            )
        if len(fallback) > _FALLBACK_MAX:
            raise InvalidInput(f"placeholder fallback is over {_FALLBACK_MAX} characters", code="invalid_placeholder")
    return text


def render(template: str, who: Personal, *, opt_out_hint: bool) -> str:
    """The message one recipient gets."""

    def fill(match: re.Match[str]) -> str:
        field, _, fallback = match.group(1).partition("|")
        value = getattr(who, field.strip(), None)
        value = str(value).strip() if value else ""  # a whitespace-only name is no name
        return value or fallback

    text = _PLACEHOLDER.sub(fill, template).strip()
    if opt_out_hint and not _MENTIONS_STOP.search(_PLACEHOLDER.sub("", template)):
        text = f"{text}\n{OPT_OUT_HINT}"
    return text


def uses_discount_code(template: str) -> bool:
    """True when the template says ``{discount_code}`` (so the campaign needs a code)."""
    return any(m.group(1).partition("|")[0].strip() == "discount_code" for m in _PLACEHOLDER.finditer(template))


def measure_worst_case(
    template: str, shop_name: str, *, opt_out_hint: bool, link_base: str | None = None, discount_code: str | None = None
) -> encoding.SmsShape:
    """The shape with a long first name (20 characters) and every link as its short link (what is sent, when
    ``link_base`` is given), for previews and the size check."""
    who = Personal(name="Maximiliana-Josefina", shop_name=shop_name, discount_code=discount_code)
    text = render(template, who, opt_out_hint=opt_out_hint)
    if link_base is not None:
        text = links.shorten(text, link_base, lambda n, url: links.example_code())
    return encoding.measure(text)


def check_fits(
    template: str,
    shop_name: str,
    *,
    opt_out_hint: bool,
    mms: bool = False,
    link_base: str | None = None,
    discount_code: str | None = None,
) -> encoding.SmsShape:
    """Refuse a template that cannot be sent even for a long name: an SMS within 10 parts, an MMS (one part
    whatever its length) within the 1,600 characters End User Messaging accepts."""
    shape = measure_worst_case(template, shop_name, opt_out_hint=opt_out_hint, link_base=link_base, discount_code=discount_code)
    if mms:
        if shape.characters > encoding.MAX_CHARACTERS:
            raise InvalidInput(
                f"message would be {shape.characters} characters; an MMS takes at most {encoding.MAX_CHARACTERS}",
                code="message_too_long",
                details={"characters": shape.characters, "channel": "mms"},
            )
        return shape
    if shape.characters > encoding.MAX_CHARACTERS or shape.parts > encoding.MAX_PARTS:
        raise InvalidInput(
            f"message would be {shape.parts} SMS parts; at most {encoding.MAX_PARTS}",
            code="message_too_long",
            details={"parts": shape.parts, "encoding": shape.encoding.value},
        )
    return shape
