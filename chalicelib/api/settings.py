"""GET|PATCH /settings."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.settings import Settings, SettingsPatch, patch_of
from chalicelib.services import shops

bp = Blueprint(__name__)


@endpoint(bp, "/settings", ["GET"])
def get_settings(call: Call) -> Settings:
    """The shop's settings."""
    return Settings.of(shops.get_settings(call.ports, call.shop_id))


@endpoint(bp, "/settings", ["PATCH"], errors=(409,))
def patch_settings(call: Call, body: SettingsPatch) -> Settings:
    """Change any of the settings; the whole patch is checked before anything is saved."""
    return Settings.of(shops.update_settings(call.ports, call.shop_id, patch_of(body)))
