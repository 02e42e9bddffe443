"""GET /openapi.json stays true: same routes as the app, a valid OpenAPI 3.1 document, real responses fit it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from openapi_spec_validator import validate

from app import app
from chalicelib.api import openapi
from tests.unit.conftest import Api, body


def app_routes() -> set[tuple[str, str]]:
    return {(path, method.lower()) for path, entries in app.routes.items() for method in entries}


def spec_routes() -> set[tuple[str, str]]:
    return {(path, method) for path, ops in openapi.PATHS.items() for method in ops}


def test_every_route_is_documented_and_nothing_else() -> None:
    assert app_routes() == spec_routes()


def test_document_is_valid_openapi() -> None:
    validate(openapi.document())  # raises on an invalid document


def test_served_document_is_the_contract(api: Api) -> None:
    response = api.call("GET", "/openapi.json", shop=None)
    assert response.status_code == 200 and body(response) == json.loads(json.dumps(openapi.document()))


def _schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": {"schemas": openapi.SCHEMAS}}


def test_responses_match_their_schemas(api: Api) -> None:
    created = body(api.call("POST", "/subscribers", body={"phone": "+12125551234", "source": "checkout", "name": "Ada"}))
    jsonschema.validate(created, _schema("Subscriber"))
    jsonschema.validate(body(api.call("GET", "/subscribers/%2B12125551234")), _schema("SubscriberDetail"))
    jsonschema.validate(body(api.call("GET", "/subscribers")), _schema("SubscriberPage"))
    settings = body(api.call("GET", "/settings"))
    jsonschema.validate(settings, _schema("Settings"))
    assert set(settings) == set(openapi.SCHEMAS["Settings"]["properties"])
    jsonschema.validate(body(api.call("GET", "/settings", shop=None)), _schema("Error"))


def test_settings_schema_refuses_what_the_api_refuses() -> None:
    schema = _schema("Settings")
    for bad in ({"colour": "red"}, {"quiet_hours": {"start": "25:00"}}, {"mps": 0}):
        try:
            jsonschema.validate(bad, schema)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"schema accepted {bad}")
