"""The isolation matrix (issue 12, item 3): every route of the app x every way a caller can fail to prove who it
is, every route that names a resource x another shop's identifiers, and the public routes (Shopify webhooks,
short links) with hostile input.

Routes are read from the app itself and checked against GET /openapi.json, so a new route joins the matrix (or
fails here until it has a sample body / path value, or a reason to be public)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest

from app import app
from chalicelib.api.http import SPECS, RouteSpec
from chalicelib.api.webhooks import WEBHOOK_MAX_BODY
from chalicelib.domain.errors import InvalidInput, Unauthorized
from chalicelib.domain.shopify import Topic, Webhook, sign
from chalicelib.domain.shops import ShopSettings
from chalicelib.services.auth import ShopifyApp, authenticate
from chalicelib.services.webhooks import Handled
from chalicelib.workers import shopify_webhooks
from devstack.pumps import LocalLambdaContext
from devstack.shopify import customer_payload
from tests.isolation import (
    SENDERS,
    TOMORROW,
    A,
    B,
    World,
    build_world,
    deliver,
    quote,
    rows,
    session_token,
    shop_rows,
    spy_on,
)
from tests.numbers import create_shop
from tests.unit.conftest import SHOPIFY_KEY, SHOPIFY_SECRET, body, openapi

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
    ("GET", "/signup/{shop}/form"): "a store's sign-up form reads the shop's public name, wording and countries",
    ("POST", "/signup/{shop}"): "a shopper signs up on the store's page: double opt-in, limited, one answer for all",
}
AUTHENTICATED = sorted(route for route in ROUTES if route not in PUBLIC)

# A body each body route accepts, so that only the credential (or the identifier) is wrong.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/settings"): {"timezone": "America/Chicago"},
    ("POST", "/subscribers"): {"phone": "+12125559999", "source": "checkout"},
    ("POST", "/subscribers/exports"): {"status": "active"},
    ("POST", "/subscribers/imports"): {"file_name": "customers.csv"},
    ("POST", "/segments"): {"name": "Fresh", "rule": {"all": []}},
    ("POST", "/campaigns"): {"name": "New", "message": "Hi", "segment_id": "all", "send_at": TOMORROW},
    ("POST", "/campaigns/preview"): {"message": "Hi", "segment_id": "all"},
    ("PATCH", "/campaigns/{campaign_id}"): {"name": "Renamed"},
    ("PUT", "/campaigns/{campaign_id}/active"): {"active": False},
    ("POST", "/inbox/{phone}/replies"): {"text": "Hello", "quiet_hours": "send_now"},
    ("POST", "/signup/{shop}"): {
        "phone": "+12125559998",
        "country": "US",
        "consent_text": ShopSettings().signup_consent_text.replace("{shop_name}", "Our store"),
        "page_url": "https://demo.myshopify.com/",
        "request_id": "req-isolation-1",
    },
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
        "import_id": shop.import_id,
        "csv_export_id": shop.csv_export_id,
        "code": shop.link_code,
        "name": "app.css",
        "shop": shop_id,
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
    "lone-surrogate-key": lambda w, g: "Bearer sk_\ud800",  # JSON (the Lambda event) can carry one
    "lone-surrogate-jwt": lambda w, g: "Bearer " + session_token(A) + "\udfff",
    "nul-in-key": lambda w, g: f"Bearer {_key(w)}\x00",
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
        ("import", {"import_id": b.import_id}),
        ("csv-export", {"csv_export_id": b.csv_export_id}),
    ]


# Identifiers of things no shop has, shaped like real ones.
NOBODYS = {
    "phone": quote("+12125550000"),
    "campaign_id": "cmp_00000000000000000000",
    "segment_id": "seg_0000000000000000",
    "export_id": "dr_0",
    "import_id": "20261120T150000-000000000000",
    "csv_export_id": "20261120T150000-000000000000",
}
NAMING = sorted(route for route in AUTHENTICATED if ROUTES[route].path_params)
KINDS = {
    "phone": ("phone-in-thread", "phone-subscriber"),
    "campaign_id": ("draft", "scheduled", "sent"),
    "segment_id": ("segment",),
    "export_id": ("export",),
    "import_id": ("import",),
    "csv_export_id": ("csv-export",),
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
    code = error_of(response)["code"]
    assert seen == [], "shop A's request named shop B at a port"
    assert shop_rows(world, B) == before
    assert rows(world.api.ports, world.api.idempotency) == everything  # a 404 writes nothing, for anyone
    # The same answer as for a thing nobody has: the 404 does not tell A that B's thing exists.
    nobody = request(world, route, GOOD[credential](world), {**ids, **NOBODYS})
    assert (nobody.status_code, error_of(nobody)["code"]) == (404, code)
    assert rows(world.api.ports, world.api.idempotency) == everything


LISTS = [
    "/subscribers",
    "/subscribers?status=opted_out",
    "/subscribers?q=646",
    "/subscribers/imports",
    "/segments",
    "/campaigns",
    "/inbox?status=unresolved",
    "/inbox?status=resolved",
    "/inbox?status=opted_out",
    "/inbox/unresolved-count",
    "/settings",
    "/signup/link",
    "/signup/qr.svg",
    "/signup/embed",
]
# Reads of the caller's own shop that the list check cannot take: the PNG answers only an Accept of image/png, and
# holds the caller's own sign-up link as pixels (tests/unit/test_signup_link.py decodes it).
NOT_LISTS = {"/signup/qr.png"}


def test_every_list_route_is_in_the_list_check() -> None:
    listed = {path.split("?")[0] for path in LISTS}
    gets = {path for method, path in AUTHENTICATED if method == "GET" and not ROUTES[(method, path)].path_params}
    assert gets == listed | NOT_LISTS


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


# --- 2. another shop's identifiers inside a body, a cursor or an Idempotency-Key ------------------------------

MADE_UP_SEGMENT, UNASSIGNED_NUMBER = "seg_0000000000000000", "+15550100099"


def _body_cases(world: World) -> dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(method, path, body naming shop B's thing, the same body naming a thing nobody has)."""
    b, a = world.shops[B], world.shops[A]
    campaign = {"name": "X", "message": "Hi", "send_at": TOMORROW}
    return {
        "create-campaign-for-other-segment": (
            "POST",
            "/campaigns",
            {**campaign, "segment_id": b.segment_id},
            {**campaign, "segment_id": MADE_UP_SEGMENT},
        ),
        "preview-other-segment": (
            "POST",
            "/campaigns/preview",
            {"message": "Hi", "segment_id": b.segment_id},
            {"message": "Hi", "segment_id": MADE_UP_SEGMENT},
        ),
        "move-campaign-to-other-segment": (
            "PATCH",
            f"/campaigns/{a.scheduled_id}",
            {"segment_id": b.segment_id},
            {"segment_id": MADE_UP_SEGMENT},
        ),
        "send-from-other-shops-number": (
            "PATCH",
            "/settings",
            {"sender_number": SENDERS[B]},
            {"sender_number": UNASSIGNED_NUMBER},
        ),
    }


BODY_CASES = [
    "create-campaign-for-other-segment",
    "preview-other-segment",
    "move-campaign-to-other-segment",
    "send-from-other-shops-number",
]


@pytest.mark.parametrize("credential", sorted(GOOD))
@pytest.mark.parametrize("case", BODY_CASES)
def test_another_shops_identifier_in_a_body_is_answered_as_if_it_did_not_exist(world: World, case: str, credential: str) -> None:
    method, path, theirs, nobodys = _body_cases(world)[case]
    everything = rows(world.api.ports, world.api.idempotency)
    headers = {"Authorization": GOOD[credential](world)}
    seen = spy_on(world, B)
    try:
        answer = world.api.call(method, path, shop=None, body=theirs, headers=headers)
        control = world.api.call(method, path, shop=None, body=nobodys, headers=headers)
    finally:
        world.use()
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.body)
    assert (answer.status_code, error_of(answer)["code"]) == (control.status_code, error_of(control)["code"])
    assert seen == []
    assert rows(world.api.ports, world.api.idempotency) == everything


def test_the_same_phone_in_two_shops_is_two_subscribers(world: World) -> None:
    """Shop A adding a number shop B has: a new subscriber of A's (201, as for any new number, so it tells A
    nothing), and B's subscriber is untouched."""
    b = world.shops[B]
    before = shop_rows(world, B)
    seen = spy_on(world, B)
    try:
        response = world.api.call("POST", "/subscribers", shop="demo", body={"phone": b.phones[1], "source": "checkout"})
    finally:
        world.use()
    try:
        assert response.status_code == 201, response.body
        assert body(response)["name"] is None  # not B's subscriber's name
        assert seen == []
        assert shop_rows(world, B) == before
    finally:
        world.api.ports.subscribers.rows.pop((A, b.phones[1]), None)  # type: ignore[attr-defined]
        world.api.ports.subscribers.events[:] = [  # type: ignore[attr-defined]
            e
            for e in world.api.ports.subscribers.events  # type: ignore[attr-defined]
            if (e.shop_id, e.phone) != (A, b.phones[1])
        ]


@pytest.mark.parametrize(
    "path, other_body",
    [
        ("/campaigns", {"name": "Theirs", "message": "Hi", "segment_id": "all", "send_at": TOMORROW}),
        ("/inbox/{phone}/replies", {"text": "Theirs", "quiet_hours": "send_now"}),
    ],
    ids=["POST /campaigns", "POST /inbox/{phone}/replies"],
)
@pytest.mark.parametrize("same_body", [True, False], ids=["same-body", "other-body"])
def test_an_idempotency_key_another_shop_used_is_a_new_key(
    api: Any, path: str, other_body: dict[str, Any], same_body: bool
) -> None:
    """Shop B's key replayed by shop A gets neither B's answer (a replay) nor a 422 (which would tell A that B
    used the key): A's request runs as a first request."""
    phone = "+12125557777"
    for shop in ("demo", "other"):
        assert api.call("POST", "/subscribers", shop=shop, body={"phone": phone, "source": "checkout"}).status_code == 201
    concrete = path.replace("{phone}", quote(phone))
    key = {"Idempotency-Key": "order-42"}
    theirs = api.call("POST", concrete, shop="other", body=other_body, headers=key)
    assert theirs.status_code == 201, theirs.body
    mine_body = other_body if same_body else {**other_body, **({"name": "Mine"} if "name" in other_body else {"text": "Mine"})}
    mine = api.call("POST", concrete, shop="demo", body=mine_body, headers=key)
    assert mine.status_code == 201, mine.body
    assert "Idempotent-Replayed" not in mine.headers
    assert body(mine)["id"] != body(theirs)["id"]
    again = api.call("POST", concrete, shop="demo", body=mine_body, headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true" and body(again)["id"] == body(mine)["id"]


def test_another_shops_cursor_never_pages_into_its_data(world: World) -> None:
    """A cursor shop B was given, replayed by shop A, lists A's own rows or none (the DynamoDB adapters refuse
    it outright: cursors.require_partition)."""
    b = world.shops[B]
    for path in ("/subscribers?limit=1", "/campaigns?limit=1", "/inbox?status=resolved&limit=1"):
        cursor = body(world.api.call("GET", path, shop="other"))["next_cursor"] or "e30="
        seen = spy_on(world, B)
        try:
            response = world.api.call("GET", f"{path}&cursor={cursor}", shop="demo")
        finally:
            world.use()
        assert response.status_code in (200, 400), response.body
        assert seen == []
        assert not [mark for mark in (B, *b.marks()) if mark.encode() in response.body]


# --- 3. Shopify webhooks with hostile input ------------------------------------------------------------------

WEBHOOK = "/webhooks/shopify"


def _signed(raw: bytes, *, topic: str = "customers/create", shop: str = A, webhook_id: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or secrets.token_hex(8),
        "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, raw),
    }


def _customer(phone: str = "+12125558888", customer_id: int = 555) -> bytes:
    return json.dumps(
        customer_payload(phone, at=datetime(2026, 11, 20, 15, tzinfo=timezone.utc), customer_id=customer_id)
    ).encode()


def _webhook_state(world: World) -> tuple[list[Any], list[str]]:
    ports = world.api.ports
    return list(ports.webhooks.webhooks), sorted(k for k in ports.claims.keys if k.startswith("shopify-webhook"))  # type: ignore[attr-defined]


def _forge(name: str) -> Callable[[bytes, dict[str, str]], dict[str, str]]:
    def hmac_of(body: bytes, secret: str = SHOPIFY_SECRET, digest: Any = hashlib.sha256) -> bytes:
        return hmac.new(secret.encode(), body, digest).digest()

    forgeries: dict[str, Callable[[bytes, dict[str, str]], dict[str, str]]] = {
        "missing": lambda raw, h: {k: v for k, v in h.items() if k != "X-Shopify-Hmac-Sha256"},
        "empty": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": ""},
        "garbage": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": "not base64 at all!!"},
        "hmac-of-another-body": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, b'{"id": 1}')},
        "hmac-of-body-plus-newline": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, raw + b"\n")},
        "hmac-with-another-secret": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": sign("not-the-app-secret", raw)},
        "hmac-with-the-api-key": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": sign("app-key-123", raw)},
        "hmac-as-hex": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": hmac_of(raw).hex()},
        "hmac-sha1": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": base64.b64encode(hmac_of(raw, digest=hashlib.sha1)).decode()},
        "hmac-truncated": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, raw)[:-4]},
        "hmac-twice": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": f"{sign(SHOPIFY_SECRET, raw)},{sign(SHOPIFY_SECRET, raw)}"},
        "hmac-non-ascii": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": "ñ" + sign(SHOPIFY_SECRET, raw)[1:]},
        "hmac-very-long": lambda raw, h: {**h, "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, raw) * 400},
        "bearer-instead": lambda raw, h: {
            **{k: v for k, v in h.items() if k != "X-Shopify-Hmac-Sha256"},
            "Authorization": "Bearer " + session_token(A),
        },
    }
    return forgeries[name]


FORGERIES = [
    "missing",
    "empty",
    "garbage",
    "hmac-of-another-body",
    "hmac-of-body-plus-newline",
    "hmac-with-another-secret",
    "hmac-with-the-api-key",
    "hmac-as-hex",
    "hmac-sha1",
    "hmac-truncated",
    "hmac-twice",
    "hmac-non-ascii",
    "hmac-very-long",
    "bearer-instead",
]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_webhook_without_a_valid_signature_is_401_and_nothing_is_kept(world: World, forgery: str) -> None:
    raw = _customer()
    before, everything = _webhook_state(world), rows(world.api.ports, world.api.idempotency)
    response = world.api.call("POST", WEBHOOK, shop=None, raw=raw, headers=_forge(forgery)(raw, _signed(raw)))
    assert response.status_code == 401, response.body
    assert error_of(response)["code"] == "invalid_signature"
    assert _webhook_state(world) == before
    assert rows(world.api.ports, world.api.idempotency) == everything


def test_a_replayed_webhook_is_processed_once_and_the_same_id_in_another_shop_is_its_own(world: World) -> None:
    ports = world.api.ports
    raw_a, raw_b = _customer("+12125558801", 801), _customer("+16465558802", 802)
    outcomes = []
    for _ in range(3):  # Shopify's retries, and a replay by whoever captured the request
        outcomes.append(
            body(world.api.call("POST", WEBHOOK, shop=None, raw=raw_a, headers=_signed(raw_a, webhook_id="wh-1")))["outcome"]
        )
        assert deliver(world.api) in ([Handled.DONE], [])
    assert outcomes == ["queued", "duplicate", "duplicate"]
    # Shop B's webhook with the same id is another webhook, not a duplicate of shop A's.
    answer = world.api.call("POST", WEBHOOK, shop=None, raw=raw_b, headers=_signed(raw_b, shop=B, webhook_id="wh-1"))
    assert body(answer)["outcome"] == "queued"
    assert deliver(world.api) == [Handled.DONE]
    events = [(e.shop_id, e.phone) for e in ports.subscribers.events if e.phone in ("+12125558801", "+16465558802")]  # type: ignore[attr-defined]
    assert events == [(A, "+12125558801"), (B, "+16465558802")]


MIB = 1024 * 1024


@pytest.mark.parametrize(
    "size, signed, status",
    [
        (MIB, True, 200),  # the route's own limit (webhooks.WEBHOOK_MAX_BODY), taken whole
        (MIB + 1, True, 413),
        (6 * MIB, True, 413),  # Lambda's limit for a synchronous request (API Gateway's is 10 MB)
        (6 * MIB, False, 401),  # unsigned: refused before its size matters
    ],
    ids=["1MiB-signed", "1MiB+1-signed", "6MiB-signed", "6MiB-unsigned"],
)
def test_a_huge_webhook_is_refused_by_size_and_nothing_is_kept(world: World, size: int, signed: bool, status: int) -> None:
    assert WEBHOOK_MAX_BODY == MIB
    prefix = b'{"id": 9001, "note": "'
    raw = prefix + b"x" * (size - len(prefix) - 2) + b'"}'
    assert len(raw) == size
    before = _webhook_state(world)
    headers = _signed(raw, topic="orders/create") if signed else {**_signed(b""), "Content-Type": "application/json"}
    response = world.api.call("POST", WEBHOOK, shop=None, raw=raw, headers=headers)
    assert response.status_code == status, response.body[:200]
    if status == 200:
        (queued,) = world.api.ports.webhooks.webhooks  # type: ignore[attr-defined]
        assert len(queued.body) < 256 * 1024  # cut down to what the worker reads, to fit SQS
        deliver(world.api)
    else:
        assert _webhook_state(world) == before


def _deep(depth: int) -> bytes:
    return b'{"id": 1, "phone": ' + b"[" * depth + b"]" * depth + b"}"


ENCODINGS: dict[str, tuple[bytes, str]] = {
    "invalid-utf8": (b'{"id": 1, "phone": "+1212555\xff\xfe", "first_name": "\xc3"}', "application/json"),
    "utf16": (_customer("+12125558811").decode().encode("utf-16"), "application/json"),
    "utf8-bom": (b"\xef\xbb\xbf" + _customer("+12125558812"), "application/json"),
    "gzip-without-header": (gzip.compress(_customer("+12125558813")), "application/json"),
    "form-encoded": (b"id=1&phone=%2B12125558814&sms_marketing_consent=subscribed", "application/x-www-form-urlencoded"),
    "lone-surrogate": (b'{"id": 1, "phone": "\\ud800", "first_name": "\\udfff"}', "application/json"),
    "lone-surrogate-in-a-name": (_customer("+12125558817").replace(b'"Ada"', b'"Ada\\udfff"'), "application/json"),
    "nul-bytes": (b'{"id": 1, "phone": "+1212555\\u00008815"}', "application/json"),
    "empty": (b"", "application/json"),
    "null": (b"null", "application/json"),
    "array": (b"[1, 2, 3]", "application/json"),
    "huge-number": (b'{"id": 1' + b"0" * 5000 + b', "phone": "+12125558816"}', "application/json"),
    "deeply-nested": (_deep(100_000), "application/json"),  # under the queue's size: the worker parses it
    "deeply-nested-over-queue-size": (_deep(300_000), "application/json"),  # over: the route cuts it down first
}


# What becomes of each: the route's status, and what the worker did. DONE with garbage in it means the fields
# that matter (the phone) were refused one by one and nothing was stored; DROPPED is "not a JSON object of text".
OUTCOMES: dict[str, tuple[int, list[Handled]]] = {
    "array": (200, [Handled.DROPPED]),
    "deeply-nested": (200, [Handled.DROPPED]),
    "deeply-nested-over-queue-size": (400, []),
    "empty": (200, [Handled.DROPPED]),
    "form-encoded": (200, [Handled.DROPPED]),
    "gzip-without-header": (200, [Handled.DROPPED]),
    "huge-number": (200, [Handled.DROPPED]),
    "invalid-utf8": (200, [Handled.DONE]),  # the bytes are replaced (U+FFFD), so the phone is no phone
    "lone-surrogate": (200, [Handled.DROPPED]),
    "lone-surrogate-in-a-name": (200, [Handled.DROPPED]),
    "nul-bytes": (200, [Handled.DONE]),  # the phone with a NUL in it is no phone
    "null": (200, [Handled.DROPPED]),
    "utf16": (200, [Handled.DROPPED]),
    "utf8-bom": (200, [Handled.DROPPED]),
}


def test_every_encoding_has_an_expected_outcome() -> None:
    assert set(OUTCOMES) == set(ENCODINGS)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_a_signed_webhook_in_an_odd_encoding_never_fails_and_never_loops(world: World, encoding: str) -> None:
    """A webhook_never_5xx and poison_webhook_dropped regression: whatever signed bytes arrive, the route answers
    200 or 400 (never 5xx), and the worker does the work or drops the message (it never raises, which would
    have SQS deliver it again until it lands on the dead-letter queue). Nothing is stored from garbage."""
    raw, content_type = ENCODINGS[encoding]
    everything_of_a = world.api.ports.subscribers.rows.copy()  # type: ignore[attr-defined]
    other = shop_rows(world, B)
    headers = {**_signed(raw), "Content-Type": content_type}
    response = world.api.call("POST", WEBHOOK, shop=None, raw=raw, headers=headers)
    status, handled = OUTCOMES[encoding]
    assert response.status_code == status, response.body[:300]
    if response.status_code == 400:
        error_of(response)
        assert world.api.ports.webhooks.webhooks == []  # type: ignore[attr-defined]
    assert deliver(world.api) == handled
    assert world.api.ports.subscribers.rows == everything_of_a  # type: ignore[attr-defined]
    assert shop_rows(world, B) == other


def test_a_webhook_with_text_that_is_not_unicode_is_dropped_not_retried() -> None:
    """Regression (lowest layer): a signed payload holding a lone surrogate parsed fine, and its write failed on
    every delivery (moto's DynamoDB refuses it), sending the message round until the dead-letter queue."""
    received = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
    for text in ('{"id": 1, "first_name": "Ada\\udfff"}', '{"id": 1, "note": ["\\ud800"]}', '{"\\ud83d": 1}'):
        with pytest.raises(InvalidInput):
            Webhook(A, Topic.CUSTOMERS_CREATE, "wh-s", text, received).payload()
    fine = '{"id": 1, "first_name": "Zo\\u00eb \\ud83c\\udf89"}'  # a pair is one character (🎉)
    assert Webhook(A, Topic.CUSTOMERS_CREATE, "wh-s", fine, received).payload()["first_name"] == "Zoë 🎉"


@pytest.mark.parametrize(
    "domain, queued_for",
    [
        ("ghost.myshopify.com", None),
        ("evil.example.com", None),
        (f"{A}.evil.example.com", None),
        (f"{A}/../{B}", None),
        (f"{A}, {B}", None),
        ("démo.myshopify.com", None),
        ("x" * 10_000, None),
        (A.upper(), A),  # host names are case-insensitive
        (f" {A} ", A),
    ],
    ids=[
        "not-installed",
        "not-shopify",
        "suffix-attack",
        "traversal",
        "two-shops",
        "non-ascii",
        "very-long",
        "upper-case",
        "spaces",
    ],
)
def test_a_signed_webhook_for_an_odd_shop_domain_is_queued_only_for_that_exact_shop(
    world: World, domain: str, queued_for: str | None
) -> None:
    raw = _customer()
    before_b = shop_rows(world, B)
    response = world.api.call("POST", WEBHOOK, shop=None, raw=raw, headers=_signed(raw, shop=domain))
    assert response.status_code == 200, response.body
    queue = world.api.ports.webhooks.webhooks  # type: ignore[attr-defined]
    try:
        assert [w.shop_id for w in queue] == ([queued_for] if queued_for else [])
        assert body(response)["outcome"] == ("queued" if queued_for else "unknown_shop")
    finally:
        queue.clear()
    assert shop_rows(world, B) == before_b


@pytest.fixture
def fresh() -> Iterator[World]:
    """A world of the test's own, for webhooks that really erase."""
    yield from build_world()


@pytest.mark.parametrize("topic", ["customers/redact", "customers/data_request"])
def test_a_privacy_webhook_for_shop_a_naming_shop_b_in_its_body_never_touches_b(fresh: World, topic: str) -> None:
    """The shop is the signed header's; a body naming another shop (and that shop's customer) changes nothing
    of that shop's."""
    b = fresh.shops[B]
    before = shop_rows(fresh, B)
    payload = {"shop_domain": B, "shop_id": 2, "customer": {"id": 7002, "phone": b.phones[0]}, "data_request": {"id": 4242}}
    raw = json.dumps(payload).encode()
    response = fresh.api.call("POST", WEBHOOK, shop=None, raw=raw, headers=_signed(raw, topic=topic))
    assert response.status_code == 200
    deliver(fresh.api)
    assert shop_rows(fresh, B) == before
    assert fresh.api.call("GET", "/privacy/exports/dr_4242", shop="other").status_code == 404


# --- 3. short links with hostile codes -----------------------------------------------------------------------


def _hostile_codes(code: str) -> dict[str, str]:
    return {
        "unknown": "AAAAAAAAA",
        "too-short": "abc",
        "overlong": "A" * 5_000,
        "very-overlong": "A" * 100_000,
        "non-ascii": "☃☃☃",
        "non-ascii-encoded": "%E2%98%83" * 3,
        "traversal": "..%2F..%2Fetc%2Fpasswd",
        "traversal-dots": "%2e%2e%2f%2e%2e%2f",
        "percent-encoded-code": "".join(f"%{ord(c):02X}" for c in code),
        "lower-cased-code": code.lower(),
        "code-then-slashes": code + "%2F%2Fevil.example.com",
        "code-at-host": code + "@evil.example.com",
        "code-crlf-header": code + "%0d%0aLocation:%20https://evil.example.com",
        "code-nul": code + "%00",
        "code-space": code + "%20",
        "code-encoded-query": code + "%3Fnext%3Dhttps://evil.example.com",
        "code-with-query": code + "?next=https://evil.example.com&url=//evil.example.com",
        "scheme-relative": "%2F%2Fevil.example.com",
        "absolute-url": "https:%2F%2Fevil.example.com",
        "the-code": code,
    }


HOSTILE = sorted(_hostile_codes("X"))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("variant", HOSTILE)
def test_a_short_link_never_redirects_off_its_target_and_never_fails(world: World, variant: str, method: str) -> None:
    a = world.shops[A]
    path = "/r/" + _hostile_codes(a.link_code)[variant]
    clicks = list(world.api.ports.links.clicks)  # type: ignore[attr-defined]
    response = world.api.call(method, path, shop=None, headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
    assert response.status_code < 500, response.body[:200]
    location = response.headers.get("Location")
    if response.status_code == 302:
        assert location is not None and location.startswith(a.link_target + "?")
        assert urlsplit(location).hostname == urlsplit(a.link_target).hostname
        assert "evil" not in location
    else:
        assert location is None
        assert world.api.ports.links.clicks == clicks  # type: ignore[attr-defined]
    assert not [name for name in response.headers if "\n" in name or "\r" in str(response.headers[name])]
    if variant == "the-code":
        assert response.status_code == 302  # the control: the real code does redirect
    elif variant in ("unknown", "too-short", "overlong", "very-overlong", "non-ascii", "traversal", "scheme-relative"):
        assert response.status_code == 404 and b"Link not found" in response.body


@pytest.mark.parametrize(
    "name",
    [
        "..%2Fapi%2Fhttp.py",
        "%2e%2e%2f%2e%2e%2fsettings.py",
        "app.css%00",
        "APP.CSS",
        "app.css%2F",
        "index.html",
        "%2Fetc%2Fpasswd",
    ],
)
def test_a_dashboard_file_outside_the_list_is_a_404_page(world: World, name: str) -> None:
    response = world.api.call("GET", f"/static/{name}", shop=None)
    assert response.status_code == 404
    assert response.body.startswith(b"<!doctype html>") and b"import" not in response.body


@pytest.mark.parametrize("variant", ["no-header", "garbage", "another-shops-key"])
@pytest.mark.parametrize(
    "route", [("GET", "/openapi.json"), ("GET", "/"), ("GET", "/static/{name}"), ("GET", "/signup/{shop}/form")], ids=_id
)
def test_a_public_route_answers_the_same_whatever_the_credential(world: World, route: tuple[str, str], variant: str) -> None:
    authorization = {"no-header": None, "garbage": "Bearer é.é.é", "another-shops-key": f"Bearer {world.shops[B].key}"}[variant]
    plain = request(world, route, None, own_ids(world, A))
    response = request(world, route, authorization, own_ids(world, A))
    assert (response.status_code, response.body) == (plain.status_code, plain.body) and response.status_code == 200


@pytest.mark.parametrize("route", sorted(r for r in AUTHENTICATED if r[0] in ("POST", "PUT", "PATCH")), ids=_id)
def test_a_body_over_the_limit_is_413_with_a_credential_and_401_without(world: World, route: tuple[str, str]) -> None:
    method, template = route
    path = _path(template, own_ids(world, A))
    raw = b'{"name": "' + b"x" * (ROUTES[route].max_body + 1) + b'"}'
    everything = rows(world.api.ports, world.api.idempotency)
    refused = world.api.call(method, path, shop=None, raw=raw)
    assert refused.status_code == 401
    too_big = world.api.call(method, path, shop="demo", raw=raw)
    assert too_big.status_code == 413 and error_of(too_big)["code"] == "body_too_large"
    assert rows(world.api.ports, world.api.idempotency) == everything


class TestPoisonWebhooks:
    """Regressions: a signed webhook nested deeper than Python's JSON parser goes (RecursionError, which is not
    a ValueError) answered 500 at the route when over the queue's size, and under it was queued and then failed
    the worker on every delivery until the dead-letter queue."""

    def test_webhook_nested_past_the_parser_limit_is_400_not_500(self, world: World) -> None:
        raw = _deep(300_000)
        response = world.api.call("POST", WEBHOOK, shop=None, raw=raw, headers=_signed(raw, topic="orders/create"))
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
        assert world.api.ports.webhooks.webhooks == []  # type: ignore[attr-defined]

    def test_webhook_nested_past_the_parser_limit_is_dropped_not_retried(self, world: World) -> None:
        raw = _deep(100_000)
        assert world.api.call("POST", WEBHOOK, shop=None, raw=raw, headers=_signed(raw)).status_code == 200
        (queued,) = world.api.ports.webhooks.webhooks  # type: ignore[attr-defined]
        world.api.ports.webhooks.webhooks.clear()  # type: ignore[attr-defined]
        record = {
            "messageId": "m-deep",
            "receiptHandle": "rh",
            "body": json.dumps(queued.to_json()),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:smscast-dev-shopify-webhooks",
            "awsRegion": "us-east-1",
        }
        answer = shopify_webhooks.handle_sqs_event({"Records": [record]}, LocalLambdaContext(function_name="shopify_webhooks"))
        assert answer == {"batchItemFailures": []}


class TestTokenText:
    """Regression: a bearer token holding a lone surrogate (which the Lambda event's JSON can carry) failed to
    encode while being hashed or decoded, and the route answered 500 instead of 401."""

    @pytest.mark.parametrize(
        "token", ["sk_\ud800", "\ud800.\ud800.\ud800", "eyJhbGciOiJIUzI1NiJ9.e30.\udfff", "sk_\x00", "sk_\u0660"], ids=repr
    )
    def test_a_token_that_is_not_ascii_text_is_unauthorized_not_a_crash(self, world: World, token: str) -> None:
        with pytest.raises(Unauthorized) as refused:
            authenticate(world.api.ports, f"Bearer {token}", ShopifyApp(SHOPIFY_KEY, SHOPIFY_SECRET))
        assert refused.value.code == "invalid_token"

    def test_real_keys_and_session_tokens_are_still_accepted(self, world: World) -> None:
        app_ = ShopifyApp(SHOPIFY_KEY, SHOPIFY_SECRET)
        assert authenticate(world.api.ports, f"Bearer {world.shops[B].key}", app_).shop_id == B
        assert authenticate(world.api.ports, f"Bearer {session_token(A)}", app_).shop_id == A


UNROUTED = sorted(
    (method, path)
    for path in {p for _, p in ROUTES}
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
    if (method, path) not in ROUTES
)


@pytest.mark.parametrize("route", UNROUTED, ids=_id)
def test_a_method_a_path_does_not_take_is_405_and_reaches_no_view(world: World, route: tuple[str, str]) -> None:
    """Chalice answers a method a path does not take (405) before any view runs, credential or not. (OPTIONS is
    left out: Chalice's local gateway answers it with a CORS preflight its test client cannot render.)"""
    method, template = route
    everything = rows(world.api.ports, world.api.idempotency)
    seen = spy_on(world, None)
    try:
        response = world.api.client.http.request(
            method, _path(template, own_ids(world, A)), headers={"Authorization": f"Bearer {world.shops[A].key}"}, body=b"{}"
        )
    finally:
        world.use()
    assert response.status_code == 405, (response.status_code, response.body)
    assert seen == []
    assert rows(world.api.ports, world.api.idempotency) == everything


@pytest.mark.parametrize(
    "webhook_id, status",
    [
        ("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", 200),  # Shopify's: a UUID
        ("", 400),
        ("x" * 201, 400),
        ("wh-\ud800", 400),  # a lone surrogate: the claim's write fails (moto: UnicodeEncodeError) after queueing
        ("wh-é€", 400),
        ("wh-\x00", 400),
        ("wh-1\r\nX-Injected: 1", 400),
    ],
    ids=["uuid", "empty", "too-long", "lone-surrogate", "non-ascii", "nul", "crlf"],
)
def test_a_webhook_id_that_is_not_printable_ascii_is_refused_before_anything_is_kept(
    world: World, webhook_id: str, status: int
) -> None:
    """Regression for the lone-surrogate id: the route queued the webhook, then failed to write its claim (500),
    and Shopify's retry queued it again."""
    raw = _customer()
    before = _webhook_state(world)
    response = world.api.call("POST", WEBHOOK, shop=None, raw=raw, headers={**_signed(raw), "X-Shopify-Webhook-Id": webhook_id})
    assert response.status_code == status, response.body
    if status == 400:
        assert error_of(response)["code"] == "invalid_webhook"
        assert _webhook_state(world) == before
    else:
        assert len(world.api.ports.webhooks.webhooks) == 1  # type: ignore[attr-defined]
        assert deliver(world.api) == [Handled.DONE]


class TestPublicSignupForm:
    """The storefront sign-up form is public: a request to shop A's form touches only shop A, whatever credential
    it carries, and writes into A only what the form asked (a pending subscriber, never anyone's active one)."""

    def _sign_up(self, world: World, shop: str, phone: str, authorization: str | None) -> Any:
        sample = {**BODIES[("POST", "/signup/{shop}")], "phone": phone, "request_id": f"req-{phone[-6:]}-{shop[:4]}"}
        headers = {} if authorization is None else {"Authorization": authorization}
        return world.api.call("POST", f"/signup/{shop}", shop=None, body=sample, headers=headers)

    @pytest.mark.parametrize("variant", ["no-header", "a-key", "b-key"])
    def test_a_sign_up_to_shop_a_never_reads_or_changes_shop_b(self, world: World, variant: str) -> None:
        authorization = {"no-header": None, "a-key": f"Bearer {world.shops[A].key}", "b-key": f"Bearer {world.shops[B].key}"}
        before = shop_rows(world, B)
        seen = spy_on(world, B)
        try:
            # B's own subscriber's number, signed up at A: A gets a pending subscriber, B is not even read
            response = self._sign_up(world, A, world.shops[B].phones[0], authorization[variant])
        finally:
            world.use()
        assert response.status_code == 202, response.body
        assert seen == []
        assert shop_rows(world, B) == before

    def test_a_sign_up_never_touches_an_existing_subscriber_of_the_shop(self, world: World) -> None:
        a = world.shops[A]
        before = world.api.ports.subscribers.get(A, a.phones[1])
        response = self._sign_up(world, A, a.phones[1], None)
        assert response.status_code == 202
        assert world.api.ports.subscribers.get(A, a.phones[1]) == before  # active: left alone, not texted
