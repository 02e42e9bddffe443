"""devstack end to end: signed Shopify webhooks posted by `python -m devstack.shopify`, through the queue and
the webhook worker, as a merchant would see the result over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devstack import shopify
from devstack.config import STATE_FILE_ENV, DevstackConfig
from tests.e2e.conftest import REPO_ROOT, Api, eventually

pytestmark = pytest.mark.e2e


def cli(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m devstack.shopify ...` as a developer would, against the session's devstack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("SMSCAST_")}
    env[STATE_FILE_ENV] = str(config_file)
    return subprocess.run(
        [sys.executable, "-m", "devstack.shopify", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def state_file(devstack: DevstackConfig, tmp_path: Path) -> Path:
    path = tmp_path / "devstack.json"
    path.write_text(json.dumps(devstack.to_dict()), encoding="utf-8")
    return path


def subscriber(api: Api, number: str) -> dict[str, object] | None:
    response = api.subscriber(number)
    return response.json() if response.status_code == 200 else None


def test_a_signed_customer_webhook_makes_a_checkout_subscriber_and_unsubscribed_opts_out(api: Api, state_file: Path) -> None:
    number = "+15551239101"
    done = cli(state_file, "customer", "--phone", number, "--name", "Grace Hopper", "--consent", "subscribed", "--id", "9101")
    assert done.returncode == 0, done.stderr
    assert "customers/create" in done.stdout and '"queued"' in done.stdout

    created = eventually(lambda: subscriber(api, number), what="the checkout subscriber")
    assert (created["status"], created["source"], created["name"]) == ("active", "checkout", "Grace Hopper")
    assert created["consent_history"][0]["source"] == "shopify"  # type: ignore[index]

    done = cli(state_file, "customer", "--phone", number, "--consent", "unsubscribed", "--id", "9101", "--update")
    assert done.returncode == 0, done.stderr
    eventually(lambda: (subscriber(api, number) or {}).get("status") == "opted_out", what="the Shopify opt-out")


def test_an_unsigned_webhook_is_refused(devstack: DevstackConfig, api: Api) -> None:
    body = json.dumps(shopify.customer_payload("+15551239102", at=shopify.stack_now(devstack))).encode()
    headers = shopify.headers("customers/create", body, shop=devstack.shop_id, secret="not-the-devstack-secret")
    response = requests.post(devstack.api_url.rstrip("/") + "/webhooks/shopify", data=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert api.subscriber("+15551239102").status_code == 404


def test_an_order_webhook_is_acknowledged(state_file: Path) -> None:
    done = cli(state_file, "order", "--phone", "+15551239101", "--total", "42.50", "--code", "SAVE10")
    assert done.returncode == 0, done.stderr
    assert "orders/create" in done.stdout and "-> 200" in done.stdout
