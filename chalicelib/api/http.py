"""The HTTP edge: one decorator for every route, doing auth, parsing into the route's models and error
mapping in one place, and recording what each route takes and answers for GET /openapi.json."""

from __future__ import annotations

import functools
import inspect
import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aws_lambda_powertools import Logger
from chalice import Blueprint, CORSConfig, Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.models.common import Body, Query
from chalicelib.composition import container
from chalicelib.domain.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    ProviderError,
    ProviderThrottled,
    SmscastError,
    TooManyRequests,
    TransientError,
    Unauthorized,
)
from chalicelib.domain.shopify import signature_valid
from chalicelib.observability import INHERIT, SERVICE, correlate
from chalicelib.services import idempotency
from chalicelib.services.auth import Caller, ShopifyApp, authenticate
from chalicelib.services.ports import Ports

logger = Logger(service=SERVICE, child=True, level=INHERIT)

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
# For public routes a store's pages call (the sign-up form): any origin, no credentials (no cookies, no
# Authorization), so a page elsewhere gains nothing it could not get with curl. API Gateway answers the OPTIONS
# preflight itself (chalice package writes a mock integration from this), as does devstack's local gateway.
PUBLIC_CORS = CORSConfig(allow_origin="*", allow_headers=["Content-Type"], max_age=600, allow_credentials=False)

# Most specific first: the first matching class decides the status.
_STATUS: tuple[tuple[type[SmscastError], int], ...] = (
    (idempotency.IdempotencyKeyReused, 422),
    (InvalidInput, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    (TooManyRequests, 429),
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


def error_response(
    status: int, code: str, message: str, details: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """The one error shape: {"error": {"code", "message", "details"?}}."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = dict(details)
    return Response(body={"error": error}, status_code=status, headers={"Content-Type": JSON, **(headers or {})})


def _error_headers(error: SmscastError) -> dict[str, str]:
    if isinstance(error, TooManyRequests):
        return {"Retry-After": str(error.retry_after)}
    return {}


T = TypeVar("T", bound=BaseModel)
B = TypeVar("B", bound=Body)


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A response body with a status other than the route's usual one (declared in ``endpoint(also=...)``)."""

    body: T
    status: int


@dataclass
class Call:
    """What a view gets besides its parsed body and query: the caller's shop and the ports."""

    shop_id: str
    caller: Caller | None
    raw_body: bytes | None
    ports: Ports
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names (Chalice's headers)
    # The caller's address as API Gateway saw the connection (requestContext.identity.sourceIp): never a header
    # such as X-Forwarded-For, which the caller writes itself.
    source_ip: str = ""


# --- parsing ------------------------------------------------------------------------------------------

_MESSAGES = {
    "string_pattern_mismatch": "must be text without control characters, and not blank",
    "extra_forbidden": "is not a known field",
}


# JSON field names here are snake_case; anything else in a location is pydantic naming the union member it
# tried ("AllOf", "int", "enum[Source]", "function-after[...]"), which the caller never wrote.
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_TYPE_TAGS = frozenset({"int", "str", "float", "bool", "none", "list", "dict"})


def _where(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if isinstance(p, int) or (_FIELD_NAME.fullmatch(p) and p not in _TYPE_TAGS)]
    return ".".join(parts) or "body"


def _code(error: Mapping[str, Any], model: type[Body], unknown: str) -> str:
    if error["type"] == "extra_forbidden":
        return unknown
    if model.error_code:
        return model.error_code
    name = str(error["loc"][0])
    return model.error_codes.get(f"{name}:{error['type']}") or model.error_codes.get(name) or f"invalid_{name}"


def parse(model: type[B], data: bytes | Mapping[str, str], *, unknown: str = "unknown_field") -> B:
    """``data`` (JSON bytes, or query parameters) as ``model``, or InvalidInput naming the offending fields."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        # Not JSON, nested too deep, or a lone surrogate: the parser's reason helps more than a field name.
        raise InvalidInput(f"request body is not valid JSON ({first['msg']})", code="invalid_json")
    if not first["loc"]:
        raise InvalidInput("request body must be a JSON object", code="invalid_json")
    unknown_fields = sorted({_where(e["loc"]) for e in errors if e["type"] == "extra_forbidden"})
    if unknown_fields:
        raise InvalidInput(f"unknown fields: {unknown_fields}", code=unknown, details={"fields": unknown_fields})
    problems = [{"field": _where(e["loc"]), "message": _MESSAGES.get(e["type"], e["msg"])} for e in errors[:10]]
    where = problems[0]["field"]
    raise InvalidInput(
        f"{where}: {problems[0]['message']}",
        code=_code(first, model, unknown),
        details={"field": where, "problems": problems},
    )


# --- routes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteSpec:
    """What a route takes and answers, read from its view's signature: the contract's source."""

    path: str
    method: str
    summary: str
    auth: bool
    status: int
    also: tuple[int, ...]
    errors: tuple[int, ...]
    body: type[Body] | None
    query: type[Query]
    response: type[BaseModel] | None
    idempotent: bool
    path_params: tuple[str, ...] = field(default=())
    signed: bool = False  # a Shopify webhook: X-Shopify-Hmac-Sha256 over the raw body instead of a bearer token
    max_body: int = MAX_BODY_BYTES
    page: bool = False  # a browser route: answers a redirect or a small HTML page, never JSON
    media_types: tuple[str, ...] = ()  # what a browser route's 200 may carry (the dashboard's page and files)
    cors: bool = False  # called by browsers from other origins (a store's pages): preflight and Allow-Origin


# view function (as Chalice holds it) -> its spec; contract.py reads it to write the OpenAPI document
SPECS: dict[Callable[..., Any], RouteSpec] = {}


def _response_model(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is Answer:
        annotation = typing.get_args(annotation)[0]
    if annotation is None or annotation is type(None) or annotation is Response:
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    raise TypeError(f"a view returns a model, an Answer[model] or None, not {annotation!r}")


def _spec(fn: Callable[..., Any], path: str, method: str, **options: Any) -> RouteSpec:
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters if p not in ("call", "body", "query")]
    body, query = hints.get("body"), hints.get("query", Query)
    return RouteSpec(
        path=path,
        method=method,
        summary=(fn.__doc__ or fn.__name__).strip().splitlines()[0],
        body=body,
        query=query,
        response=_response_model(hints.get("return")),
        path_params=tuple(params),
        **options,
    )


def _content_type_ok(headers: Mapping[str, str]) -> bool:
    media_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    return media_type == JSON


def endpoint(
    bp: Blueprint,
    path: str,
    methods: list[str],
    *,
    auth: bool = True,
    status: int = 200,
    also: tuple[int, ...] = (),
    errors: tuple[int, ...] = (),
    idempotent: bool = False,
    signed: bool = False,
    max_body: int = MAX_BODY_BYTES,
    page: bool = False,
    media_types: tuple[str, ...] = (),
    cors: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(call, [body], [query], **path_params)`` as a JSON route: authenticated, parsed into the
    models its signature names, errors mapped once. ``also`` lists other success statuses (see Answer),
    ``errors`` the 4xx it may answer besides the ones every route of its kind may (400, 401, 413, 415);
    ``page`` marks a browser route whose views return a Response (a redirect or an HTML page), ``media_types``
    what such a route answers with a 200; ``cors`` lets any origin's pages call it (public routes only)."""
    # idempotent=True: honour an Idempotency-Key header (services/idempotency.py), checked after auth.
    # signed=True (with auth=False): a Shopify webhook, verified on the raw bytes before anything else is read.
    (method,) = methods

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        spec = _spec(
            fn,
            path,
            method,
            auth=auth,
            status=status,
            also=also,
            errors=errors,
            idempotent=idempotent,
            signed=signed,
            max_body=max_body,
            page=page,
            media_types=media_types,
            cors=cors,
        )
        if cors and auth:
            raise TypeError("cors is for public routes: a credential must never be sent from another origin's page")

        @functools.wraps(fn)
        def view(**params: str) -> Response:
            request = bp.current_request
            correlate()  # one API Lambda serves many shops' requests in turn: nothing carries over
            try:
                result = _serve(spec, fn, request, params)
            except SmscastError as exc:
                code = status_for(exc)
                if code >= 500:
                    logger.exception("request failed", extra={"path": path, "code": exc.code})
                return error_response(code, exc.code, exc.message, exc.details, _error_headers(exc))
            except Exception:
                logger.exception("unhandled error", extra={"path": path})
                return error_response(500, "internal_error", "an internal error occurred")
            return result

        # Any content type reaches the view, so the check runs after auth and answers in the one error shape
        # (Chalice's own check would answer 415 first, in its own shape).
        bp.route(path, methods=methods, content_types=["*/*"], cors=PUBLIC_CORS if cors else None)(view)
        SPECS[view] = spec
        return view

    return decorator


def _serve(spec: RouteSpec, fn: Callable[..., Any], request: Any, params: dict[str, str]) -> Response:
    """Auth, then size and type, then parse, then the view (at most once per Idempotency-Key)."""
    ports = container().ports
    if spec.signed:
        _verify_shopify_signature(request)
    caller = authenticate(ports, request.headers.get("authorization"), _shopify_app()) if spec.auth else None
    if caller is not None:
        correlate(shop_id=caller.shop_id, campaign_id=params.get("campaign_id"), phone=params.get("phone"))
    raw = request.raw_body if request.method in ("POST", "PUT", "PATCH") else None
    if isinstance(raw, str):  # Chalice gives str for some local requests
        raw = raw.encode("utf-8")
    if raw is not None and len(raw) > spec.max_body:
        return error_response(413, "body_too_large", f"request body is over {spec.max_body} bytes")
    kwargs: dict[str, Any] = {}
    if spec.body is not None:
        if not _content_type_ok(request.headers):
            return error_response(415, "unsupported_media_type", f"the request body must be {JSON}")
        kwargs["body"] = parse(spec.body, raw or b"")
    query = parse(spec.query, request.query_params or {}, unknown="unknown_parameter")
    if spec.query is not Query:
        kwargs["query"] = query
    call = Call(
        shop_id=caller.shop_id if caller else "",
        caller=caller,
        raw_body=raw,
        ports=ports,
        headers=request.headers,
        source_ip=_source_ip(request),
    )
    key = request.headers.get("idempotency-key") if spec.idempotent else None
    if key is not None:
        return _run_once(call, f"{request.method} {spec.path}", key, params, lambda: _render(spec, fn(call, **kwargs, **params)))
    return _render(spec, fn(call, **kwargs, **params))


def _source_ip(request: Any) -> str:
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "")


def _render(spec: RouteSpec, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(body="", status_code=spec.status)
    status = spec.status
    if isinstance(result, Answer):
        result, status = result.body, result.status
    body = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return Response(body=body, status_code=status, headers={"Content-Type": JSON})


def _verify_shopify_signature(request: Any) -> None:
    """Unauthorized unless X-Shopify-Hmac-Sha256 signs the raw body with the app secret (nothing parsed yet)."""
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    secret = container().settings.shopify_api_secret or ""
    if not signature_valid(secret, raw, request.headers.get("x-shopify-hmac-sha256")):
        raise Unauthorized("the webhook signature does not match its body", code="invalid_signature")


def _shopify_app() -> ShopifyApp | None:
    settings = container().settings
    if settings.shopify_api_key and settings.shopify_api_secret:
        return ShopifyApp(api_key=settings.shopify_api_key, api_secret=settings.shopify_api_secret)
    return None


def _run_once(call: Call, route: str, key: str, params: Mapping[str, str], run: Callable[[], Response]) -> Response:
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
        run=lambda: _stored(run()),
    )
    headers: dict[str, str | list[str]] = {"Content-Type": JSON}
    if replayed:
        headers["Idempotent-Replayed"] = "true"  # as Stripe: the client can tell a replay from a first answer
    return Response(body=stored.body, status_code=stored.status, headers=headers)


def _stored(response: Response) -> idempotency.StoredResponse:
    return idempotency.StoredResponse(response.status_code, response.body)
