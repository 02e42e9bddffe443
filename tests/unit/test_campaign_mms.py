"""MMS campaigns on fakes: the image is imported once, each recipient gets one MMS carrying the stored copy,
pacing and billing count one part, the size rule is 1,600 characters, and bad image links are clear 400s
through the API (FakeMedia applies the same URL rules and image checks as the S3 media library)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain import pricing
from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.media import MAX_MEDIA_BYTES
from chalicelib.domain.pacing import window_peak
from chalicelib.services import campaigns
from chalicelib.services.ports import Ports
from tests.commands import campaign_edit, new_campaign
from tests.engine import Engine
from tests.fakes import TINY_GIF, TINY_JPEG, TINY_PNG, FakeMedia, FakePacer
from tests.unit.conftest import Api, body
from tests.unit.test_campaign_engine import DAYTIME, NY, SHOP, add, make_ports, sms

IMAGE = "https://cdn.example.com/promo/black-friday.png"
LONG_TEXT = ("Big weekend sale on everything in store, today only, with free shipping on all orders. " * 6).strip()  # 4 SMS parts
EMOJI_TEXT = "🎉" * 400  # 800 UCS-2 units: 12 SMS parts, too many for an SMS, fine for an MMS


def media(ports: Ports) -> FakeMedia:
    assert isinstance(ports.media, FakeMedia)
    return ports.media


def serve(ports: Ports, url: str = IMAGE, data: bytes = TINY_PNG) -> None:
    media(ports).serve(url, data)


def create(ports: Ports, **overrides: Any) -> Any:
    payload: dict[str, Any] = {"name": "Sale", "message": "Hi {first_name|there}!", "segment_id": "all", "send_at": "now"}
    payload.update(overrides)
    return campaigns.create_campaign(ports, SHOP, new_campaign(payload))


class TestSending:
    def test_each_recipient_gets_one_mms_with_the_stored_image(self) -> None:
        ports = make_ports()
        serve(ports)
        add(ports, *NY[:4])
        c = create(ports, media_url=IMAGE)
        [stored_key] = media(ports).objects
        assert c.media_url == IMAGE and c.media_s3_uri == f"s3://fake-media/{stored_key}" and c.is_mms
        Engine(ports).run()
        sent = [s for s in sms(ports).sent if s.sms.campaign_id == c.campaign_id]
        assert sorted(s.sms.to_number for s in sent) == NY[:4]
        assert {s.sms.media_urls for s in sent} == {(c.media_s3_uri,)}
        done = campaigns.get_campaign(ports, SHOP, c.campaign_id)
        assert done.status is CampaignStatus.COMPLETED
        assert (done.stats.sent, done.stats.parts) == (4, 4)
        # The thread shows the merchant's link, which a browser can display.
        thread = ports.conversations.thread(SHOP, NY[0]).items
        assert [m.media_urls for m in thread if m.campaign_id == c.campaign_id] == [(IMAGE,)]

    def test_a_long_text_is_billed_as_one_part_per_recipient(self) -> None:
        ports = make_ports()
        serve(ports)
        add(ports, *NY[:3])
        c = create(ports, message=LONG_TEXT, media_url=IMAGE)
        Engine(ports).run()
        assert {s.receipt.parts for s in sms(ports).sent} == {1}
        assert campaigns.get_campaign(ports, SHOP, c.campaign_id).stats.parts == 3

    def test_an_sms_campaign_still_goes_without_media(self) -> None:
        ports = make_ports()
        add(ports, NY[0])
        c = create(ports, message=LONG_TEXT)
        Engine(ports).run()
        [sent] = sms(ports).sent
        assert sent.sms.media_urls == () and sent.receipt.parts == 4 and not c.is_mms
        assert media(ports).downloads == []

    def test_pacing_counts_one_part_per_mms(self) -> None:
        ports = make_ports(mps=3)
        serve(ports)
        phones = [f"+1212555{n:04d}" for n in range(2000, 2030)]
        add(ports, *phones)
        create(ports, message=LONG_TEXT, media_url=IMAGE)  # 4 parts each if it were paced as SMS
        Engine(ports).run_until(DAYTIME + timedelta(minutes=5), tick=timedelta(seconds=1))
        assert isinstance(ports.pacer, FakePacer)
        assert {parts for _, _, parts in ports.pacer.granted} == {1}
        sends = [(int(s.at.timestamp() * 1000), s.receipt.parts) for s in sms(ports).sent if s.at]
        assert len(sends) == 30 and window_peak(sends) <= 3
        first, last = min(t for t, _ in sends), max(t for t, _ in sends)
        # 30 MMS at 3 a second take about 10 s; paced as 4-part SMS they would take 40 s
        assert (last - first) / 1000 < 15


class TestSizeRule:
    def test_too_many_sms_parts_is_fine_as_mms(self) -> None:
        ports = make_ports()
        with pytest.raises(InvalidInput) as refused:
            create(ports, message=EMOJI_TEXT)
        assert refused.value.code == "message_too_long"
        serve(ports)
        assert create(ports, message=EMOJI_TEXT, media_url=IMAGE).is_mms

    def test_mms_text_is_capped_at_1600_characters(self) -> None:
        ports = make_ports(shop_name="S" * 60)
        serve(ports)
        # 990 template characters, each {shop_name} growing to 60: far over 1,600 once rendered
        template = ("{shop_name}" * 90)[:990]
        with pytest.raises(InvalidInput) as refused:
            create(ports, message=template, media_url=IMAGE)
        assert refused.value.code == "message_too_long" and refused.value.details["channel"] == "mms"

    def test_removing_the_image_checks_the_text_again_as_sms(self) -> None:
        ports = make_ports()
        serve(ports)
        c = create(ports, message=EMOJI_TEXT, media_url=IMAGE, send_at="2026-11-21T10:00", draft=True)
        with pytest.raises(InvalidInput) as refused:
            campaigns.edit_campaign(ports, SHOP, c.campaign_id, campaign_edit({"media_url": None}))
        assert refused.value.code == "message_too_long"
        assert campaigns.get_campaign(ports, SHOP, c.campaign_id).is_mms  # nothing changed
        edited = campaigns.edit_campaign(ports, SHOP, c.campaign_id, campaign_edit({"media_url": None, "message": "Short now"}))
        assert (edited.media_url, edited.media_s3_uri, edited.is_mms) == (None, None, False)

    def test_adding_an_image_by_edit(self) -> None:
        ports = make_ports()
        serve(ports, data=TINY_GIF)
        c = create(ports, send_at="2026-11-21T10:00", draft=True)
        edited = campaigns.edit_campaign(ports, SHOP, c.campaign_id, campaign_edit({"media_url": IMAGE}))
        assert edited.media_url == IMAGE and edited.media_s3_uri is not None and edited.media_s3_uri.endswith(".gif")


class TestImport:
    def test_the_same_image_is_stored_once(self) -> None:
        ports = make_ports()
        serve(ports)
        serve(ports, "https://other.example.org/same.png", TINY_PNG)
        a = create(ports, media_url=IMAGE, send_at="2026-11-21T10:00", draft=True)
        b = create(ports, media_url="https://other.example.org/same.png", send_at="2026-11-21T10:00", draft=True)
        assert a.media_s3_uri == b.media_s3_uri and len(media(ports).objects) == 1

    def test_a_refused_message_downloads_nothing(self) -> None:
        ports = make_ports()
        serve(ports)
        with pytest.raises(InvalidInput):
            create(ports, message="", media_url=IMAGE)
        assert media(ports).downloads == []

    def test_editing_a_running_campaign_downloads_nothing(self) -> None:
        ports = make_ports()
        serve(ports)
        add(ports, NY[0])
        c = create(ports)
        with pytest.raises(Exception) as refused:
            campaigns.edit_campaign(ports, SHOP, c.campaign_id, campaign_edit({"media_url": IMAGE}))
        assert getattr(refused.value, "code", None) == "illegal_transition"
        assert media(ports).downloads == []


class TestPricing:
    def test_mms_is_priced_per_message(self) -> None:
        regions = Counter({"US": 100, "CA": 10})
        sms_cost = pricing.estimate(regions, 4)
        mms_cost = pricing.estimate(regions, 4, mms=True)
        assert mms_cost.parts == 110 and sms_cost.parts == 440
        assert mms_cost.amount == -(-(100 * 24_000 + 10 * 20_000) // 10_000)


# --- over HTTP -------------------------------------------------------------------------------------------


def api_media(api: Api) -> FakeMedia:
    assert isinstance(api.ports.media, FakeMedia)
    return api.ports.media


def post(api: Api, **overrides: Any) -> Any:
    payload = {"name": "Promo", "message": "Hi {first_name|there}, 30% off!", "segment_id": "all", "send_at": "2026-11-21T10:00"}
    payload.update(overrides)
    return api.call("POST", "/campaigns", body=payload)


class TestApi:
    def test_create_with_an_image_shows_channel_and_link(self, api: Api) -> None:
        api_media(api).serve(IMAGE, TINY_JPEG)
        response = post(api, media_url=IMAGE)
        assert response.status_code == 201
        c = body(response)
        assert (c["channel"], c["media_url"]) == ("mms", IMAGE)
        assert "s3://" not in response.body.decode()  # the stored copy is not the merchant's business
        again = body(api.call("GET", f"/campaigns/{c['id']}"))
        assert (again["channel"], again["media_url"]) == ("mms", IMAGE)

    def test_patch_null_takes_the_image_off(self, api: Api) -> None:
        api_media(api).serve(IMAGE, TINY_PNG)
        c = body(post(api, media_url=IMAGE, draft=True))
        patched = api.call("PATCH", f"/campaigns/{c['id']}", body={"media_url": None})
        assert patched.status_code == 200 and (body(patched)["channel"], body(patched)["media_url"]) == ("sms", None)

    @pytest.mark.parametrize(
        "url, expected",
        [
            ("http://cdn.example.com/a.png", "invalid_media_url"),
            ("https://user:pw@cdn.example.com/a.png", "invalid_media_url"),
            ("https://127.0.0.1/a.png", "invalid_media_url"),
            ("https://169.254.169.254/latest/meta-data/", "invalid_media_url"),
            ("https://[::1]/a.png", "invalid_media_url"),
            ("https://localhost/a.png", "invalid_media_url"),
            ("https://cdn.example.com:8443/a.png", "invalid_media_url"),
            ("https://2130706433/a.png", "invalid_media_url"),
            ("ftp://cdn.example.com/a.png", "invalid_media_url"),
            (42, "invalid_media_url"),
            ("", "invalid_media_url"),
            ("https://cdn.example.com/missing.png", "media_unreachable"),
            ("https://cdn.example.com/page.html", "unsupported_media_type"),
            ("https://cdn.example.com/huge.png", "media_too_large"),
        ],
    )
    def test_bad_media_is_400_and_creates_nothing(self, api: Api, url: Any, expected: str) -> None:
        api_media(api).serve("https://cdn.example.com/page.html", b"<!doctype html><html></html>")
        api_media(api).serve("https://cdn.example.com/huge.png", TINY_PNG + bytes(MAX_MEDIA_BYTES))
        response = post(api, media_url=url)
        assert response.status_code == 400 and body(response)["error"]["code"] == expected
        assert body(api.call("GET", "/campaigns"))["items"] == []
        assert api_media(api).objects == {}

    def test_bad_media_on_patch_leaves_the_campaign_alone(self, api: Api) -> None:
        c = body(post(api, draft=True))
        response = api.call("PATCH", f"/campaigns/{c['id']}", body={"media_url": "https://10.0.0.8/a.png"})
        assert response.status_code == 400 and body(response)["error"]["code"] == "invalid_media_url"
        assert body(api.call("GET", f"/campaigns/{c['id']}"))["channel"] == "sms"

    def test_preview_reports_mms_as_one_part(self, api: Api) -> None:
        for phone in ("+12125551001", "+12125551002"):
            api.call("POST", "/subscribers", body={"phone": phone})
        api_media(api).serve(IMAGE, TINY_PNG)
        request = {"message": LONG_TEXT, "segment_id": "all"}
        as_sms = body(api.call("POST", "/campaigns/preview", body=request))
        as_mms = body(api.call("POST", "/campaigns/preview", body={**request, "media_url": IMAGE}))
        assert (as_sms["channel"], as_sms["parts"], as_sms["estimated_cost"]["parts"]) == ("sms", 4, 8)
        assert (as_mms["channel"], as_mms["parts"], as_mms["estimated_cost"]["parts"]) == ("mms", 1, 2)
        assert as_mms["estimated_cost"]["amount"] == 5  # 2 x $0.024, rounded up to a cent

    def test_preview_refuses_a_bad_image(self, api: Api) -> None:
        response = api.call(
            "POST", "/campaigns/preview", body={"message": "hi", "segment_id": "all", "media_url": "https://localhost/x.png"}
        )
        assert response.status_code == 400 and body(response)["error"]["code"] == "invalid_media_url"
