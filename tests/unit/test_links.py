"""Tracked links: the pure rules (URLs, codes, UTM, preview agents), links made at send time on the campaign
engine and in inbox replies, and GET /r/{code} over the API (302, 404 page, what is counted)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from chalicelib.domain import links
from chalicelib.domain.errors import ConfigurationError
from chalicelib.domain.links import Visit
from chalicelib.services import campaigns, inbox
from chalicelib.services.links import LinkOwner, follow, shorten
from chalicelib.services.ports import Ports
from chalicelib.settings import Settings
from tests.commands import new_campaign
from tests.engine import Engine
from tests.fakes import FakeLinks, FakeSms
from tests.unit.conftest import Api
from tests.unit.test_campaign_engine import DAYTIME, NY, SHOP, add, make_ports, send_now

BASE = "http://127.0.0.1:8000"
SHORT = re.compile(re.escape(BASE) + r"/r/([0-9A-Za-z]{9})")


def fake_links(ports: Ports) -> FakeLinks:
    assert isinstance(ports.links, FakeLinks)
    return ports.links


def texts_to(ports: Ports, phone: str) -> list[str]:
    assert isinstance(ports.sms, FakeSms)
    return [s.sms.body for s in ports.sms.sent if s.sms.to_number == phone]


class TestRules:
    def test_codes_are_long_random_and_url_safe(self) -> None:
        codes = {links.new_code() for _ in range(2000)}
        assert len(codes) == 2000
        assert all(links.is_code(c) and len(c) == links.CODE_LENGTH for c in codes)
        assert len(links.CODE_ALPHABET) ** links.CODE_LENGTH >= 2**48

    @pytest.mark.parametrize(
        "code",
        [
            "../etc/pa",
            "..%2F..%2F",
            "abc",
            "a" * 10,
            "a" * 5000,
            "abcdéfghi",
            "abcd\x00efgh",
            "%00abcdef",
            "abcd efgh",
            "",
            "٣٣٣٣٣٣٣٣٣",
        ],
    )
    def test_hostile_codes_are_not_codes(self, code: str) -> None:
        assert not links.is_code(code)

    def test_urls_are_found_without_trailing_punctuation(self) -> None:
        text = "New in: https://shop.com/new. See (https://shop.com/a?b=1&c=2#top), or http://x.io!"
        assert [text[s:e] for s, e in links.find_urls(text)] == [
            "https://shop.com/new",
            "https://shop.com/a?b=1&c=2#top",
            "http://x.io",
        ]

    def test_shorten_replaces_each_url_and_leaves_short_links_alone(self) -> None:
        text = f"A https://shop.com/a B {BASE}/r/abcdefghi C https://shop.com/b."
        out = links.shorten(text, BASE, lambda n, url: f"code{n:05d}")
        assert out == f"A {BASE}/r/code00000 B {BASE}/r/abcdefghi C {BASE}/r/code00001."

    def test_utm_is_added_and_the_targets_own_query_and_fragment_kept(self) -> None:
        target = "https://shop.com/p/x?color=red&size=M%2FL&utm_source=old#reviews"
        parts = urlsplit(links.with_utm(target, "cmp_1"))
        assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "shop.com", "/p/x", "reviews")
        assert parts.query.startswith("color=red&size=M%2FL&")  # the shop's own pairs byte for byte
        assert dict(parse_qsl(parts.query)) == {
            "color": "red",
            "size": "M/L",
            "utm_source": "smscast",
            "utm_medium": "sms",
            "utm_campaign": "cmp_1",
        }

    def test_the_redirect_is_ascii_whatever_the_target_holds(self) -> None:
        location = links.with_utm("https://shop.com/café/50%25?q=a b", "cmp_1")
        assert location == "https://shop.com/caf%C3%A9/50%25?q=a%20b&utm_source=smscast&utm_medium=sms&utm_campaign=cmp_1"
        assert location.isascii()

    @pytest.mark.parametrize(
        "agent",
        [
            "facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage's preview fetcher
            "Twitterbot/1.0",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "WhatsApp/2.23.20.0 A",
            "TelegramBot (like TwitterBot)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0)",
        ],
    )
    def test_preview_agents_are_not_clicks(self, agent: str) -> None:
        assert Visit.of("GET", agent) is Visit.PREVIEW

    def test_people_and_head(self) -> None:
        iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
        assert Visit.of("GET", iphone) is Visit.CLICK
        assert Visit.of("GET", None) is Visit.CLICK
        assert Visit.of("HEAD", iphone) is Visit.HEAD


class TestLinksAtSendTime:
    def test_each_recipient_gets_own_code_that_resolves(self) -> None:
        ports = make_ports()
        add(ports, *NY[:3])
        cid = send_now(ports, message="Sale today https://shop.com/sale?x=1 !")
        Engine(ports).run_until(DAYTIME + timedelta(minutes=5))
        codes = []
        for phone in NY[:3]:
            (text,) = texts_to(ports, phone)
            (code,) = SHORT.findall(text)
            link = fake_links(ports).get(code)
            assert link is not None
            assert (link.shop_id, link.phone, link.campaign_id, link.target) == (SHOP, phone, cid, "https://shop.com/sale?x=1")
            codes.append(code)
        assert len(set(codes)) == 3

    def test_redelivery_reuses_the_recipients_codes(self) -> None:
        ports = make_ports()
        owner = LinkOwner(SHOP, NY[0], campaign_id="cmp_1")
        first = shorten(ports, "a https://shop.com/a b https://shop.com/b", owner)
        again = shorten(ports, "a https://shop.com/a b https://shop.com/b", owner)
        assert first == again and len(SHORT.findall(first)) == 2
        assert len(fake_links(ports).links) == 2

    def test_a_code_collision_is_retried_never_overwritten(self, monkeypatch: pytest.MonkeyPatch) -> None:
        ports = make_ports()
        shorten(ports, "https://shop.com/a", LinkOwner(SHOP, NY[0], campaign_id="cmp_1"))
        (taken,) = fake_links(ports).links
        fresh = iter([taken, taken, "Zz9Zz9Zz9"])
        monkeypatch.setattr(links, "new_code", lambda: next(fresh))
        out = shorten(ports, "https://other.com", LinkOwner(SHOP, NY[1], campaign_id="cmp_1"))
        assert out.endswith("/r/Zz9Zz9Zz9")
        assert fake_links(ports).links[taken].target == "https://shop.com/a"

    def test_duplicated_batches_send_one_message_with_one_code(self) -> None:
        ports = make_ports()
        add(ports, *NY[:4])
        send_now(ports, message="Look https://shop.com")
        Engine(ports, duplicate_every_message=True).run_until(DAYTIME + timedelta(minutes=5))
        assert all(len(texts_to(ports, p)) == 1 for p in NY[:4])
        assert len(fake_links(ports).links) == 4

    def test_preview_counts_the_short_link(self) -> None:
        ports = make_ports()
        add(ports, NY[0])
        long_url = "https://shop.com/" + "collections/winter-sale/" * 8
        plain = campaigns.preview(ports, SHOP, campaigns.PreviewCampaign(message="Hi Reply STOP to opt out", segment_id="all"))
        linked = campaigns.preview(
            ports, SHOP, campaigns.PreviewCampaign(message=f"Hi {long_url} Reply STOP to opt out", segment_id="all")
        )
        assert linked.shape.characters == plain.shape.characters + 1 + len(links.example_short_url(BASE))
        assert linked.shape.parts == 1  # the long link alone would take two parts


class TestFollow:
    def _link(self, ports: Ports) -> str:
        text = shorten(ports, "https://shop.com/x?a=1#f", LinkOwner(SHOP, NY[0], campaign_id="cmp_1"))
        (code,) = SHORT.findall(text)
        return code

    def test_previews_and_head_redirect_but_do_not_count(self) -> None:
        ports = make_ports()
        code = self._link(ports)
        for visit in (Visit.PREVIEW, Visit.HEAD):
            redirect = follow(ports, code, visit)
            assert redirect is not None and not redirect.counted
        assert fake_links(ports).clicks == []

    def test_unknown_and_malformed_codes_read_nothing(self) -> None:
        ports = make_ports()
        assert follow(ports, "AAAAAAAAA", Visit.CLICK) is None
        assert follow(ports, "../../etc", Visit.CLICK) is None


class TestRedirectApi:
    def _campaign_link(self, api: Api, phone: str = "+12125551000") -> tuple[str, str]:
        ports = api.ports
        shop = "demo.myshopify.com"
        api.call("POST", "/subscribers", body={"phone": phone, "source": "checkout"})
        created = api.call(
            "POST",
            "/campaigns",
            body={"name": "Sale", "message": "Sale https://shop.com/sale?c=red#top", "segment_id": "all", "send_at": "now"},
        )
        assert created.status_code == 201, created.body
        cid = created.json_body["id"]
        Engine(ports).run_until(ports.clock.now() + timedelta(minutes=5))
        assert isinstance(ports.sms, FakeSms)
        (text,) = [s.sms.body for s in ports.sms.sent if s.sms.to_number == phone and s.sms.campaign_id == cid]
        (code,) = SHORT.findall(text)
        assert shop
        return cid, code

    def test_click_redirects_with_utm_and_counts(self, api: Api) -> None:
        cid, code = self._campaign_link(api)
        response = api.call("GET", f"/r/{code}", shop=None, headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith("https://shop.com/sale?c=red&utm_source=smscast&utm_medium=sms&utm_campaign=")
        assert location.endswith(f"utm_campaign={cid}#top")
        api.call("GET", f"/r/{code}?fbclid=xyz", shop=None)  # a second tap, with junk a share added
        stats = api.call("GET", f"/campaigns/{cid}").json_body["stats"]
        assert (stats["clicks"], stats["unique_clicks"]) == (2, 1)
        subscriber = api.ports.subscribers.get("demo.myshopify.com", "+12125551000")
        assert subscriber is not None and subscriber.last_clicked_at == api.ports.clock.now()
        listing = api.call("GET", "/campaigns").json_body
        assert (listing["totals"]["clicks"], listing["totals"]["unique_clicks"]) == (2, 1)

    def test_preview_agents_and_head_are_redirected_not_counted(self, api: Api) -> None:
        cid, code = self._campaign_link(api)
        for agent in ("facebookexternalhit/1.1 Facebot Twitterbot/1.0", "WhatsApp/2.23", "Slackbot-LinkExpanding 1.0"):
            response = api.call("GET", f"/r/{code}", shop=None, headers={"User-Agent": agent})
            assert response.status_code == 302
        assert api.call("HEAD", f"/r/{code}", shop=None).status_code == 302
        assert api.call("GET", f"/campaigns/{cid}").json_body["stats"]["clicks"] == 0

    @pytest.mark.parametrize(
        "path",
        ["/r/..%2F..%2Fetc", "/r/" + "A" * 5000, "/r/%E2%98%83%E2%98%83%E2%98%83", "/r/%00AAAAAAAA", "/r/AAAAAAAAA", "/r/abc"],
    )
    def test_hostile_and_unknown_codes_get_the_404_page(self, api: Api, path: str) -> None:
        response = api.call("GET", path, shop=None)
        assert response.status_code == 404
        assert "Location" not in response.headers
        assert b"Link not found" in response.body
        assert response.headers["Content-Type"].startswith("text/html")


SANDBOX_ENV = {"AWS_REGION": "us-east-1", "SMSCAST_SMS_PROVIDER": "sandbox"}


class TestLinkDomainSetting:
    def test_default_is_devstacks_address_and_a_base_is_kept_without_its_slash(self) -> None:
        assert Settings.from_env(SANDBOX_ENV).link_domain == BASE
        env = {**SANDBOX_ENV, "SMSCAST_LINK_DOMAIN": "https://go.shop.example/"}
        assert Settings.from_env(env).link_domain == "https://go.shop.example"

    @pytest.mark.parametrize("value", ["go.example.com", "http://go.example.com", "ftp://x.io", "https://x.io/?a=1", "https://"])
    def test_bad_link_domains_fail_at_start_up(self, value: str) -> None:
        with pytest.raises(ConfigurationError):
            Settings.from_env({**SANDBOX_ENV, "SMSCAST_LINK_DOMAIN": value})


class TestReplyLinks:
    def test_a_reply_link_is_shortened_and_clicks_count_for_no_campaign(self) -> None:
        ports = make_ports()
        add(ports, NY[0])
        inbox.reply(
            ports,
            SHOP,
            NY[0],
            inbox.ReplyRequest(text="Here: https://shop.com/order/1", quiet_hours=inbox.QuietHoursChoice.SEND_NOW),
        )
        (text,) = texts_to(ports, NY[0])
        (code,) = SHORT.findall(text)
        link = fake_links(ports).get(code)
        assert link is not None and link.campaign_id is None and link.reply_id is not None
        redirect = follow(ports, code, Visit.CLICK)
        assert redirect is not None and redirect.location.endswith("utm_campaign=inbox")
        assert ports.links.latest_click(SHOP, NY[0], DAYTIME - timedelta(days=1), DAYTIME) is None  # attributes nothing


class TestFakePersonalData:
    def test_the_fakes_erase_what_the_adapters_erase(self) -> None:
        ports = make_ports()
        draft = new_campaign({"name": "A", "message": "A", "segment_id": "all", "draft": True})
        cid = campaigns.create_campaign(ports, SHOP, draft).campaign_id
        shorten(ports, "https://shop.com", LinkOwner(SHOP, NY[0], campaign_id=cid))
        shorten(ports, "https://shop.com", LinkOwner(SHOP, NY[1], campaign_id=cid))
        (code,) = [c for c, link in fake_links(ports).links.items() if link.phone == NY[0]]
        follow(ports, code, Visit.CLICK)
        assert len(fake_links(ports).export(SHOP, NY[0])["links"]) == 1  # type: ignore[arg-type]
        assert fake_links(ports).erase(SHOP, NY[0]) == 3  # link, slot, click
        assert follow(ports, code, Visit.CLICK) is None
        assert len(fake_links(ports).links) == 1 and len(fake_links(ports).slot_codes) == 1


class TestReplySize:
    def test_a_reply_is_measured_with_its_short_links(self) -> None:
        ports = make_ports()
        add(ports, NY[0])
        long_url = "https://shop.com/" + "x" * 200
        text = "a" * 1300 + " " + long_url  # over the 10 parts as written, well inside them as sent
        sent = inbox.reply(ports, SHOP, NY[0], inbox.ReplyRequest(text=text, quiet_hours=inbox.QuietHoursChoice.SEND_NOW))
        assert sent.state.value == "sent"
        (body,) = texts_to(ports, NY[0])
        assert long_url not in body and SHORT.search(body)
