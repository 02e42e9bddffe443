"""GET|PATCH /settings."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.services import shops

bp = Blueprint(__name__)


@endpoint(bp, "/settings", ["GET"])
def get_settings(call: Call) -> dict[str, Any]:
    return shops.get_settings(call.ports, call.shop_id).to_dict()


@endpoint(bp, "/settings", ["PATCH"])
def patch_settings(call: Call) -> dict[str, Any]:
    return shops.update_settings(call.ports, call.shop_id, call.json()).to_dict()
