"""Campaign and segment routes over HTTP (Chalice test client, fakes): lifecycle and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import FakeSchedules
from tests.unit.conftest import Api, body

# The fake clock: 2026-11-20 15:00 UTC = 10:00 in the store's America/New_York.
TOMORROW = "2026-11-21T10:00"


def create(api: Api, **overrides: Any) -> Any:
    payload = {"name": "Black Friday", "message": "Hi {first_name|there}, 30% off!", "segment_id": "all", "send_at": TOMORROW}
    payload.update(overrides)
    return api.call("POST", "/campaigns", body={k: v for k, v in payload.items() if v is not None})


def code(response: Any) -> str:
    return str(body(response)["error"]["code"])


def schedules(api: Api) -> FakeSchedules:
    assert isinstance(api.ports.schedules, FakeSchedules)
    return api.ports.schedules


class TestCreate:
    def test_scheduled_campaign_gets_one_schedule_in_store_time(self, api: Api) -> None:
        response = create(api)
        assert response.status_code == 201
        c = body(response)
        assert (c["status"], c["active"], c["send_at"], c["send_at_utc"]) == (
            "scheduled",
            True,
            "2026-11-21T10:00:00",
            "2026-11-21T15:00:00Z",
        )
        [(name, schedule)] = schedules(api).schedules.items()
        assert name == f"start-{c['id']}" and schedule.timezone == "America/New_York"
        assert schedule.when.isoformat() == "2026-11-21T10:00:00"

    def test_draft_has_no_schedule(self, api: Api) -> None:
        c = body(create(api, draft=True))
        assert c["status"] == "draft" and not c["active"] and schedules(api).schedules == {}

    def test_send_now_is_in_progress(self, api: Api) -> None:
        c = body(create(api, send_at="now"))
        assert c["status"] == "in_progress" and c["send_at"] == "now"

    @pytest.mark.parametrize(
        "overrides, expected",
        [
            ({"send_at": "2026-11-20T09:00"}, "send_at_in_past"),
            ({"send_at": "2026-11-20T10:00"}, "send_at_in_past"),
            ({"send_at": "2028-01-01T10:00"}, "send_at_too_far"),
            ({"send_at": "tomorrow"}, "invalid_send_at"),
            ({"send_at": "2026-11-21T10:00+00:00"}, "invalid_send_at"),
            ({"send_at": None}, "invalid_send_at"),
            ({"segment_id": "nope"}, "unknown_segment"),
            ({"segment_id": None}, "unknown_segment"),
            ({"message": ""}, "invalid_message"),
            ({"message": "   "}, "invalid_message"),
            ({"message": "x" * 1001}, "message_too_long"),
            ({"message": "🎉" * 700}, "message_too_long"),
            ({"message": "Hi {frist_name}"}, "invalid_placeholder"),
            ({"name": ""}, "invalid_name"),
            ({"draft": "yes"}, "invalid_draft"),
            ({"colour": "red"}, "unknown_field"),
        ],
    )
    def test_bad_input_is_400_and_creates_nothing(self, api: Api, overrides: dict[str, Any], expected: str) -> None:
        response = create(api, **overrides)
        assert response.status_code == 400 and code(response) == expected
        assert body(api.call("GET", "/campaigns"))["items"] == []
        assert schedules(api).schedules == {}


class TestLifecycle:
    def test_edit_moves_the_schedule(self, api: Api) -> None:
        c = body(create(api))
        response = api.call("PATCH", f"/campaigns/{c['id']}", body={"send_at": "2026-11-22T12:30", "name": "BF v2"})
        assert response.status_code == 200 and body(response)["name"] == "BF v2"
        assert schedules(api).schedules[f"start-{c['id']}"].when.isoformat() == "2026-11-22T12:30:00"

    def test_switch_off_and_on(self, api: Api) -> None:
        c = body(create(api))
        off = api.call("PUT", f"/campaigns/{c['id']}/active", body={"active": False})
        assert body(off)["status"] == "draft" and schedules(api).schedules == {}
        on = api.call("PUT", f"/campaigns/{c['id']}/active", body={"active": True})
        assert body(on)["status"] == "scheduled" and len(schedules(api).schedules) == 1

    def test_switch_refused_for_send_now_and_running(self, api: Api) -> None:
        draft = body(create(api, send_at="now", draft=True))
        response = api.call("PUT", f"/campaigns/{draft['id']}/active", body={"active": True})
        assert response.status_code == 409 and code(response) == "send_now_campaign"
        running = body(api.call("PATCH", f"/campaigns/{draft['id']}", body={"draft": False}))
        assert running["status"] == "in_progress"
        response = api.call("PUT", f"/campaigns/{draft['id']}/active", body={"active": False})
        assert response.status_code == 409 and code(response) == "illegal_transition"

    @pytest.mark.parametrize("payload", [{}, {"active": "yes"}, {"active": True, "extra": 1}])
    def test_bad_switch_body_is_400(self, api: Api, payload: dict[str, Any]) -> None:
        c = body(create(api))
        assert api.call("PUT", f"/campaigns/{c['id']}/active", body=payload).status_code == 400

    def test_edit_delete_refused_once_running(self, api: Api) -> None:
        c = body(create(api, send_at="now"))
        for method, path, payload in (
            ("PATCH", f"/campaigns/{c['id']}", {"name": "x"}),
            ("DELETE", f"/campaigns/{c['id']}", None),
        ):
            response = api.call(method, path, body=payload)
            assert response.status_code == 409 and code(response) == "illegal_transition"

    def test_end_only_in_progress_and_shows_not_sent(self, api: Api) -> None:
        scheduled = body(create(api))
        assert api.call("POST", f"/campaigns/{scheduled['id']}/end").status_code == 409
        running = body(create(api, send_at="now"))
        ended = body(api.call("POST", f"/campaigns/{running['id']}/end"))
        assert ended["status"] == "completed" and ended["ended_early"]
        assert api.call("POST", f"/campaigns/{running['id']}/end").status_code == 409

    def test_delete_removes_campaign_and_schedule(self, api: Api) -> None:
        c = body(create(api))
        assert api.call("DELETE", f"/campaigns/{c['id']}").status_code == 204
        assert api.call("GET", f"/campaigns/{c['id']}").status_code == 404
        assert schedules(api).schedules == {}

    def test_list_is_newest_first_with_totals(self, api: Api) -> None:
        first = body(create(api, name="one"))
        api.ports.clock.advance(seconds=5)  # type: ignore[attr-defined]
        second = body(create(api, name="two"))
        listing = body(api.call("GET", "/campaigns"))
        assert [c["id"] for c in listing["items"]] == [second["id"], first["id"]]
        assert listing["totals"]["sent"] == 0 and listing["totals"]["revenue"] == {"amount": 0, "currency": None}

    def test_other_shop_sees_nothing(self, api: Api) -> None:
        c = body(create(api))
        for method, path in (
            ("GET", f"/campaigns/{c['id']}"),
            ("POST", f"/campaigns/{c['id']}/end"),
            ("DELETE", f"/campaigns/{c['id']}"),
        ):
            assert api.call(method, path, shop="other").status_code == 404
        assert body(api.call("GET", "/campaigns", shop="other"))["items"] == []


class TestSegments:
    def test_builtins_custom_and_count(self, api: Api) -> None:
        for phone, source in (("+12125551001", "checkout"), ("+12125551002", "import"), ("+12125551003", "checkout")):
            api.call("POST", "/subscribers", body={"phone": phone, "source": source})
        ids = [s["id"] for s in body(api.call("GET", "/segments"))["items"]]
        assert {"all", "checkout", "keyword", "ordered", "never-ordered"} <= set(ids)
        assert body(api.call("GET", "/segments/checkout/count"))["count"] == 2
        created = api.call(
            "POST",
            "/segments",
            body={
                "name": "Importers or keyword",
                "rule": {
                    "any": [
                        {"field": "source", "op": "eq", "value": "import"},
                        {"field": "source", "op": "eq", "value": "keyword"},
                    ]
                },
            },
        )
        assert created.status_code == 201
        assert body(api.call("GET", f"/segments/{body(created)['id']}/count"))["count"] == 1
        assert api.call("GET", f"/segments/{body(created)['id']}/count", shop="other").status_code == 404

    @pytest.mark.parametrize(
        "payload",
        [
            {"name": "x", "rule": {"field": "colour", "op": "eq", "value": "red"}},
            {"name": "x", "rule": {"all": "nope"}},
            {"name": "", "rule": {"all": []}},
            {"name": "x"},
            {"name": "x", "rule": {"all": []}, "extra": 1},
        ],
    )
    def test_bad_segments_are_400(self, api: Api, payload: dict[str, Any]) -> None:
        assert api.call("POST", "/segments", body=payload).status_code == 400

    def test_unknown_segment_count_is_404(self, api: Api) -> None:
        assert api.call("GET", "/segments/nope/count").status_code == 404


class TestPreview:
    def test_preview_counts_waves_and_cost(self, api: Api) -> None:
        for phone in ("+12125551001", "+12135551002", "+18085551003"):
            api.call("POST", "/subscribers", body={"phone": phone})
        # 2026-11-21T06:00 New York: quiet there and in Los Angeles (03:00), Honolulu (01:00)
        response = api.call(
            "POST",
            "/campaigns/preview",
            body={"message": "Hello {first_name|friend}", "segment_id": "all", "send_at": "2026-11-21T06:00"},
        )
        assert response.status_code == 200
        p = body(response)
        assert (p["recipients"], p["deferred"], p["encoding"], p["parts"]) == (3, 3, "GSM-7", 1)
        assert [w["recipients"] for w in p["waves"]] == [1, 1, 1]
        assert p["waves"][0]["release_at"] == "2026-11-21T14:00:00Z"  # 09:00 New York
        assert p["estimated_cost"]["currency"] == "USD" and p["estimated_cost"]["parts"] == 3

    def test_preview_states_the_most_any_name_can_cost(self, api: Api) -> None:
        # 94 GSM characters with a 20-letter plain name: one part; an accented or emoji name turns the text to
        # UCS-2 (67 a part), so the true maximum is two parts, and the cost at that maximum is stated beside.
        for phone in ("+12125551001", "+12125551002"):
            api.call("POST", "/subscribers", body={"phone": phone})
        message = "Hi {first_name|there}! Big autumn sale on every jacket and boot in store, this weekend only."
        response = api.call("POST", "/campaigns/preview", body={"message": message, "segment_id": "all"})
        assert response.status_code == 200
        p = body(response)
        assert (p["encoding"], p["parts"], p["max_parts"]) == ("GSM-7", 1, 2)
        assert p["estimated_cost"]["parts"] == 2 and p["max_cost"]["parts"] == 4
        assert p["max_cost"]["amount"] == 2 * p["estimated_cost"]["amount"]

    def test_preview_refuses_bad_input(self, api: Api) -> None:
        assert api.call("POST", "/campaigns/preview", body={"message": "", "segment_id": "all"}).status_code == 400
        assert api.call("POST", "/campaigns/preview", body={"message": "hi", "segment_id": "zzz"}).status_code == 400
