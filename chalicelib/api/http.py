"""The HTTP edge: one decorator for every route, doing auth, JSON parsing and error mapping in one place."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from chalice import Blueprint, Response

from chalicelib.composition import container
from chalicelib.domain.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    ProviderError,
    ProviderThrottled,
    SmscastError,
    TransientError,
    Unauthorized,
)
from chalicelib.observability import INHERIT, SERVICE, correlate
from chalicelib.services import idempotency
from chalicelib.services.auth import Caller, ShopifyApp, authenticate
from chalicelib.services.ports import Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)

MAX_BODY_BYTES = 64 * 1024

# Most specific first: the first matching class decides the status.
_STATUS: tuple[tuple[type[SmscastError], int], ...] = (
    (idempotency.IdempotencyKeyReused, 422),
    (InvalidInput, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    (ProviderThrottled, 503),
    (TransientError, 503),
    (ProviderError, 502),
    (ConfigurationError, 500),
)


def status_for(error: SmscastError) -> int:
    """The HTTP status of a domain error."""
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def error_response(status: int, code: str, message: str, details: Mapping[str, Any] | None = None) -> Response:
    """The one error shape: {"error": {"code", "message", "details"?}}."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = dict(details)
    return Response(body={"error": error}, status_code=status, headers={"Content-Type": "application/json"})


@dataclass
class Call:
    """What a view gets: the caller's shop, the parsed request and the ports."""

    shop_id: str
    caller: Caller | None
    query: Mapping[str, str]
    raw_body: bytes | None
    ports: Ports

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or InvalidInput with a reason."""
        if not self.raw_body:
            raise InvalidInput("request body must be a JSON object", code="invalid_json")
        try:
            data = json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"malformed JSON: {exc}", code="invalid_json") from exc
        if not isinstance(data, dict):
            raise InvalidInput("request body must be a JSON object", code="invalid_json")
        return data

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query parameter within bounds."""
        raw = self.query.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise InvalidInput(f"{name} must be a whole number from {low} to {high}", code=f"invalid_{name}")
        return int(raw)

    def only_query(self, *allowed: str) -> None:
        """Refuse query parameters the route does not know (a typo must not silently widen a listing)."""
        unknown = set(self.query) - set(allowed)
        if unknown:
            raise InvalidInput(f"unknown query parameters: {sorted(unknown)}", code="unknown_parameter")


def _shopify_app() -> ShopifyApp | None:
    settings = container().settings
    if settings.shopify_api_key and settings.shopify_api_secret:
        return ShopifyApp(api_key=settings.shopify_api_key, api_secret=settings.shopify_api_secret)
    return None


def _as_stored(result: Any, status: int) -> idempotency.StoredResponse:
    if isinstance(result, Response):
        return idempotency.StoredResponse(result.status_code, result.body)
    return idempotency.StoredResponse(status, result)


def _run_once(call: Call, route: str, key: str, params: Mapping[str, str], run: Callable[[], Any], status: int) -> Response:
    """Run the view at most once per (shop, route, Idempotency-Key); a repeat gets the first response."""
    # A view that raises gives the key back (``once``) and its error is mapped by ``endpoint``: never kept.
    # Path parameters belong to the request: the same key for a reply to another phone is another request.
    target = json.dumps(params, sort_keys=True)
    stored, replayed = idempotency.once(
        container().idempotency,
        call.ports.clock.now(),
        shop_id=call.shop_id,
        route=route,
        key=idempotency.check_key(key),
        request_fingerprint=idempotency.fingerprint(target, call.raw_body),
        run=lambda: _as_stored(run(), status),
    )
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"  # as Stripe: the client can tell a replay from a first answer
    return Response(body=stored.body, status_code=stored.status, headers=headers)


def endpoint(
    bp: Blueprint,
    path: str,
    methods: list[str],
    *,
    auth: bool = True,
    status: int = 200,
    idempotent: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(call, **path_params)`` as a JSON route: authenticated, parsed, errors mapped once."""
    # idempotent=True: honour an Idempotency-Key header (services/idempotency.py), checked after auth.

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(**params: str) -> Response:
            request = bp.current_request
            correlate()  # one API Lambda serves many shops' requests in turn: nothing carries over
            try:
                raw = request.raw_body if request.method in ("POST", "PUT", "PATCH") else None
                if isinstance(raw, str):  # Chalice gives str for some local requests
                    raw = raw.encode("utf-8")
                if raw is not None and len(raw) > MAX_BODY_BYTES:
                    return error_response(413, "body_too_large", f"request body is over {MAX_BODY_BYTES} bytes")
                ports = container().ports
                caller = None
                if auth:
                    caller = authenticate(ports, request.headers.get("authorization"), _shopify_app())
                    correlate(shop_id=caller.shop_id, campaign_id=params.get("campaign_id"), phone=params.get("phone"))
                call = Call(
                    shop_id=caller.shop_id if caller else "",
                    caller=caller,
                    query=dict(request.query_params or {}),
                    raw_body=raw,
                    ports=ports,
                )
                key = request.headers.get("idempotency-key") if idempotent else None
                if key is not None:
                    return _run_once(call, f"{request.method} {path}", key, params, lambda: fn(call, **params), status)
                result = fn(call, **params)
            except SmscastError as exc:
                code = status_for(exc)
                if code >= 500:
                    logger.exception("request failed", extra={"path": path, "code": exc.code})
                return error_response(code, exc.code, exc.message, exc.details)
            except Exception:
                logger.exception("unhandled error", extra={"path": path})
                return error_response(500, "internal_error", "an internal error occurred")
            if isinstance(result, Response):
                return result
            return Response(body=result, status_code=status, headers={"Content-Type": "application/json"})

        # content_types: accept bodies that say JSON; Chalice itself answers 415 for others.
        bp.route(path, methods=methods, content_types=["application/json"])(view)
        return view

    return decorator
