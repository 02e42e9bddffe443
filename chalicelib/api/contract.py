"""GET /openapi.json, generated: the registered routes and the models their views parse and answer with.

Nothing here is written by hand but the wording: a route's request, parameters and responses come from its
RouteSpec (chalicelib/api/http.py), and every schema from the pydantic models in chalicelib/api/models/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import SPECS, RouteSpec
from chalicelib.api.models.common import Error

REF = "#/components/schemas/{model}"
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted: the rest happens later (an Inbox reply waits for quiet hours; a sign-up for the person's Y)",
    302: "Found: the browser goes on to the Location header",
    204: "No content",
    400: "Invalid request: the offending field is named in error.details",
    401: "Missing or invalid credentials",
    404: "Not found for this shop",
    406: "The request's Accept header does not name the media type this route answers with",
    409: "Conflicts with the current state",
    413: "Request body too large",
    415: "Request body is not application/json",
    422: "Idempotency-Key reused with another request",
    429: "Too many requests: try again after the Retry-After header's seconds",
}


def _route_specs(routes: Mapping[str, Mapping[str, Any]]) -> list[RouteSpec]:
    specs = []
    for path, entries in routes.items():
        for method, entry in entries.items():
            spec = SPECS.get(entry.view_function)
            if spec is None:
                raise LookupError(f"{method} {path} is not registered through api.http.endpoint")
            specs.append(spec)
    return specs


# What a Shopify webhook carries instead of a bearer token (see api/http.py endpoint(signed=True)).
_SIGNED_HEADERS = {
    "X-Shopify-Hmac-Sha256": "base64 HMAC-SHA256 of the raw body with the app secret",
    "X-Shopify-Topic": "the webhook topic, e.g. orders/create",
    "X-Shopify-Shop-Domain": "the shop, e.g. demo.myshopify.com",
    "X-Shopify-Webhook-Id": "the delivery's id; a replay with the same id is acknowledged and ignored",
}


def error_statuses(spec: RouteSpec) -> list[int]:
    """The 4xx a route documents: those every route of its kind may answer, and the ones it declares."""
    if spec.page:
        return sorted(spec.errors)  # a browser route ignores query parameters and takes no body
    statuses = {400, *spec.errors}  # every route refuses unknown query parameters
    if spec.auth or spec.signed:
        statuses.add(401)
    if spec.method in ("POST", "PUT", "PATCH"):
        statuses.add(413)
    if spec.body is not None:
        statuses.add(415)
    if spec.idempotent:
        statuses.update((409, 422))
    return sorted(statuses)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def operation_id(spec: RouteSpec) -> str:
    """The route's operationId: its method and path, e.g. ``get_campaigns_campaign_id``."""
    return f"{spec.method.lower()}_{spec.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}"


def _links(spec: RouteSpec, specs: list[RouteSpec], schemas: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAPI links from a create (POST on a collection answering 201) to every route on one of its items:
    ``POST /campaigns`` gives ``campaign_id`` to ``/campaigns/{campaign_id}...`` from its body's ``id`` (or the
    field named as the parameter, as a subscriber's ``phone``), so a client (or a fuzzer) can chain them."""
    if spec.method != "POST" or spec.status != 201 or spec.response is None or spec.path_params:
        return {}
    fields = schemas.get(spec.response.__name__, {}).get("properties", {})
    links: dict[str, Any] = {}
    for target in specs:
        item = re.fullmatch(re.escape(spec.path) + r"/\{(\w+)\}(/.*)?", target.path)
        if item is None or target.path_params != (item.group(1),):
            continue
        name = item.group(1)
        field = name if name in fields else "id" if "id" in fields else None
        if field is not None:
            links[operation_id(target)] = {
                "operationId": operation_id(target),
                "parameters": {name: f"$response.body#/{field}"},
            }
    return links


def _operation(
    spec: RouteSpec, specs: list[RouteSpec], names: Mapping[Any, dict[str, Any]], schemas: Mapping[str, Any]
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in spec.path_params
    ]
    query_schema = schemas[names[(spec.query, "validation")]["$ref"].rsplit("/", 1)[1]]
    required = set(query_schema.get("required", ()))
    for name, schema in query_schema.get("properties", {}).items():
        parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    if spec.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "a repeat with the same key gets the first response (24 hours)",
                "schema": {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$"},  # as idempotency.check_key
            }
        )
    if spec.signed:
        for name, description in _SIGNED_HEADERS.items():
            parameters.append(
                {"name": name, "in": "header", "required": True, "description": description, "schema": {"type": "string"}}
            )
    success = _json(names[(spec.response, "serialization")]) if spec.response else None
    responses: dict[str, Any] = {}
    links = _links(spec, specs, schemas)
    for status in (spec.status, *spec.also):
        responses[str(status)] = {"description": _REASONS.get(status, "OK")}
        if success and status != 204:
            responses[str(status)]["content"] = success
            if links:
                responses[str(status)]["links"] = links
        elif spec.media_types and status == 200:
            responses["200"]["content"] = {media_type: {"schema": {"type": "string"}} for media_type in spec.media_types}
    error = _json(names[(Error, "serialization")])
    refusal = {"text/html": {"schema": {"type": "string"}}} if spec.page else error  # a browser gets a page
    if spec.page and spec.status == 302:
        responses["302"]["headers"] = {"Location": {"required": True, "schema": {"type": "string", "format": "uri"}}}
    for status in error_statuses(spec):
        responses[str(status)] = {"description": _REASONS[status], "content": refusal}
        if status == 429:
            responses["429"]["headers"] = {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}}
    responses["default"] = {"description": "Server or dependency error", "content": error}
    operation: dict[str, Any] = {
        "operationId": operation_id(spec),
        "summary": spec.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if spec.body is not None:
        operation["requestBody"] = {"required": True, "content": _json(names[(spec.body, "validation")])}
    if not spec.auth:
        operation["security"] = []
    return operation


def document(routes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (a Chalice app's ``routes``)."""
    specs = _route_specs(routes)
    wanted: dict[tuple[type[BaseModel], Literal["validation", "serialization"]], None] = {(Error, "serialization"): None}
    for spec in specs:
        wanted[(spec.query, "validation")] = None
        if spec.body is not None:
            wanted[(spec.body, "validation")] = None
        if spec.response is not None:
            wanted[(spec.response, "serialization")] = None
    names, defs = models_json_schema(list(wanted), ref_template=REF)
    schemas = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for spec in sorted(specs, key=lambda s: (s.path, s.method)):
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, specs, names, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "smscast", "version": "1.0.0", "description": "SMS marketing for online stores."},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "shop API key or Shopify session token"}
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
