"""Property: whatever JSON value (or bytes) arrives at a body route, the answer is a status the contract
documents for that route, in the one error shape when it is an error, and never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.messages import InboundSms
from chalicelib.domain.signup_form import SignupLimits
from chalicelib.services.inbound import receive_sms
from tests.unit.conftest import Api, openapi

NY = "+12125551234"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None), max_size=40),  # surrogates and control characters included
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
SETTLE = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def routes(api: Api) -> list[tuple[str, str, str]]:
    """(method, path, template) of every route that takes a body, with the world they need."""
    api.call("POST", "/subscribers", body={"phone": NY, "source": "checkout", "name": "Ada"})
    receive_sms(api.ports, InboundSms("in-1", NY, "+15550100000", "Hello?", api.ports.clock.now()))
    campaign = api.call(
        "POST", "/campaigns", body={"name": "S", "message": "Hi", "segment_id": "all", "send_at": "2026-11-21T10:00"}
    )
    c = json.loads(campaign.body)["id"]
    concrete = {"{campaign_id}": c, "{phone}": "%2B12125551234", "{shop}": "demo.myshopify.com"}
    # The public sign-up form: lifted, so the fuzz reaches its parsing instead of the per-IP 429 (all from 127.0.0.1).
    api.ports.signup_limits = SignupLimits(per_ip=1_000_000, per_shop=1_000_000)
    found = []
    for template, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                path = template
                for name, value in concrete.items():
                    path = path.replace(name, value)
                found.append((method.upper(), path, template))
    assert len(found) == 11  # POST /signup/{shop} and POST /subscribers/imports among them
    return found


def fields_of(template: str, method: str) -> list[str]:
    schema = openapi()["paths"][template][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[1]
    return sorted(openapi()["components"]["schemas"][name].get("properties", {}))


def answer_is_documented(api: Api, method: str, path: str, template: str, raw: bytes) -> None:
    response = api.call(method, path, raw=raw)  # the fixture checks status and body against the contract
    documented = set(openapi()["paths"][template][method.lower()]["responses"]) - {"default"}
    assert str(response.status_code) in documented and response.status_code < 500, (response.status_code, raw[:200])


@SETTLE
@given(value=json_values)
def test_any_json_value(api: Api, routes: list[tuple[str, str, str]], value: Any) -> None:
    raw = json.dumps(value).encode()
    for method, path, template in routes:
        answer_is_documented(api, method, path, template, raw)


@SETTLE
@given(data=st.data())
def test_any_values_in_the_known_fields(api: Api, routes: list[tuple[str, str, str]], data: st.DataObject) -> None:
    for method, path, template in routes:
        names = fields_of(template, method)
        value = data.draw(st.dictionaries(st.sampled_from(names), json_values, max_size=len(names)))
        answer_is_documented(api, method, path, template, json.dumps(value).encode())


@SETTLE
@given(raw=st.binary(max_size=200))
def test_any_bytes(api: Api, routes: list[tuple[str, str, str]], raw: bytes) -> None:
    for method, path, template in routes:
        answer_is_documented(api, method, path, template, raw)
