"""Shared unit fixtures: the HTTP API through Chalice's test client, on fake ports."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from chalice.test import Client

from app import app
from chalicelib.api import contract
from chalicelib.composition import Container, use_container
from chalicelib.services.ports import Ports
from chalicelib.settings import Settings
from tests.fakes import FakeIdempotencyStore, fake_ports
from tests.numbers import create_shop

SHOPIFY_KEY, SHOPIFY_SECRET = "app-key-123", "app-secret-0123456789abcdef0123456789abcdef"


class Api:
    def __init__(self, client: Client, ports: Ports, keys: dict[str, str], idempotency: FakeIdempotencyStore) -> None:
        self.client, self.ports, self.keys, self.idempotency = client, ports, keys, idempotency

    def call(
        self,
        method: str,
        path: str,
        *,
        shop: str | None = "demo",
        body: Any = None,
        raw: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            headers["Authorization"] = token
        elif shop is not None:
            headers["Authorization"] = f"Bearer {self.keys[shop]}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = self.client.http.request(method, path, headers=headers, body=payload)
        check_contract(method, path, response.status_code, response.body)  # every API test checks the contract
        return response


@functools.cache
def openapi() -> dict[str, Any]:
    """The document GET /openapi.json serves."""
    return contract.document(app.routes)


def _operation(method: str, path: str) -> dict[str, Any] | None:
    route = path.split("?", 1)[0]
    # A literal segment wins over a parameter (/inbox/unresolved-count is not /inbox/{phone}).
    for template, operations in sorted(openapi()["paths"].items(), key=lambda item: item[0].count("{")):
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, route) and method.lower() in operations:
            return dict(operations[method.lower()])
    return None


def check_contract(method: str, path: str, status: int, raw_body: bytes) -> None:
    """The response is one the document promises for this route: a documented status (any 5xx falls under
    "default") and a body that validates against that status's schema."""
    operation = _operation(method, path)
    if operation is None:
        return  # not one of the app's routes: Chalice's own 404/405
    responses = operation["responses"]
    documented = responses.get(str(status)) or (responses.get("default") if status >= 500 else None)
    assert documented is not None, f"{method} {path} answered {status}, which the contract does not list"
    content = documented.get("content")
    if content is None:
        assert not raw_body, f"{method} {path} {status} is documented without a body"
        return
    if "text/html" in content:
        assert raw_body.lstrip().lower().startswith(b"<!doctype html"), f"{method} {path} {status} promised an HTML page"
        return
    if "application/json" not in content:
        assert raw_body, f"{method} {path} {status} promised a file"  # its type: tests/unit/test_dashboard.py
        return
    schema = {**content["application/json"]["schema"], "components": openapi()["components"]}
    jsonschema.Draft202012Validator(schema).validate(json.loads(raw_body))


@pytest.fixture
def api() -> Iterator[Api]:
    ports = fake_ports()
    _, demo_key = create_shop(ports, shop_id="demo.myshopify.com", settings={"sender_number": "+15550100000"})
    _, other_key = create_shop(ports, shop_id="other.myshopify.com", settings={"sender_number": "+15550100001"})
    settings = Settings.from_env(
        {
            "AWS_REGION": "us-east-1",
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_SHOPIFY_API_KEY": SHOPIFY_KEY,
            "SMSCAST_SHOPIFY_API_SECRET": SHOPIFY_SECRET,
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
        }
    )
    idempotency = FakeIdempotencyStore()
    use_container(Container(settings, ports=ports, idempotency=idempotency))
    with Client(app) as client:
        yield Api(client, ports, {"demo": demo_key, "other": other_key}, idempotency)
    use_container(None)


def body(response: Any) -> Any:
    return json.loads(response.body)
