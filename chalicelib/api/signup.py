"""Growing the list: GET /signup/link and its QR code, /signup/qr.svg and /signup/qr.png."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.adapters import qr
from chalicelib.api.http import Call, endpoint, error_response
from chalicelib.api.models.signup import ShareLink
from chalicelib.services import signup

bp = Blueprint(__name__)

SVG = "image/svg+xml"
PNG = "image/png"
# The image changes only when the shop's number or keyword does: a short private cache spares a dashboard that
# redraws the page, and a settings change shows within the minute.
_CACHE = "private, max-age=60"


@endpoint(bp, "/signup/link", ["GET"], errors=(409,))
def get_share_link(call: Call) -> ShareLink:
    """The shop's shareable keyword link (``sms:`` with the keyword typed); 409 ``no_sender_number`` or
    ``no_opt_in_keyword`` when it cannot have one yet."""
    return ShareLink.of(signup.get_share_link(call.ports, call.shop_id))


@endpoint(bp, "/signup/qr.svg", ["GET"], errors=(409,), media_types=(SVG,))
def get_share_qr_svg(call: Call) -> Response:
    """The QR code of the shop's keyword link, as SVG."""
    link = signup.get_share_link(call.ports, call.shop_id).link
    return Response(body=qr.svg(link), status_code=200, headers={"Content-Type": SVG, "Cache-Control": _CACHE})


@endpoint(bp, "/signup/qr.png", ["GET"], errors=(406, 409), media_types=(PNG,))
def get_share_qr_png(call: Call) -> Response:
    """The QR code of the shop's keyword link, as PNG; the request must accept ``image/png`` (406 otherwise)."""
    # API Gateway hands back a binary body (the Lambda answers it base64-encoded) only to a request whose Accept
    # names a binary media type, and Chalice refuses any other in its own error shape: say so in ours, first.
    if PNG not in (call.headers.get("accept") or "").lower():
        return error_response(406, "not_acceptable", f"send Accept: {PNG} to get the QR code as PNG")
    link = signup.get_share_link(call.ports, call.shop_id).link
    return Response(body=qr.png(link), status_code=200, headers={"Content-Type": PNG, "Cache-Control": _CACHE})
