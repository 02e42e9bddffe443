"""No subscriber's name can push a campaign message past the provider's limit or past the most parts the
merchant was shown (``max_parts``): properties over random names (ASCII, accented, emoji, very long, control
characters, right-to-left and direction overrides) and random templates that pass the campaign checks."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from chalicelib.domain import encoding, links
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.templates import (
    FIELD_MAX,
    Fallback,
    Personal,
    check_fits,
    clean_field,
    max_parts_for,
    measure_worst_case,
    render,
    render_for,
    validate_template,
)

LINK_BASE = "https://sms.example-shop-links.com"

_pieces = st.sampled_from(
    [
        "Hi {first_name|there}! ",
        "Dear {name|customer}, ",
        "{first_name}",
        "{name}",
        " from {shop_name}",
        " Use code {discount_code} ",
        " https://shop.example.com/sale?x=1 ",
        "20% off today only. ",
        "Ofertas de otoño: ",  # UCS-2 ("ñ" is GSM, "ó" is not)
        "🎉 ",
        "{}[]~ ",  # GSM escapes
        "Reply STOP to end. ",
    ]
)
templates = st.one_of(
    st.lists(_pieces, min_size=1, max_size=12).map("".join),
    st.builds(lambda pad, tail: "x" * pad + tail, st.integers(0, 990), _pieces),
    st.builds(lambda pad, tail: "é" * pad + tail, st.integers(0, 660), _pieces),
)
names = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="ascii"), max_size=200),
    st.text(alphabet="áéíóúñüçøåÆßŽžŁłİıΩЖжשלוםمرحبا", max_size=60),
    st.text(alphabet="😀🎉👍🏽‍👩‍👧🇫🇷🏳️‍🌈", max_size=40),
    st.text(alphabet="\u202e\u202d\u2066\u2067\u2068\u2069\u200e\u200fAbc\u05d0\u0627 ", max_size=40),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs", "Co"]), max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x10000), max_size=100),
    st.builds(lambda n: "Maximiliana-Josefina" * n, st.integers(1, 100)),
)
shop_names = st.sampled_from(["Acme", "Zoë's Boutique 🌸", "Stop & Shop", "x" * 60, "Ж" * 60])
codes = st.sampled_from([None, "SAVE20", "A" * 50, "x-y_z"])


def _usable(template: str, shop_name: str, code: str | None, mms: bool = False) -> None:
    try:
        validate_template(template)
        check_fits(template, shop_name, opt_out_hint=True, mms=mms, link_base=LINK_BASE, discount_code=code)
    except InvalidInput:
        assume(False)


def _sent(text: str) -> str:
    return links.shorten(text, LINK_BASE, lambda n, url: links.example_code())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(template=templates, name=names, shop_name=shop_names, code=codes, hint=st.booleans())
@example(template="Hi {first_name}! " + "x" * 140, name="José 😀", shop_name="Acme", code=None, hint=False)
@example(template="{first_name|there}, " + "a" * 990, name="Zoë" * 50, shop_name="Acme", code=None, hint=True)
def test_no_name_renders_past_the_limit_or_past_what_the_preview_showed(
    template: str, name: str | None, shop_name: str, code: str | None, hint: bool
) -> None:
    _usable(template, shop_name, code)
    shown = max_parts_for(template, shop_name, opt_out_hint=hint, link_base=LINK_BASE, discount_code=code)
    who = Personal(name=name, shop_name=shop_name, discount_code=code)
    rendered = render_for(template, who, opt_out_hint=hint, link_base=LINK_BASE)
    sent = _sent(rendered.text)
    assert encoding.provider_length(sent) <= encoding.MAX_CHARACTERS
    assert len(sent) <= encoding.MAX_CHARACTERS
    assert encoding.measure(sent).parts <= shown <= encoding.MAX_PARTS
    assert rendered.shape == encoding.measure(sent)
    assert render(template, who, opt_out_hint=hint, link_base=LINK_BASE) == rendered.text  # what sending.py calls
    # The merchant's fallback text is what a typical recipient may lose, never the message itself.
    assert rendered.fallback is not Fallback.CUT and rendered.fallback is not Fallback.NO_SHOP_NAME


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(template=templates, name=names, shop_name=shop_names, code=codes, hint=st.booleans())
def test_without_the_link_base_the_bound_still_holds_for_the_text_as_rendered(
    template: str, name: str | None, shop_name: str, code: str | None, hint: bool
) -> None:
    # sending.py today: render(template, who, opt_out_hint=...) and shorten afterwards.
    _usable(template, shop_name, code)
    assume(not links.find_urls(template))  # with no link the text is sent as rendered
    who = Personal(name=name, shop_name=shop_name, discount_code=code)
    text = render(template, who, opt_out_hint=hint)
    assert encoding.provider_length(text) <= encoding.MAX_CHARACTERS
    assert encoding.measure(text).parts <= max_parts_for(template, shop_name, opt_out_hint=hint, discount_code=code)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(template=templates, name=names, shop_name=shop_names, code=codes, bound=st.integers(1, 10))
def test_a_pinned_bound_always_holds(template: str, name: str | None, shop_name: str, code: str | None, bound: int) -> None:
    # The send path may pin the parts the campaign showed when saved (the shop's name may have grown since).
    _usable(template, shop_name, code)
    who = Personal(name=name, shop_name=shop_name, discount_code=code)
    rendered = render_for(template, who, opt_out_hint=True, link_base=LINK_BASE, max_parts=bound)
    sent = _sent(rendered.text)
    assert encoding.measure(sent).parts <= bound and encoding.provider_length(sent) <= encoding.MAX_CHARACTERS
    assert sent.strip()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(template=templates, name=names, shop_name=shop_names)
def test_an_mms_text_is_bound_by_characters_and_never_cut(template: str, name: str | None, shop_name: str) -> None:
    _usable(template, shop_name, None, mms=True)
    rendered = render_for(template, Personal(name=name, shop_name=shop_name), opt_out_hint=True, link_base=LINK_BASE, mms=True)
    assert encoding.provider_length(_sent(rendered.text)) <= encoding.MAX_CHARACTERS
    assert rendered.fallback is not Fallback.CUT


@settings(max_examples=300, deadline=None)
@given(value=names)
def test_a_cleaned_name_is_short_single_line_without_controls_or_links(value: str | None) -> None:
    for field in ("first_name", "name"):
        cleaned = clean_field(value, field)
        assert encoding.utf16_units(cleaned) <= FIELD_MAX[field]
        assert not any(ch in cleaned for ch in "\n\r\t\x00\u202e\u202d\u2066\u2067\u200f")
        assert not links.find_urls(cleaned)
        assert cleaned == cleaned.strip()


# --- examples the merchant will recognise -------------------------------------------------------------------------


def test_an_accented_name_switches_to_ucs2_and_the_preview_says_so() -> None:
    template = "Hi {first_name|there}! Big autumn sale on every jacket and boot in store, this weekend only."
    gsm = measure_worst_case(template, "Acme", opt_out_hint=False)
    assert (gsm.encoding, gsm.parts) == (encoding.Encoding.GSM7, 1)
    shown = max_parts_for(template, "Acme", opt_out_hint=False)
    assert shown == 2  # 74 characters + a 20-unit name: 94 UCS-2 units are two parts of 67, not one of 160
    for name in ("Zoë", "José😀", "Łukasz", "Ζωή", "محمد", "😀" * 30):
        text = render(template, Personal(name=name, shop_name="Acme"), opt_out_hint=False)
        shape = encoding.measure(text)
        assert shape.encoding is encoding.Encoding.UCS2 and shape.parts <= shown


def test_a_long_name_is_cut_to_its_maximum() -> None:
    text = render("Hi {first_name}!", Personal(name="Wolfeschlegelsteinhausenbergerdorff Senior"), opt_out_hint=False)
    assert text == "Hi Wolfeschlegelsteinha!"  # twenty letters
    assert render("Hi {first_name}!", Personal(name="😀" * 15), opt_out_hint=False) == "Hi " + "😀" * 10 + "!"


def test_a_name_that_would_pass_the_ten_part_cap_falls_back() -> None:
    # 995 GSM characters are seven parts; the same text in UCS-2 (any accented name) would be fifteen, past the
    # ten carriers reassemble: the preview shows ten, and such a name gives way to the fallback.
    template = "Hi {first_name|there}! " + "x" * 970
    assert measure_worst_case(template, "Acme", opt_out_hint=False).parts == 7
    assert max_parts_for(template, "Acme", opt_out_hint=False) == encoding.MAX_PARTS
    rendered = render_for(template, Personal(name="Zoë"), opt_out_hint=False)
    assert rendered.fallback is Fallback.FALLBACK and rendered.text.startswith("Hi there! ")
    assert rendered.shape.parts == 7
    plain = render_for(template, Personal(name="Maximiliana-Josefina"), opt_out_hint=False)
    assert plain.fallback is Fallback.NONE and plain.text.startswith("Hi Maximiliana-Josefina! ")


@pytest.mark.parametrize(
    "name",
    ["Ana\u202eenoS", "Ana\nReply YES", "Ana\x00\x07", "http://evil.example/x", "Ana https://evil.example", "\u2066\u2069"],
)
def test_controls_and_links_never_reach_the_phone_from_a_name(name: str) -> None:
    text = render("Hi {name|there}!", Personal(name=name), opt_out_hint=False)
    assert "\u202e" not in text and "\n" not in text and "\x00" not in text
    assert not links.find_urls(text)


def test_a_pinned_bound_below_the_shop_name_drops_the_shop_name_then_cuts() -> None:
    template = "{shop_name}: " + "sale " * 50
    rendered = render_for(template, Personal(shop_name="Ж" * 60), opt_out_hint=True, max_parts=2)
    assert rendered.fallback is Fallback.NO_SHOP_NAME and rendered.shape.parts <= 2
    cut = render_for(template, Personal(shop_name="Acme"), opt_out_hint=True, max_parts=1)
    assert cut.fallback is Fallback.CUT and cut.shape.parts == 1 and cut.text.endswith("Reply STOP to opt out")


# --- through the send path ----------------------------------------------------------------------------------------


def test_the_send_path_gets_the_bound_for_free() -> None:
    # sending.py calls templates.render(campaign.message, Personal(...), opt_out_hint=...): an accented name in a
    # long GSM campaign gives way to the fallback there too, so nobody's message passes what the preview showed.
    from chalicelib.services import campaigns, subscribers
    from tests.commands import add_subscriber, new_campaign
    from tests.engine import Engine
    from tests.fakes import FakeSms
    from tests.unit.test_campaign_engine import SHOP, make_ports

    ports = make_ports()
    people = {"+12125551001": "Zoë Hernández", "+12125551002": "Ann Lee", "+12125551003": "😀" * 40}
    for phone, name in people.items():
        subscribers.add_subscriber(ports, SHOP, add_subscriber({"phone": phone, "source": "checkout", "name": name}))
    message = "Hi {first_name|there}! " + "x" * 970
    shown = campaigns.preview(ports, SHOP, campaigns.PreviewCampaign(message=message, segment_id="all")).max_parts
    campaigns.create_campaign(ports, SHOP, new_campaign({"name": "S", "message": message, "segment_id": "all", "send_at": "now"}))
    Engine(ports).run()
    assert isinstance(ports.sms, FakeSms)
    bodies = {s.sms.to_number: s.sms.body for s in ports.sms.sent}
    assert bodies["+12125551001"].startswith("Hi there! ") and bodies["+12125551003"].startswith("Hi there! ")
    assert bodies["+12125551002"].startswith("Hi Ann! ")
    for body in bodies.values():
        assert encoding.measure(body).parts <= shown and encoding.provider_length(body) <= encoding.MAX_CHARACTERS
