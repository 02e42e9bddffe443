"""GET /openapi.json is generated from the routes and the models that parse them, and stays true: the same
routes as the app, a valid OpenAPI 3.1 document, and every response of the API tests validates against it
(the check runs on every call through the ``api`` fixture: tests/unit/conftest.py ``check_contract``)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from app import app
from chalicelib.api import contract
from chalicelib.api.http import SPECS, parse
from chalicelib.api.models.campaigns import CampaignCreate, CampaignPatch
from chalicelib.api.models.common import Body
from chalicelib.api.models.inbox import ReplyCreate
from chalicelib.api.models.segments import SegmentCreate
from chalicelib.api.models.settings import Settings, SettingsPatch
from chalicelib.api.models.subscribers import SubscriberCreate
from chalicelib.domain.errors import InvalidInput
from tests.unit.conftest import Api, body, check_contract, openapi


def app_routes() -> set[tuple[str, str]]:
    return {(path, method.lower()) for path, entries in app.routes.items() for method in entries}


def spec_routes() -> set[tuple[str, str]]:
    return {(path, method) for path, ops in openapi()["paths"].items() for method in ops}


def test_every_route_is_documented_and_nothing_else() -> None:
    assert app_routes() == spec_routes()


def test_every_route_goes_through_the_one_endpoint_decorator() -> None:
    views = {entry.view_function for entries in app.routes.values() for entry in entries.values()}
    assert views <= set(SPECS)


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi()
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on an invalid document


def test_served_document_is_what_the_models_generate(api: Api) -> None:
    response = api.call("GET", "/openapi.json", shop=None)
    assert response.status_code == 200
    assert body(response) == json.loads(json.dumps(contract.document(app.routes)))


def test_every_route_documents_its_success_and_error_responses() -> None:
    for path, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            if _browser_route(operation) and "200" in statuses:
                # a dashboard page or file: it says what it is, and no 400 (query parameters are ignored)
                assert operation["responses"]["200"]["content"], (method, path)
                assert "400" not in statuses and operation.get("security") == [], (method, path)
                continue
            if _browser_route(operation):
                # a redirect: query parameters a shared link picks up are ignored, so no 400
                assert {"302", "404", "default"} <= statuses, (method, path)
                assert "Location" in operation["responses"]["302"]["headers"], (method, path)
                continue
            assert {"400", "default"} <= statuses, (method, path)
            if operation.get("security") != []:
                assert "401" in statuses, (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= statuses, (method, path)
            assert any(s.startswith("2") for s in statuses), (method, path)


def _browser_route(operation: dict[str, Any]) -> bool:
    return any("text/html" in response.get("content", {}) for response in operation["responses"].values())


def test_the_contract_check_catches_a_wrong_response() -> None:
    with pytest.raises(jsonschema.ValidationError):
        check_contract("GET", "/settings", 200, b'{"shop_name": 7}')
    with pytest.raises(AssertionError):
        check_contract("DELETE", "/campaigns/cmp_1", 200, b"{}")  # a delete answers 204


def _schema(model: type[Body]) -> dict[str, Any]:
    document = openapi()
    name = model.__name__
    assert name in document["components"]["schemas"]
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


# Each body is refused by the parser and by the published schema alike: the schema is as strict as the API.
REFUSED: list[tuple[type[Body], dict[str, Any]]] = [
    (SettingsPatch, {"colour": "red"}),
    (SettingsPatch, {"quiet_hours": {"start": "25:00"}}),
    (SettingsPatch, {"quiet_hours": {"sleep": True}}),
    (SettingsPatch, {"mps": 10}),  # the operator's, per number: no setting
    (SettingsPatch, {"numbers": []}),  # read-only
    (SettingsPatch, {"shop_name": ""}),
    (SettingsPatch, {"shop_name": "A\u0000B"}),
    (SettingsPatch, {"help_text": "x" * 400}),
    (SubscriberCreate, {}),
    (SubscriberCreate, {"phone": ""}),
    (SubscriberCreate, {"phone": "+12125551234", "source": "sms"}),
    (SubscriberCreate, {"phone": "+12125551234", "name": "   "}),
    (SubscriberCreate, {"phone": "+12125551234", "profile_url": "http://shop/1"}),
    (SegmentCreate, {"name": "x"}),
    (SegmentCreate, {"name": "", "rule": {"all": []}}),
    (SegmentCreate, {"name": "x", "rule": {"all": []}, "extra": 1}),
    (CampaignCreate, {"name": "S", "message": "", "segment_id": "all"}),
    (CampaignCreate, {"name": "S", "message": "Hi", "segment_id": "all", "draft": "yes"}),
    (CampaignCreate, {"name": "S", "message": "Hi", "segment_id": "all", "send_at": None}),
    (CampaignCreate, {"name": "S", "message": "Hi\u001b[2J", "segment_id": "all"}),
    (CampaignPatch, {"name": "changed", "draft": "yes"}),
    (CampaignPatch, {"name": None}),
    (CampaignPatch, {"segment_id": ""}),
    (ReplyCreate, {"text": ""}),
    (ReplyCreate, {"text": "hi", "quiet_hours": "later"}),
    (ReplyCreate, {"text": "hi", "image_url": "https://cdn.shopify.com/a.png"}),
    (ReplyCreate, {"text": "hi\u0000"}),
]


@pytest.mark.parametrize("model, payload", REFUSED)
def test_schema_refuses_what_the_api_refuses(model: type[Body], payload: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        parse(model, json.dumps(payload).encode())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(_schema(model)).validate(payload)


ACCEPTED: list[tuple[type[Body], dict[str, Any]]] = [
    (SettingsPatch, {"quiet_hours": {"start": "20:30"}}),
    (SettingsPatch, {"sender_number": None, "frequency_cap": None}),
    (SubscriberCreate, {"phone": "+12125551234", "source": "checkout", "name": "Ada"}),
    (CampaignCreate, {"name": "S", "message": "Hi {first_name|there}\nbye", "segment_id": "all", "send_at": "now"}),
    (CampaignPatch, {"media_url": None}),
    (ReplyCreate, {"text": "line one\nline two\ttab", "media_url": "https://cdn.shopify.com/a.png"}),
]


@pytest.mark.parametrize("model, payload", ACCEPTED)
def test_schema_accepts_what_the_api_accepts(model: type[Body], payload: dict[str, Any]) -> None:
    parse(model, json.dumps(payload).encode())
    jsonschema.Draft202012Validator(_schema(model)).validate(payload)


@pytest.mark.parametrize("path", ["/subscribers", "/campaigns", "/inbox"])
def test_empty_cursor_is_refused_by_the_schema_and_the_api(api: Api, path: str) -> None:
    [cursor] = [p for p in openapi()["paths"][path]["get"]["parameters"] if p["name"] == "cursor"]
    schema = {**cursor["schema"], "components": openapi()["components"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate("")
    response = api.call("GET", f"{path}?cursor=")
    assert response.status_code == 400 and body(response)["error"]["details"]["field"] == "cursor"


@pytest.mark.parametrize(("full", "patch"), [(CampaignCreate, CampaignPatch), (Settings, SettingsPatch)])
def test_edit_models_are_the_full_models_made_optional(full: type[Body], patch: type[Body]) -> None:
    assert set(patch.model_fields) == set(full.model_fields)
    assert not any(f.is_required() for f in patch.model_fields.values())
    for name, field in full.model_fields.items():
        assert patch.model_fields[name].metadata == field.metadata, name  # same limits


def test_a_create_links_to_the_routes_on_what_it_created() -> None:
    """OpenAPI links (what a client or schemathesis's stateful run follows): POST /campaigns's 201 gives its
    ``id`` to every /campaigns/{campaign_id} route, a subscriber's ``phone`` to /subscribers/{phone}."""
    paths = openapi()["paths"]
    operation_ids = {op["operationId"] for ops in paths.values() for op in ops.values()}
    campaign = paths["/campaigns"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in campaign.values()} == {
        "get_campaigns_campaign_id",
        "patch_campaigns_campaign_id",
        "delete_campaigns_campaign_id",
        "put_campaigns_campaign_id_active",
        "post_campaigns_campaign_id_end",
    }
    assert all(link["parameters"] == {"campaign_id": "$response.body#/id"} for link in campaign.values())
    for status in ("200", "201"):  # added, or refreshed
        subscriber = paths["/subscribers"]["post"]["responses"][status]["links"]
        assert {link["parameters"]["phone"] for link in subscriber.values()} == {"$response.body#/phone"}
    segment = paths["/segments"]["post"]["responses"]["201"]["links"]
    assert segment == {
        "get_segments_segment_id_count": {
            "operationId": "get_segments_segment_id_count",
            "parameters": {"segment_id": "$response.body#/id"},
        }
    }
    linked = [
        link["operationId"]
        for ops in paths.values()
        for op in ops.values()
        for r in op["responses"].values()
        for link in r.get("links", {}).values()
    ]
    assert set(linked) <= operation_ids
