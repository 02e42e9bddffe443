"""The dashboard's routes: GET / and an allow-list of files, each with its type and a CSP of 'self'; nothing
else under /static/ (no traversal), no auth needed, and no devstack route in the deployed app."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from chalice import Chalice
from chalice.test import Client

from app import app
from chalicelib.adapters.clock import FileOffsetClock
from chalicelib.api import web
from devstack import web as devstack_web
from devstack.config import DevstackConfig
from tests.unit.conftest import Api


def header(response: object, name: str) -> str:
    headers = {k.lower(): v for k, v in response.headers.items()}  # type: ignore[attr-defined]
    return str(headers[name.lower()])


def test_the_dashboard_page_is_served_without_auth_with_a_strict_policy(api: Api) -> None:
    response = api.call("GET", "/", shop=None)
    assert response.status_code == 200
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert response.body.startswith(b"<!doctype html>")
    policy = header(response, "Content-Security-Policy")
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert header(response, "Cache-Control") == "no-cache"
    assert header(response, "X-Content-Type-Options") == "nosniff"
    # the Shopify app's client id, for App Bridge; the placeholder never reaches a browser
    assert b'<meta name="shopify-api-key" content="app-key-123">' in response.body
    assert b"{{" not in response.body
    assert b"cdn.shopify.com" not in response.body  # outside the admin nothing is loaded from elsewhere


def test_inside_the_shopify_admin_app_bridge_is_the_first_script_of_the_head(api: Api) -> None:
    response = api.call("GET", "/?shop=demo.myshopify.com&host=YWRtaW4&embedded=1", shop=None)
    assert response.status_code == 200
    head = response.body.split(b"</head>")[0]
    scripts = re.findall(rb"<script[^>]*>", head)
    assert scripts[0] == f'<script src="{web.APP_BRIDGE}">'.encode()  # synchronous: no async, defer or module
    assert len(scripts) == 2 and b'type="module"' in scripts[1]


@pytest.mark.parametrize("name", sorted(web.ASSETS))
def test_every_listed_file_exists_and_is_served_with_its_type(api: Api, name: str) -> None:
    response = api.call("GET", f"/static/{name}", shop=None)
    assert response.status_code == 200
    assert header(response, "Content-Type") == web.ASSETS[name]
    assert response.body == (web.WEB_ROOT / name).read_bytes()


def test_every_file_the_page_loads_is_on_the_list() -> None:
    """A script or style the page imports but the list misses would 404 in the browser."""
    wanted = set()
    for source in web.WEB_ROOT.iterdir():
        text = source.read_text(encoding="utf-8")
        wanted |= set(re.findall(r"/static/([\w.-]+)", text)) | set(re.findall(r'"\./([\w.-]+\.js)"', text))
    assert wanted <= set(web.ASSETS), wanted - set(web.ASSETS)
    assert {p.name for p in web.WEB_ROOT.iterdir()} == set(web.ASSETS) | {"index.html"}


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "web.py",
        "..%2Fapi%2Fweb.py",
        "%2E%2E%2Fsettings.py",
        "..",
        "APP.CSS",
        "app.css%00.py",
        "app.css.map",
        "x" * 300,
    ],
)
def test_anything_else_is_a_404_page(api: Api, name: str) -> None:
    response = api.call("GET", f"/static/{name}", shop=None)
    assert response.status_code == 404
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert b"Not found" in response.body


def test_the_files_live_where_chalice_packages_them() -> None:
    """Chalice deploys app.py, chalicelib/ and vendor/ only: the dashboard must be inside chalicelib/."""
    root = Path(__file__).resolve().parents[2]
    assert web.WEB_ROOT.resolve().is_relative_to(root / "chalicelib")


def test_devstack_routes_are_not_part_of_the_deployed_app() -> None:
    assert not [path for path in app.routes if path.startswith("/devstack")]


def test_devstack_routes_need_the_shops_key_and_show_the_clock_offset(api: Api, tmp_path: Path) -> None:
    clock_file = tmp_path / "clock.json"
    FileOffsetClock.write_offset(str(clock_file), timedelta(hours=2, minutes=30))
    local = Chalice(app_name="devstack-routes")
    config = DevstackConfig(
        api_url="http://127.0.0.1:1",
        api_key=api.keys["demo"],
        sender_number="+15550100000",
        aws_endpoint="http://127.0.0.1:1",
        region="us-east-1",
        resource_prefix="unit",
        clock_file=str(clock_file),
        shop_id="demo.myshopify.com",
    )
    devstack_web.register(local, config)
    with Client(local) as client:
        assert client.http.get("/devstack/status").status_code == 401
        answer = client.http.get("/devstack/status", headers={"Authorization": f"Bearer {api.keys['demo']}"})
        assert answer.status_code == 200
        status = json.loads(answer.body)
        assert (status["offset_seconds"], status["offset_label"]) == (9000, "+2h30m")
        refused = client.http.get("/devstack/phone/12", headers={"Authorization": f"Bearer {api.keys['demo']}"})
        assert refused.status_code == 400 and json.loads(refused.body)["error"]["details"]["field"] == "phone"
