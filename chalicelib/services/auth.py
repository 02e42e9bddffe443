"""Who is calling: a shop API key, or a Shopify session token (HS256 JWT signed with the app secret)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

import jwt

from chalicelib.domain.errors import InvalidInput, NotFound, Unauthorized
from chalicelib.domain.shops import validate_shop_id
from chalicelib.services.ports import Ports
from chalicelib.services.shops import API_KEY_PREFIX, hash_api_key

# Shopify session tokens live one minute; allow a little clock drift between Shopify and Lambda.
_LEEWAY_SECONDS = 10


@dataclass(frozen=True)
class ShopifyApp:
    """The Shopify app's credentials: its API key is the token audience, its secret the HS256 key."""

    api_key: str
    api_secret: str


@dataclass(frozen=True)
class Caller:
    """The authenticated shop and how it proved itself."""

    shop_id: str
    method: str  # "api_key" or "shopify_session"


def authenticate(ports: Ports, authorization: str | None, shopify: ShopifyApp | None) -> Caller:
    """Resolve an ``Authorization`` header to the shop it acts for, or raise Unauthorized."""
    if not authorization:
        raise Unauthorized("missing Authorization header", code="missing_token")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization must be 'Bearer <token>'", code="invalid_token")
    # Keys and session tokens are printable ASCII; anything else (a lone surrogate from the event's JSON, say)
    # is refused here, before hashing or decoding it could fail with something other than Unauthorized.
    if not (token.isascii() and token.isprintable()):
        raise Unauthorized("the token is not one this service issued", code="invalid_token")
    if token.startswith(API_KEY_PREFIX):
        shop_id = ports.shops.shop_for_api_key(hash_api_key(token))
        if shop_id is None:
            raise Unauthorized("unknown API key", code="invalid_token")
        return Caller(shop_id=shop_id, method="api_key")
    return Caller(shop_id=_shop_from_session_token(token, shopify, ports), method="shopify_session")


def _shop_from_session_token(token: str, shopify: ShopifyApp | None, ports: Ports) -> str:
    if shopify is None:
        raise Unauthorized("Shopify session tokens are not enabled here", code="invalid_token")
    try:
        claims = jwt.decode(
            token,
            shopify.api_secret,
            algorithms=["HS256"],  # never let the token pick its algorithm
            audience=shopify.api_key,
            leeway=_LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "aud", "dest", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid session token: {exc}", code="invalid_token") from exc
    shop_id = _shop_domain(claims.get("dest"))
    issuer_shop = _shop_domain(str(claims.get("iss", "")).removesuffix("/admin"))
    if issuer_shop != shop_id:
        raise Unauthorized("session token issuer and destination disagree", code="invalid_token")
    try:
        ports.shops.get(shop_id)
    except NotFound as exc:  # a valid token for a shop that never installed us
        raise Unauthorized("shop is not installed", code="invalid_token") from exc
    return shop_id


def _shop_domain(url: object) -> str:
    if not isinstance(url, str):
        raise Unauthorized("session token has no shop", code="invalid_token")
    try:
        parsed = urlparse(url)
    except ValueError as exc:
        raise Unauthorized("session token shop must be an https shop URL", code="invalid_token") from exc
    if parsed.scheme != "https" or not parsed.hostname or parsed.path not in ("", "/"):
        raise Unauthorized("session token shop must be an https shop URL", code="invalid_token")
    try:
        return validate_shop_id(parsed.hostname)
    except InvalidInput as exc:
        raise Unauthorized("session token shop is malformed", code="invalid_token") from exc
