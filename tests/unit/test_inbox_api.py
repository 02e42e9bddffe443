"""Inbox routes over HTTP (Chalice test client, fakes)."""

from __future__ import annotations

from datetime import datetime, timezone

from chalicelib.domain.messages import InboundSms
from chalicelib.services.inbound import receive_sms
from tests.unit.conftest import Api, body

NY = "+12125551234"
PATH = "/inbox/%2B12125551234"


def setup(api: Api) -> None:
    assert api.call("POST", "/subscribers", body={"phone": NY, "source": "checkout", "name": "Ada"}).status_code == 201
    receive_sms(api.ports, InboundSms("in-1", NY, "+15550100000", "Do you ship to Canada?", api.ports.clock.now()))


def test_list_count_thread_reply_resolve(api: Api) -> None:
    setup(api)
    assert body(api.call("GET", "/inbox/unresolved-count")) == {"unresolved": 1}
    listing = body(api.call("GET", "/inbox?status=unresolved"))
    assert [c["phone"] for c in listing["items"]] == [NY] and listing["items"][0]["last_message"] == "Do you ship to Canada?"
    thread = body(api.call("GET", PATH))
    assert thread["subscriber"]["name"] == "Ada" and thread["conversation"]["status"] == "unresolved"
    assert [m["body"] for m in thread["messages"]] == ["Do you ship to Canada?"]
    sent = api.call("POST", f"{PATH}/replies", body={"text": "We do!"})
    assert sent.status_code == 201 and body(sent)["state"] == "sent"
    assert body(api.call("GET", "/inbox/unresolved-count")) == {"unresolved": 0}
    assert body(api.call("POST", f"{PATH}/unresolve"))["status"] == "unresolved"
    assert body(api.call("POST", f"{PATH}/resolve"))["status"] == "resolved"
    assert body(api.call("POST", f"{PATH}/opt-out"))["status"] == "opted_out"
    again = api.call("POST", f"{PATH}/replies", body={"text": "one more thing"})
    assert again.status_code == 409 and body(again)["error"]["code"] == "opted_out"


def test_quiet_hours_409_then_schedule_202(api: Api) -> None:
    setup(api)
    api.ports.clock.at = datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc)  # type: ignore[attr-defined]  # 22:00 New York
    asked = api.call("POST", f"{PATH}/replies", body={"text": "tomorrow"})
    assert asked.status_code == 409
    assert body(asked)["error"] == {
        "code": "quiet_hours",
        "message": body(asked)["error"]["message"],
        "details": {"opens_at": "2026-11-21T14:00:00Z"},
    }
    scheduled = api.call("POST", f"{PATH}/replies", body={"text": "tomorrow", "quiet_hours": "schedule"})
    assert scheduled.status_code == 202 and body(scheduled)["send_at"] == "2026-11-21T14:00:00Z"
    assert [r["text"] for r in body(api.call("GET", PATH))["scheduled_replies"]] == ["tomorrow"]


def test_other_shop_and_unknown_numbers_are_404(api: Api) -> None:
    setup(api)
    assert api.call("GET", PATH, shop="other").status_code == 404
    assert api.call("POST", f"{PATH}/replies", shop="other", body={"text": "hi"}).status_code == 404
    assert api.call("POST", f"{PATH}/resolve", shop="other").status_code == 404
    assert body(api.call("GET", "/inbox/unresolved-count", shop="other")) == {"unresolved": 0}
    assert api.call("GET", "/inbox/%2B13125550100").status_code == 404


def test_bad_input_is_400(api: Api) -> None:
    setup(api)
    assert api.call("GET", "/inbox?status=archived").status_code == 400
    assert api.call("GET", "/inbox/not-a-phone").status_code == 400
    assert api.call("POST", f"{PATH}/replies", body={"text": ""}).status_code == 400
    assert api.call("POST", f"{PATH}/replies", raw=b"{oops").status_code == 400
