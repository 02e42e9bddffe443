"""Campaign text: personalisation with fallbacks, the opt-out hint, and what the result costs.

Placeholders are ``{first_name}``, ``{name}``, ``{shop_name}`` and ``{discount_code}`` (the campaign's code);
``{first_name|there}`` falls back to
"there" when the subscriber has no name. Anything else in braces is refused when the campaign is saved,
so a typo never reaches a phone as literal ``{frist_name}``.

A subscriber's name is theirs, not the merchant's: it may be long, accented (one "ë" turns a 160-character GSM
part into a 70-character UCS-2 one), full of emoji, control or direction characters. ``render`` cleans it, cuts
it to ``FIELD_MAX`` and keeps every message within the provider's 1,600 characters and within ``max_parts_for``
(what the preview shows as the most a recipient can cost), falling back when a name would push past it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from chalicelib.domain import encoding, links
from chalicelib.domain.errors import InvalidInput

OPT_OUT_HINT = "Reply STOP to opt out"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# The merchant's own words carry the opt-out; a subscriber named Christopher or a shop called "Stop & Shop" does not.
_MENTIONS_STOP = re.compile(r"\bstop\b", re.IGNORECASE | re.ASCII)
_FIELDS = frozenset({"first_name", "name", "shop_name", "discount_code"})
_FALLBACK_MAX = 30
MAX_MESSAGE_CHARACTERS = 1000  # leaves room in the 1,600 limit for names, links and the opt-out hint
# The most a subscriber's value adds to a message, in UTF-16 units as a handset counts them (an emoji is two):
# longer values are cut. The shop name is the merchant's own (1-60 characters in the settings) and the
# discount code at most 50 letters, digits, - or _, both known when the campaign is saved.
FIELD_MAX: Mapping[str, int] = {"first_name": 20, "name": 40, "shop_name": 60, "discount_code": 50}
_PERSONAL_FIELDS = ("first_name", "name")
# Longest-name samples for the worst case: astral (two units that never split across parts), BMP outside
# GSM, and GSM escapes (two septets each).
_WORST_NAMES = ("\U0001f600", "\u0416", "\u20ac")
_ZWJ = "\u200d"


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
    # End User Messaging refuses a blank body: someone without a name must still get some words.
    if not _fill(text, {"shop_name": "x", "discount_code": "x"}, use_fallback=True):
        raise InvalidInput("message must have some text besides the subscriber's name", code="invalid_message")
    return text


class Fallback(str, Enum):
    """How far ``render_for`` had to step back to keep a message within its bound."""

    NONE = "none"  # the subscriber's own name, as given (cleaned and cut to its maximum)
    FALLBACK = "fallback"  # the name left out: ``{first_name|there}`` says "there"
    NO_NAME = "no_name"  # the fallbacks left out as well
    NO_SHOP_NAME = "no_shop_name"  # the shop's name left out too (it grew after the preview)
    CUT = "cut"  # the merchant's text itself cut short (only when a bound below the template's own is forced)


@dataclass(frozen=True)
class Rendered:
    """One recipient's message, what it costs, and whether the bound made it leave anything out."""

    text: str
    shape: encoding.SmsShape
    fallback: Fallback = Fallback.NONE


def clean_field(value: str | None, field: str) -> str:
    """A subscriber's value as a message may carry it: control, format and direction characters out (an RTL
    override in a name would turn the merchant's words around on the handset), line breaks as spaces, cut to
    the field's maximum in UTF-16 units, and nothing that would become a tracked link ("" then: the fallback)."""
    if not value:
        return ""
    kept: list[str] = []
    for ch in value:
        category = unicodedata.category(ch)
        if category in ("Zl", "Zp") or (category == "Cc" and ch.isspace()):
            kept.append(" ")
        elif category[0] != "C" or ch == _ZWJ:  # Cc, Cf, Cs, Co, Cn out; ZWJ holds emoji sequences together
            kept.append(ch)
    text = "".join(kept).strip()
    limit = FIELD_MAX.get(field)
    if limit is not None and encoding.utf16_units(text) > limit:
        text = _cut_units(text, limit).rstrip(" " + _ZWJ)
    if links.find_urls(text):
        return ""  # a name is not a link: it would be shortened into a tracked link to anywhere
    return text


def _cut_units(text: str, limit: int) -> str:
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            return text[:i]
    return text


def _fill(template: str, values: Mapping[str, str], *, use_fallback: bool) -> str:
    def fill(match: re.Match[str]) -> str:
        field, _, fallback = match.group(1).partition("|")
        value = values.get(field.strip(), "")
        return value or (fallback if use_fallback else "")

    return _PLACEHOLDER.sub(fill, template).strip()


def _with_hint(template: str, text: str, opt_out_hint: bool) -> str:
    if opt_out_hint and not _MENTIONS_STOP.search(_PLACEHOLDER.sub("", template)):
        return f"{text}\n{OPT_OUT_HINT}"
    return text


def _as_sent(text: str, link_base: str | None) -> str:
    """The text as the provider gets it: every link as its short link, when the link base is known."""
    return text if link_base is None else links.shorten(text, link_base, lambda n, url: links.example_code())


def _values(who: Personal) -> dict[str, str]:
    return {
        "first_name": clean_field(who.first_name, "first_name"),
        "name": clean_field(who.name, "name"),
        "shop_name": clean_field(who.shop_name, "shop_name"),
        "discount_code": clean_field(who.discount_code, "discount_code"),
    }


def render_for(
    template: str,
    who: Personal,
    *,
    opt_out_hint: bool,
    link_base: str | None = None,
    max_parts: int | None = None,
    mms: bool = False,
) -> Rendered:
    """The message one recipient gets, never over the provider's 1,600 characters nor over ``max_parts`` parts
    (by default ``default_bound``: what the preview showed as ``max_parts``); an MMS is bound by characters only.

    Names are cleaned and cut to their maximum (``FIELD_MAX``); if the message would still be too long, the
    name gives way to its fallback, then to nothing, then the shop's name, and as a last resort the merchant's
    text is cut. ``link_base`` (the deployment's) makes the measure exact for templates with links, which are
    shortened after this; without it links are measured as written."""
    bound: int | None
    if mms:
        bound = None  # an MMS is one part whatever its text: only the provider's character limit holds
    elif max_parts is not None:
        bound = max(max_parts, 1)
    else:
        bound = default_bound(
            template, who.shop_name, opt_out_hint=opt_out_hint, link_base=link_base, discount_code=who.discount_code
        )
    values = _values(who)
    no_name = {**values, "first_name": "", "name": ""}
    steps = (
        (Fallback.NONE, values, True),
        (Fallback.FALLBACK, no_name, True),
        (Fallback.NO_NAME, no_name, False),
        (Fallback.NO_SHOP_NAME, {**no_name, "shop_name": ""}, False),
    )
    for step, step_values, use_fallback in steps:
        text = _with_hint(template, _fill(template, step_values, use_fallback=use_fallback), opt_out_hint)
        shape = _within(text, bound, link_base)
        if shape is not None:
            return Rendered(text, shape, step)
    body = _fill(template, {**no_name, "shop_name": ""}, use_fallback=False)
    text = _cut_to_fit(template, body, opt_out_hint=opt_out_hint, link_base=link_base, bound=bound)
    return Rendered(text, encoding.measure(_as_sent(text, link_base)), Fallback.CUT)


def _within(text: str, bound: int | None, link_base: str | None) -> encoding.SmsShape | None:
    """The shape of ``text`` as sent if it is within the provider's limit and ``bound`` parts; None if not."""
    sent = _as_sent(text, link_base)
    if encoding.provider_length(sent) > encoding.MAX_CHARACTERS:
        return None
    shape = encoding.measure(sent)
    return shape if bound is None or shape.parts <= bound else None


def default_bound(
    template: str, shop_name: str, *, opt_out_hint: bool, link_base: str | None = None, discount_code: str | None = None
) -> int:
    """The parts a message of ``template`` may take when no bound is given: the preview's ``max_parts``, or the
    fallback rendering's parts if more (only an MMS text can be over ten parts, and it is never cut)."""
    return max(
        max_parts_for(template, shop_name, opt_out_hint=opt_out_hint, link_base=link_base, discount_code=discount_code),
        measure_worst_case(
            template, shop_name, opt_out_hint=opt_out_hint, link_base=link_base, discount_code=discount_code
        ).parts,
    )


def _cut_to_fit(template: str, body: str, *, opt_out_hint: bool, link_base: str | None, bound: int | None) -> str:
    """The longest start of ``body`` (never ending inside a link) that fits with its hint."""

    def fits(n: int) -> bool:
        return _within(_with_hint(template, body[:n].rstrip(), opt_out_hint), bound, link_base) is not None

    low, high = 0, len(body)  # parts and length only grow with the prefix: find the last n that fits
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    for start, end in links.find_urls(body):
        if start < low < end:
            low = start  # half a link would be shortened into a link to the wrong page
    return _with_hint(template, body[:low].rstrip(), opt_out_hint)


def render(
    template: str,
    who: Personal,
    *,
    opt_out_hint: bool,
    link_base: str | None = None,
    max_parts: int | None = None,
    mms: bool = False,
) -> str:
    """The message one recipient gets, within the provider's limit and the preview's ``max_parts`` (see
    ``render_for``, which also says what it cost and what was left out)."""
    return render_for(template, who, opt_out_hint=opt_out_hint, link_base=link_base, max_parts=max_parts, mms=mms).text


def uses_discount_code(template: str) -> bool:
    """True when the template says ``{discount_code}`` (so the campaign needs a code)."""
    return any(m.group(1).partition("|")[0].strip() == "discount_code" for m in _PLACEHOLDER.finditer(template))


@functools.lru_cache(maxsize=256)
def measure_worst_case(
    template: str, shop_name: str, *, opt_out_hint: bool, link_base: str | None = None, discount_code: str | None = None
) -> encoding.SmsShape:
    """The shape with a long first name (20 letters, GSM) or, if larger, with every name's fallback, and every
    link as its short link (what is sent, when ``link_base`` is given), for previews and the size check: what
    ``render`` can always fall back to. ``max_parts_for`` is the most any name can cost."""
    values = _values(Personal(name="Maximiliana-Josefina", shop_name=shop_name, discount_code=discount_code))
    shapes = [
        encoding.measure(_as_sent(_with_hint(template, _fill(template, v, use_fallback=True), opt_out_hint), link_base))
        for v in (values, {**values, "first_name": "", "name": ""})
    ]
    return max(shapes, key=lambda shape: (shape.parts, shape.units))


@functools.lru_cache(maxsize=256)  # the send path asks once per recipient with the same campaign
def max_parts_for(
    template: str,
    shop_name: str,
    *,
    opt_out_hint: bool,
    link_base: str | None = None,
    discount_code: str | None = None,
) -> int:
    """The most parts any recipient's message can cost (at most ``MAX_PARTS``): the names at their longest in
    UCS-2 (an accented name or an emoji turns a 160-character GSM part into 70 UCS-2), in GSM escapes, and the
    fallbacks. ``render`` keeps every message within it, falling back when a name would push past it."""
    fixed = {"shop_name": clean_field(shop_name, "shop_name"), "discount_code": clean_field(discount_code, "discount_code")}
    candidates = [{**fixed, "first_name": "", "name": ""}]
    for sample in _WORST_NAMES:
        candidates.append({**fixed, **{f: _repeat_to(sample, FIELD_MAX[f]) for f in _PERSONAL_FIELDS}})
    worst = 0
    for values in candidates:
        for use_fallback in (True, False):
            text = _with_hint(template, _fill(template, values, use_fallback=use_fallback), opt_out_hint)
            worst = max(worst, encoding.measure(_as_sent(text, link_base)).parts)
    return min(worst, encoding.MAX_PARTS)


def _repeat_to(sample: str, units: int) -> str:
    text = ""
    while encoding.utf16_units(text + sample) <= units:
        text += sample
    return text


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
