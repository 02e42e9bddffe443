"""The storefront script and the Shopify theme app extension that loads it: one script (the extension ships the
very file the API serves), blocks whose schema the theme editor can read, and the deployment's address in both."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from chalicelib.api import web
from tests.unit.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extensions" / "smscast-signup"
BLOCKS = sorted((EXTENSION / "blocks").glob("*.liquid"))


def schema(block: Path) -> dict[str, object]:
    found = re.search(r"{%\s*schema\s*%}(.*?){%\s*endschema\s*%}", block.read_text(encoding="utf-8"), re.S)
    assert found, f"{block.name} has no schema"
    loaded: dict[str, object] = json.loads(found.group(1))
    return loaded


def test_the_extension_ships_the_script_the_api_serves() -> None:
    assert (EXTENSION / "assets" / "signup.js").read_bytes() == (web.WEB_ROOT / "signup.js").read_bytes()


def test_it_is_a_theme_extension() -> None:
    config = tomllib.loads((EXTENSION / "shopify.extension.toml").read_text(encoding="utf-8"))
    assert config["type"] == "theme" and config["name"]
    assert {p.name for p in EXTENSION.iterdir()} <= {"assets", "blocks", "snippets", "locales", "shopify.extension.toml"}


@pytest.mark.parametrize("block", BLOCKS, ids=lambda p: p.name)
def test_each_block_loads_the_script_for_its_own_shop_from_the_deployment(block: Path) -> None:
    text = block.read_text(encoding="utf-8")
    assert "{{ 'signup.js' | asset_url }}" in text
    assert 'data-smscast-shop="{{ shop.permanent_domain }}"' in text  # the shop id smscast knows the shop by
    settings = {s["id"]: s for s in schema(block)["settings"]}  # type: ignore[attr-defined]
    app_url = tomllib.loads((ROOT / "shopify.app.toml").read_text(encoding="utf-8"))["application_url"]
    assert settings["api_url"]["default"] == app_url.rstrip("/")  # replaced together when deploying


def test_one_inline_block_and_one_popup_embed() -> None:
    targets = {block.name: schema(block)["target"] for block in BLOCKS}
    assert targets == {"signup.liquid": "section", "signup-popup.liquid": "body"}


def test_the_script_is_served_publicly_as_javascript(api: Api) -> None:
    response = api.call("GET", "/static/signup.js", shop=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert b"data-smscast-shop" in response.body


def test_the_script_never_writes_markup_from_the_shops_text() -> None:
    script = (web.WEB_ROOT / "signup.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
    assert 'credentials: "omit"' in script  # no cookie of the store's page ever reaches smscast
