"""The isolation matrix (issue 12, item 3): every route of the app x every way a caller can fail to prove who it
is, every route that names a resource x another shop's identifiers, and the public routes (Shopify webhooks,
short links) with hostile input.

Routes are read from the app itself and checked against GET /openapi.json, so a new route joins the matrix (or
fails here until it has a sample body / path value, or a reason to be public)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import app
from chalicelib.api.http import SPECS, RouteSpec
from tests.isolation import (
    SENDERS,
    TOMORROW,
    A,
    B,
    World,
    build_world,
    quote,
    rows,
    session_token,
    shop_rows,
    spy_on,
)
from tests.numbers import create_shop
from tests.unit.conftest import body, openapi

# --- the routes ---------------------------------------------------------------------------------------------


def _app_routes() -> dict[tuple[str, str], RouteSpec]:
    return {
        (method, path): SPECS[entry.view_function] for path, entries in app.routes.items() for method, entry in entries.items()
    }


ROUTES = _app_routes()
# The forged tokens are signed with short made-up secrets on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

# Routes anyone may call, and why. Every other route takes `Authorization: Bearer <API key | session token>`.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "the contract: describes the API, holds no shop's data",
    ("POST", "/webhooks/shopify"): "Shopify's webhooks: signed with the app secret (X-Shopify-Hmac-Sha256), no bearer",
    ("GET", "/r/{code}"): "a subscriber taps a short link in an SMS; the random code is the only key",
    ("HEAD", "/r/{code}"): "link checkers ask where a short link goes; the random code is the only key",
    ("GET", "/"): "the dashboard page; it signs in through the API with the merchant's own credential",
    ("GET", "/static/{name}"): "the dashboard's own scripts and styles, a fixed list of files",
}
AUTHENTICATED = sorted(route for route in ROUTES if route not in PUBLIC)

# A body each body route accepts, so that only the credential (or the identifier) is wrong.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/settings"): {"timezone": "America/Chicago"},
    ("POST", "/subscribers"): {"phone": "+12125559999", "source": "checkout"},
    ("POST", "/segments"): {"name": "Fresh", "rule": {"all": []}},
    ("POST", "/campaigns"): {"name": "New", "message": "Hi", "segment_id": "all", "send_at": TOMORROW},
    ("POST", "/campaigns/preview"): {"message": "Hi", "segment_id": "all"},
    ("PATCH", "/campaigns/{campaign_id}"): {"name": "Renamed"},
    ("PUT", "/campaigns/{campaign_id}/active"): {"active": False},
    ("POST", "/inbox/{phone}/replies"): {"text": "Hello", "quiet_hours": "send_now"},
}


def _id(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


def _path(template: str, values: dict[str, str]) -> str:
    path = template
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no sample value for a path parameter of {template}: add it to the world's identifiers"
    return path


def own_ids(world: World, shop_id: str) -> dict[str, str]:
    """A shop's own identifiers, by path parameter name."""
    shop = world.shops[shop_id]
    return {
        "phone": quote(shop.phones[0]),
        "campaign_id": shop.scheduled_id,
        "segment_id": shop.segment_id,
        "export_id": shop.export_id,
        "code": shop.link_code,
        "name": "app.css",
    }


def request(world: World, route: tuple[str, str], authorization: str | None, ids: dict[str, str]) -> Any:
    """Call ``route`` with exactly this Authorization header (None: none at all); the contract is checked."""
    method, template = route
    sample = BODIES.get(route)
    headers = {} if authorization is None else {"Authorization": authorization}
    raw = json.dumps(sample).encode() if sample is not None else None
    # shop=None with no token: the Api helper adds no Authorization of its own.
    return world.api.call(method, _path(template, ids), shop=None, raw=raw, headers=headers)


def error_of(response: Any) -> dict[str, Any]:
    """The one error shape, exactly: {"error": {"code", "message"[, "details"]}}."""
    payload = body(response)
    assert set(payload) == {"error"}, payload
    assert {"code", "message"} <= set(payload["error"]) <= {"code", "message", "details"}, payload
    assert isinstance(payload["error"]["code"], str) and isinstance(payload["error"]["message"], str)
    return dict(payload["error"])


# --- worlds ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared() -> Iterator[World]:
    """One world for the read-mostly matrix: every case checks it changed nothing, so cases cannot leak."""
    yield from build_world()


@pytest.fixture
def world(shared: World) -> World:
    shared.use()  # another module's test may have swapped the container since
    return shared


@pytest.fixture(scope="module")
def gone_key(shared: World) -> str:
    """The API key of a shop that installed the app and was erased since (shop/redact)."""
    shared.use()
    ports = shared.api.ports
    _, key = create_shop(ports, shop_id="gone.myshopify.com", settings={})
    ports.shop_data.erase_shop("gone.myshopify.com")
    return key


# --- 1. the contract lists exactly the app's routes ----------------------------------------------------------


def test_the_contract_and_the_app_list_the_same_routes() -> None:
    documented = {(method.upper(), path) for path, ops in openapi()["paths"].items() for method in ops}
    assert documented == set(ROUTES)
    assert len(ROUTES) >= 31  # a route lost from the app would quietly shrink the matrix


def test_public_routes_are_exactly_the_listed_ones_each_with_a_reason() -> None:
    unauthenticated = {route for route, spec in ROUTES.items() if not spec.auth}
    assert unauthenticated == set(PUBLIC), "a route without auth needs a reason in PUBLIC (or auth)"
    for (method, path), reason in PUBLIC.items():
        assert openapi()["paths"][path][method.lower()]["security"] == [], (method, path)
        assert reason
    for method, path in AUTHENTICATED:
        operation = openapi()["paths"][path][method.lower()]
        assert "security" not in operation  # the document's default: bearer
        assert "401" in operation["responses"], (method, path)


def test_every_body_route_has_a_sample_body() -> None:
    with_body = {route for route, spec in ROUTES.items() if spec.body is not None}
    assert with_body == set(BODIES)


# --- 1. every authenticated route x every bad credential ------------------------------------------------------

Credential = Callable[[World, str], "str | None"]  # (world, the gone shop's key) -> the Authorization header


def _key(world: World) -> str:
    return world.shops[A].key


NOW = time.time


CREDENTIALS: dict[str, Credential] = {
    # the header itself
    "no-header": lambda w, g: None,
    "empty": lambda w, g: "",
    "blank": lambda w, g: "   ",
    "bearer-alone": lambda w, g: "Bearer",
    "bearer-space": lambda w, g: "Bearer ",
    "key-without-scheme": lambda w, g: _key(w),
    "basic-scheme": lambda w, g: f"Basic {_key(w)}",
    "token-scheme": lambda w, g: f"Token {_key(w)}",
    "bearer-glued": lambda w, g: f"Bearer{_key(w)}",
    "bearer-tab": lambda w, g: f"Bearer\t{_key(w)}",
    "two-tokens": lambda w, g: f"Bearer {_key(w)} {_key(w)}",
    "two-headers-merged": lambda w, g: f"Bearer {_key(w)}, Bearer {_key(w)}",
    "non-ascii-key": lambda w, g: "Bearer sk_ünïcødé-🔑",
    "non-ascii-jwt": lambda w, g: "Bearer é.é.é",
    "very-long-key": lambda w, g: "Bearer sk_" + "A" * 16_000,
    "very-long-jwt": lambda w, g: "Bearer " + session_token(A, padding="x" * 16_000, secret="wrong-secret-0123456789abcdef01"),
    # API keys
    "unknown-key": lambda w, g: f"Bearer sk_{secrets.token_urlsafe(32)}",
    "prefix-only-key": lambda w, g: "Bearer sk_",
    "key-case-changed": lambda w, g: f"Bearer sk_{_key(w)[3:].swapcase()}",
    "key-truncated": lambda w, g: f"Bearer {_key(w)[:-1]}",
    "key-of-erased-shop": lambda w, g: f"Bearer {g}",
    # Shopify session tokens
    "jwt-expired": lambda w, g: "Bearer " + session_token(A, exp=int(NOW()) - 120),
    "jwt-not-yet-valid": lambda w, g: "Bearer " + session_token(A, nbf=int(NOW()) + 120),
    "jwt-wrong-audience": lambda w, g: "Bearer " + session_token(A, aud="another-app"),
    "jwt-no-audience": lambda w, g: "Bearer " + session_token(A, aud=None),
    "jwt-no-exp": lambda w, g: "Bearer " + session_token(A, exp=None),
    "jwt-no-nbf": lambda w, g: "Bearer " + session_token(A, nbf=None),
    "jwt-wrong-signature": lambda w, g: "Bearer " + session_token(A, secret="guessed-secret-0123456789abcdef0123"),
    "jwt-signature-stripped": lambda w, g: "Bearer " + session_token(A).rsplit(".", 1)[0] + ".",
    "jwt-alg-none": lambda w, g: "Bearer " + session_token(A, secret="", algorithm="none"),
    "jwt-alg-hs512": lambda w, g: "Bearer " + session_token(A, algorithm="HS512"),
    "jwt-issuer-other-shop": lambda w, g: "Bearer " + session_token(A, iss=f"https://{B}/admin"),
    "jwt-dest-other-shop": lambda w, g: "Bearer " + session_token(A, dest=f"https://{B}"),
    "jwt-no-dest": lambda w, g: "Bearer " + session_token(A, dest=None),
    "jwt-no-issuer": lambda w, g: "Bearer " + session_token(A, iss=None),
    "jwt-dest-http": lambda w, g: "Bearer " + session_token(A, dest=f"http://{A}"),
    "jwt-dest-with-path": lambda w, g: "Bearer " + session_token(A, dest=f"https://{A}/../{B}"),
    "jwt-dest-not-shopify": lambda w, g: "Bearer " + session_token("evil.example.com"),
    "jwt-shop-not-installed": lambda w, g: "Bearer " + session_token("ghost.myshopify.com"),
    "jwt-shop-erased": lambda w, g: "Bearer " + session_token("gone.myshopify.com"),
}
MISSING = {"no-header", "empty", "blank"}  # nothing presented at all: "missing_token"
# What a refused request may read first: the API key's shop, or the session token's shop (to see it is installed).
AUTH_READS = ("shops.shop_for_api_key", "shops.get")


@pytest.mark.parametrize("variant", sorted(CREDENTIALS))
@pytest.mark.parametrize("route", AUTHENTICATED, ids=_id)
def test_a_bad_credential_is_401_and_reads_and_changes_nothing(
    world: World, gone_key: str, route: tuple[str, str], variant: str
) -> None:
    authorization = CREDENTIALS[variant](world, gone_key)
    before = rows(world.api.ports, world.api.idempotency)
    seen = spy_on(world, None)
    try:
        response = request(world, route, authorization, own_ids(world, A))
    finally:
        world.use()
    assert response.status_code == 401, (response.status_code, response.body)
    code = error_of(response)["code"]
    if variant == "no-header":
        assert code == "missing_token"
    else:
        assert code in ("missing_token", "invalid_token")
    assert "Idempotent-Replayed" not in response.headers
    assert [call for call in seen if not call.startswith(AUTH_READS)] == []
    assert rows(world.api.ports, world.api.idempotency) == before


# The controls: the same requests with a good credential are not refused, so each 401 above is the credential's.
GOOD: dict[str, Callable[[World], str]] = {
    "api-key": lambda w: f"Bearer {w.shops[A].key}",
    "session-token": lambda w: "Bearer " + session_token(A),
}


@pytest.fixture(scope="module")
def control() -> Iterator[World]:
    """A world of its own: the controls really edit, delete and send."""
    yield from build_world()


@pytest.mark.parametrize("credential", sorted(GOOD))
@pytest.mark.parametrize("route", AUTHENTICATED, ids=_id)
def test_a_good_credential_reaches_the_route_and_sees_only_its_shop(
    control: World, route: tuple[str, str], credential: str
) -> None:
    control.use()
    seen = spy_on(control, B)
    try:
        response = request(control, route, GOOD[credential](control), own_ids(control, A))
    finally:
        control.use()
    assert response.status_code != 401 and response.status_code < 500, (response.status_code, response.body)
    assert seen == [], "a request of shop A named shop B at a port"
    leaked = [mark for mark in (B, SENDERS[B], *control.shops[B].marks()) if mark.encode() in response.body]
    assert leaked == []


# --- 2. another shop's identifiers --------------------------------------------------------------------------


# Which of shop B's things each path parameter is tried with (campaigns in every state: a route that checked
# the state before the owner would answer 409 and so confirm the campaign exists).
def other_ids(world: World) -> list[tuple[str, dict[str, str]]]:
    b = world.shops[B]
    phone = {"phone": quote(b.phones[0])}
    return [
        ("phone-in-thread", phone),
        ("phone-subscriber", {"phone": quote(b.phones[1])}),
        ("draft", {"campaign_id": b.draft_id}),
        ("scheduled", {"campaign_id": b.scheduled_id}),
        ("sent", {"campaign_id": b.sent_id}),
        ("segment", {"segment_id": b.segment_id}),
        ("export", {"export_id": b.export_id}),
    ]


NAMING = sorted(route for route in AUTHENTICATED if ROUTES[route].path_params)
KINDS = {
    "phone": ("phone-in-thread", "phone-subscriber"),
    "campaign_id": ("draft", "scheduled", "sent"),
    "segment_id": ("segment",),
    "export_id": ("export",),
}


def _cross_cases() -> list[Any]:
    cases = []
    for route in NAMING:
        (param,) = ROUTES[route].path_params
        assert param in KINDS, f"{_id(route)}: which of shop B's things should it be tried with?"
        for kind in KINDS[param]:
            for credential in sorted(GOOD):
                cases.append(pytest.param(route, kind, credential, id=f"{_id(route)}-{kind}-{credential}"))
    return cases


@pytest.mark.parametrize("route, kind, credential", _cross_cases())
def test_another_shops_identifier_is_404_and_its_data_is_never_read_or_changed(
    world: World, route: tuple[str, str], kind: str, credential: str
) -> None:
    ids = {**own_ids(world, A), **dict(other_ids(world))[kind]}
    before, everything = shop_rows(world, B), rows(world.api.ports, world.api.idempotency)
    seen = spy_on(world, B)
    try:
        response = request(world, route, GOOD[credential](world), ids)
    finally:
        world.use()
    assert response.status_code == 404, (response.status_code, response.body)
    error_of(response)
    assert seen == [], "shop A's request named shop B at a port"
    assert shop_rows(world, B) == before
    assert rows(world.api.ports, world.api.idempotency) == everything  # a 404 writes nothing, for anyone


LISTS = [
    "/subscribers",
    "/subscribers?status=opted_out",
    "/subscribers?q=646",
    "/segments",
    "/campaigns",
    "/inbox?status=unresolved",
    "/inbox?status=resolved",
    "/inbox?status=opted_out",
    "/inbox/unresolved-count",
    "/settings",
]


def test_every_list_route_is_in_the_list_check() -> None:
    listed = {path.split("?")[0] for path in LISTS}
    gets = {path for method, path in AUTHENTICATED if method == "GET" and not ROUTES[(method, path)].path_params}
    assert gets == listed


@pytest.mark.parametrize("credential", sorted(GOOD))
@pytest.mark.parametrize("path", LISTS)
def test_lists_show_only_the_callers_own_things(world: World, path: str, credential: str) -> None:
    seen = spy_on(world, B)
    try:
        response = world.api.call("GET", path, shop=None, headers={"Authorization": GOOD[credential](world)})
    finally:
        world.use()
    assert response.status_code == 200, response.body
    assert seen == []
    leaked = [mark for mark in (B, SENDERS[B], "other-", *world.shops[B].marks()) if mark.encode() in response.body]
    assert leaked == []


def test_lists_do_show_the_callers_own_things(world: World) -> None:
    """The other side of the check above: the same lists do carry shop A's things (so an empty list cannot pass)."""
    a = world.shops[A]
    paths = ("/subscribers", "/segments", "/campaigns", "/inbox?status=resolved")  # replied to: resolved
    bodies = {path: world.api.call("GET", path, shop="demo").body for path in paths}
    assert a.phones[0].encode() in bodies["/subscribers"]
    assert a.segment_id.encode() in bodies["/segments"]
    assert all(c.encode() in bodies["/campaigns"] for c in (a.draft_id, a.scheduled_id, a.sent_id))
    assert a.phones[0].encode() in bodies["/inbox?status=resolved"]
