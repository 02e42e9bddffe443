"""Growing the list: GET /signup/link and its QR code, /signup/qr.svg and /signup/qr.png (the merchant's); and
the storefront sign-up form, POST /signup/{shop} and GET /signup/{shop}/form (public, called from store pages).

What the public form may answer, and why none of it tells whether a number is subscribed:

- 202 ``check_your_phone``, the same body byte for byte, for a new number, a pending one, an active subscriber,
  a number that opted out (STOP) or was erased, a number past its hourly limit, and a confirmation the provider
  would not send. Only a new or pending number is texted; the answer does not say whether it was.
- 400 for the request itself (a malformed phone, a country the shop does not take, a page URL that is not an
  http(s) URL, a bad request id, a body that does not parse): decided before any subscriber is read.
- 409 ``consent_text_changed`` (the form's wording is not the shop's current one; decided from settings alone) and
  ``signups_unavailable`` (the shop has no sender number).
- 404 ``unknown_shop`` for a malformed, unknown or uninstalled shop: about the shop, which is public anyway.
- 429 with Retry-After for the caller's IP and for the shop's hourly limit: both are counted before, and
  whatever, the number's state, so they say nothing about it. A number's own limit is never a 429.
- 413 for a body over 8 KiB, 415 for one that is not JSON.

Not hidden: the time. A request that texts waits for the provider's answer (tens of milliseconds) and one that
does not, does not; a patient prober could time it, within the IP and phone limits. Sending after answering
(a queue) would close that, at the price of a second pipeline for one text.
"""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.adapters import qr
from chalicelib.api.http import Call, endpoint, error_response
from chalicelib.api.models.signup import ShareLink, SignupAccepted, SignupCreate, SignupEmbed, SignupFormView
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


# The form posts a phone, a country, the wording (at most a few KiB) and a page URL (at most 2 KiB).
SIGNUP_MAX_BODY = 8 * 1024


@endpoint(bp, "/signup/embed", ["GET"], errors=(409,))
def get_signup_embed(call: Call) -> SignupEmbed:
    """The caller's storefront sign-up form: the shop id its script tag names and what the form shows; 409
    ``signups_unavailable`` while the shop has no sender number."""
    return SignupEmbed.of_shop(call.shop_id, signup.get_form(call.ports, call.shop_id), call.ports.signup_limits)


@endpoint(bp, "/signup/{shop}/form", ["GET"], auth=False, errors=(404, 409), cors=True)
def get_signup_form(call: Call, shop: str) -> SignupFormView:
    """What the shop's storefront sign-up form shows: its name, its consent wording and the countries it takes."""
    return SignupFormView.of(signup.get_form(call.ports, shop))


@endpoint(bp, "/signup/{shop}", ["POST"], auth=False, status=202, errors=(404, 409, 429), cors=True, max_body=SIGNUP_MAX_BODY)
def post_signup(call: Call, body: SignupCreate, shop: str) -> SignupAccepted:
    """Sign a phone up from the shop's storefront form (double opt-in: it gets "reply Y to confirm"); the same 202
    whatever the number's state."""
    signup.sign_up(call.ports, shop, body.command(call.source_ip))
    return SignupAccepted()
