"""Shared unit fixtures: the HTTP API through Chalice's test client, on fake ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.composition import Container, use_container
from chalicelib.services.ports import Ports
from chalicelib.services.shops import create_shop
from chalicelib.settings import Settings
from tests.fakes import FakeIdempotencyStore, fake_ports

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
        return self.client.http.request(method, path, headers=headers, body=payload)


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
