"""Hostile bodies found by fuzzing the running stack: every one is a 4xx in the one error shape, and a 4xx
changes nothing (read back from the fakes' tables, not just from the answer)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from chalicelib.domain.messages import InboundSms
from chalicelib.services.inbound import receive_sms
from tests.unit.conftest import Api, body

NY = "+12125551234"
PHONE_PATH = "/inbox/%2B12125551234"
TOMORROW = "2026-11-21T10:00"  # the fake clock is 2026-11-20 15:00 UTC, 10:00 in New York


def tables(api: Api) -> str:
    """Everything the fakes keep, as text: equal before and after means nothing was written."""
    p = api.ports
    state = [
        p.shops.shops,  # type: ignore[attr-defined]
        p.subscribers.rows,  # type: ignore[attr-defined]
        p.subscribers.events,  # type: ignore[attr-defined]
        p.campaigns.rows,  # type: ignore[attr-defined]
        p.segments.rows,  # type: ignore[attr-defined]
        p.schedules.schedules,  # type: ignore[attr-defined]
        p.inbox.rows,  # type: ignore[attr-defined]
        p.replies.rows,  # type: ignore[attr-defined]
        p.conversations.lines,  # type: ignore[attr-defined]
        p.sms.sent,  # type: ignore[attr-defined]
        p.media.objects,  # type: ignore[attr-defined]
        p.jobs.jobs,  # type: ignore[attr-defined]
        api.idempotency.records,
    ]
    return repr(state)


@pytest.fixture
def world(api: Api) -> dict[str, str]:
    """A subscriber who wrote in, and a scheduled campaign."""
    assert api.call("POST", "/subscribers", body={"phone": NY, "source": "checkout", "name": "Ada"}).status_code == 201
    receive_sms(api.ports, InboundSms("in-1", NY, "+15550100000", "Do you ship to Canada?", api.ports.clock.now()))
    campaign = api.call("POST", "/campaigns", body={"name": "BF", "message": "Hi!", "segment_id": "all", "send_at": TOMORROW})
    assert campaign.status_code == 201
    return {"campaign": body(campaign)["id"]}


def body_routes(world: dict[str, str]) -> list[tuple[str, str]]:
    c = world["campaign"]
    return [
        ("PATCH", "/settings"),
        ("POST", "/subscribers"),
        ("POST", "/segments"),
        ("POST", "/campaigns"),
        ("POST", "/campaigns/preview"),
        ("PATCH", f"/campaigns/{c}"),
        ("PUT", f"/campaigns/{c}/active"),
        ("POST", f"{PHONE_PATH}/replies"),
    ]


def refused(api: Api, method: str, path: str, status: int = 400, **kwargs: Any) -> dict[str, Any]:
    """Call, expect ``status`` in the error shape and no change to any table; the error for more checks."""
    before = tables(api)
    response = api.call(method, path, **kwargs)
    assert response.status_code == status, (method, path, response.body[:300])
    payload = body(response)
    assert set(payload) == {"error"} and {"code", "message"} <= set(payload["error"])
    assert tables(api) == before, f"{method} {path} answered {status} but wrote"
    return dict(payload["error"])


class TestDeepJson:
    @pytest.mark.parametrize("raw", [b"[" * 30_000, b'{"a":' * 30_000, b"[" * 30_000 + b"]" * 30_000])
    def test_deeply_nested_json_is_400_on_every_body_route(self, api: Api, world: dict[str, str], raw: bytes) -> None:
        for method, path in body_routes(world):
            assert refused(api, method, path, raw=raw[:60_000])["code"] == "invalid_json"


class TestLoneSurrogates:
    LONE = "Sale \ud83d today"

    def cases(self, world: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
        c = world["campaign"]
        campaign = {"name": "S", "message": "Hi", "segment_id": "all", "send_at": TOMORROW}
        return [
            ("POST", "/subscribers", {"phone": "+12125550000", "name": self.LONE}),
            ("POST", "/segments", {"name": self.LONE, "rule": {"all": []}}),
            ("POST", "/campaigns", {**campaign, "name": self.LONE}),
            ("POST", "/campaigns", {**campaign, "message": self.LONE}),
            ("POST", "/campaigns/preview", {"message": self.LONE, "segment_id": "all"}),
            ("PATCH", f"/campaigns/{c}", {"name": self.LONE}),
            ("PATCH", f"/campaigns/{c}", {"message": self.LONE}),
            ("POST", f"{PHONE_PATH}/replies", {"text": self.LONE, "quiet_hours": "send_now"}),
            ("PATCH", "/settings", {"shop_name": self.LONE}),
            ("PATCH", "/settings", {"stop_text": "{shop_name}: unsubscribed " + self.LONE}),
        ]

    def test_a_lone_surrogate_is_400_and_writes_nothing(self, api: Api, world: dict[str, str]) -> None:
        for method, path, payload in self.cases(world):
            # json.dumps writes the lone surrogate as the escape "\ud83d", as a hostile client would send it
            raw = json.dumps(payload).encode()
            assert b"\\ud83d" in raw
            refused(api, method, path, raw=raw)

    def test_a_surrogate_pair_is_fine(self, api: Api, world: dict[str, str]) -> None:
        response = api.call("POST", "/campaigns/preview", body={"message": "Sale 😀 today", "segment_id": "all"})
        assert response.status_code == 200 and body(response)["encoding"] == "UCS-2"


class TestEditIsAllOrNothing:
    def test_bad_draft_flag_saves_nothing(self, api: Api, world: dict[str, str]) -> None:
        c = world["campaign"]
        error = refused(api, "PATCH", f"/campaigns/{c}", body={"name": "changed", "draft": "yes"})
        assert error["code"] == "invalid_draft" and error["details"]["field"] == "draft"
        assert api.ports.campaigns.get("demo.myshopify.com", c).name == "BF"

    def test_bad_draft_flag_does_not_move_the_schedule(self, api: Api, world: dict[str, str]) -> None:
        c = world["campaign"]
        refused(api, "PATCH", f"/campaigns/{c}", body={"send_at": "2026-11-25T10:00", "draft": "yes"})
        schedule = api.ports.schedules.schedules[f"start-{c}"]  # type: ignore[attr-defined]
        assert schedule.when.isoformat() == "2026-11-21T10:00:00"
        assert body(api.call("GET", f"/campaigns/{c}"))["send_at"] == "2026-11-21T10:00:00"

    def test_launching_a_draft_whose_date_passed_saves_nothing(self, api: Api, world: dict[str, str]) -> None:
        draft = body(
            api.call(
                "POST", "/campaigns", body={"name": "D", "message": "Hi", "segment_id": "all", "send_at": TOMORROW, "draft": True}
            )
        )
        api.ports.clock.at = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)  # type: ignore[attr-defined]
        error = refused(api, "PATCH", f"/campaigns/{draft['id']}", body={"name": "changed", "draft": False})
        assert error["code"] == "send_at_in_past"
        assert api.ports.campaigns.get("demo.myshopify.com", draft["id"]).name == "D"

    @pytest.mark.parametrize(
        "payload",
        [{"name": None}, {"name": "x", "colour": "red"}, {"segment_id": "nope"}, {"message": "Hi {frist_name}"}],
    )
    def test_any_bad_field_saves_none_of_the_others(self, api: Api, world: dict[str, str], payload: dict[str, Any]) -> None:
        refused(api, "PATCH", f"/campaigns/{world['campaign']}", body={"name": "changed", **payload})


class TestControlCharacters:
    @pytest.mark.parametrize("bad", ["\u0000", "\u001b[2J", "\u007f", "\u0085", "\u0008"])
    def test_control_characters_are_refused_in_text_fields(self, api: Api, world: dict[str, str], bad: str) -> None:
        campaign = {"name": "S", "message": "Hi", "segment_id": "all", "send_at": TOMORROW}
        cases = [
            ("POST", "/subscribers", {"phone": "+12125550000", "name": f"Ada{bad}"}),
            ("POST", "/segments", {"name": f"VIP{bad}", "rule": {"all": []}}),
            ("POST", "/campaigns", {**campaign, "name": f"S{bad}"}),
            ("POST", "/campaigns", {**campaign, "message": f"Hi{bad}there"}),
            ("POST", "/campaigns/preview", {"message": f"Hi{bad}there", "segment_id": "all"}),
            ("POST", f"{PHONE_PATH}/replies", {"text": f"Hi{bad}", "quiet_hours": "send_now"}),
            ("PATCH", "/settings", {"shop_name": f"Acme{bad}"}),
            ("PATCH", "/settings", {"help_text": f"{{shop_name}}: help? Reply STOP{bad}"}),
        ]
        for method, path, payload in cases:
            error = refused(api, method, path, body=payload)
            assert error["details"]["field"] in payload
        assert api.ports.sms.sent == []  # type: ignore[attr-defined]

    def test_line_breaks_and_tabs_are_fine_where_a_message_may_have_them(self, api: Api, world: dict[str, str]) -> None:
        created = api.call(
            "POST", "/campaigns", body={"name": "S", "message": "Hi!\nLine two\tand a tab", "segment_id": "all", "draft": True}
        )
        assert created.status_code == 201 and body(created)["message"] == "Hi!\nLine two\tand a tab"
        reply = api.call("POST", f"{PHONE_PATH}/replies", body={"text": "Yes\r\nwe do", "quiet_hours": "send_now"})
        assert reply.status_code == 201
        refused(api, "POST", "/segments", body={"name": "two\nlines", "rule": {"all": []}})  # a name is one line


class TestComplianceTexts:
    @pytest.mark.parametrize(
        "patch",
        [
            {"stop_text": "Bye"},
            {"help_text": "Call us"},
            {"stop_text": "{shop_name}: see you"},
            {"help_text": "{shop_name}: STOP"},
        ],
    )
    def test_opt_out_wording_cannot_vanish(self, api: Api, patch: dict[str, str]) -> None:
        error = refused(api, "PATCH", "/settings", body=patch)
        assert error["code"] == "invalid_settings" and error["details"]["field"] in patch


class TestAuthComesFirst:
    def test_without_credentials_a_huge_body_is_401(self, api: Api) -> None:
        huge = b'{"shop_name": "' + b"x" * 70_000 + b'"}'
        assert refused(api, "PATCH", "/settings", 401, raw=huge, shop=None)["code"] == "missing_token"

    def test_without_credentials_a_non_json_body_is_401(self, api: Api) -> None:
        headers = {"Content-Type": "text/plain"}
        assert refused(api, "POST", "/segments", 401, raw=b"hello", shop=None, headers=headers)["code"] == "missing_token"

    def test_with_credentials_a_huge_body_is_413_in_the_one_shape(self, api: Api) -> None:
        huge = b'{"shop_name": "' + b"x" * 70_000 + b'"}'
        assert refused(api, "PATCH", "/settings", 413, raw=huge)["code"] == "body_too_large"

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", ""])
    def test_with_credentials_a_non_json_body_is_415_in_the_one_shape(
        self, api: Api, world: dict[str, str], content_type: str
    ) -> None:
        for method, path in body_routes(world):
            error = refused(api, method, path, 415, raw=b'{"name": "x"}', headers={"Content-Type": content_type})
            assert error["code"] == "unsupported_media_type"

    def test_json_with_a_charset_is_json(self, api: Api) -> None:
        charset = {"Content-Type": "application/json; charset=utf-8"}
        response = api.call("PATCH", "/settings", body={"attribution_window_days": 2}, headers=charset)
        assert response.status_code == 200 and body(response)["attribution_window_days"] == 2
