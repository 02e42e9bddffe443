"""GET|PATCH /settings."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.api.models.settings import SettingsPatch, SettingsView, patch_of
from chalicelib.services import shops

bp = Blueprint(__name__)


@endpoint(bp, "/settings", ["GET"])
def get_settings(call: Call) -> SettingsView:
    """The shop's settings and its sender numbers."""
    return SettingsView.of(shops.get_settings(call.ports, call.shop_id))


@endpoint(bp, "/settings", ["PATCH"], errors=(409,))
def patch_settings(call: Call, body: SettingsPatch) -> SettingsView:
    """Change any of the settings; the whole patch is checked before anything is saved. ``sender_number`` must
    be one of the shop's numbers (409 ``sender_number_not_assigned``, nothing saved)."""
    return SettingsView.of(shops.update_settings(call.ports, call.shop_id, patch_of(body)))
