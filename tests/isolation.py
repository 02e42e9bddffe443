"""Two shops with data of every kind, and the tools to prove one never reads or changes the other's: rows
snapshotted from the fakes, a spy on the ports that records any call naming the other shop, session tokens
made the way Shopify makes them (and every way it does not)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from chalice.test import Client

from app import app
from chalicelib.composition import Container, use_container
from chalicelib.domain.messages import InboundSms
from chalicelib.domain.shopify import Topic
from chalicelib.services.imports import upload_name
from chalicelib.services.inbound import receive_sms
from chalicelib.services.ports import Ports
from chalicelib.settings import Settings
from devstack.shopify import headers as webhook_headers
from tests.engine import Engine
from tests.fakes import FakeIdempotencyStore, fake_ports
from tests.numbers import create_shop
from tests.unit.conftest import SHOPIFY_KEY, SHOPIFY_SECRET, Api

A, B = "demo.myshopify.com", "other.myshopify.com"
SENDERS = {A: "+15550100000", B: "+15550100001"}
TOMORROW = "2026-11-21T10:00"  # the fake clock is 2026-11-20 15:00 UTC, 10:00 in New York


@dataclass
class ShopData:
    """The identifiers of one shop's things, as the API names them in paths."""

    shop_id: str
    key: str
    phones: list[str] = field(default_factory=list)  # E.164; [0] wrote in and got a reply
    segment_id: str = ""
    draft_id: str = ""
    scheduled_id: str = ""
    sent_id: str = ""  # sent now and run to the end: its recipients got short links
    export_id: str = ""
    import_id: str = ""  # a CSV import, done, with its report
    csv_export_id: str = ""  # a CSV export of the list, done
    link_code: str = ""
    link_target: str = ""

    def marks(self) -> list[str]:
        """Strings that appear in this shop's data and in no other shop's."""
        return [
            *self.phones,
            self.segment_id,
            self.draft_id,
            self.scheduled_id,
            self.sent_id,
            self.export_id,
            self.import_id,
            self.csv_export_id,
        ]


@dataclass
class World:
    api: Api
    container: Container
    shops: dict[str, ShopData]

    def use(self) -> None:
        """Make this world's container the app's (another test may have swapped it)."""
        use_container(self.container)


def settings() -> Settings:
    return Settings.from_env(
        {
            "AWS_REGION": "us-east-1",
            "SMSCAST_SMS_PROVIDER": "sandbox",
            "SMSCAST_SHOPIFY_API_KEY": SHOPIFY_KEY,
            "SMSCAST_SHOPIFY_API_SECRET": SHOPIFY_SECRET,
            "SMSCAST_ALLOW_FICTIONAL_NUMBERS": "true",
        }
    )


def build_world() -> Iterator[World]:
    """Shops A and B, each with subscribers, a custom segment, a draft, a scheduled and a sent campaign (with
    short links), an inbox thread with a reply, and a privacy export. Yields the world, then tears it down."""
    ports = fake_ports()
    _, key_a = create_shop(ports, shop_id=A, settings={"sender_number": SENDERS[A]})
    _, key_b = create_shop(ports, shop_id=B, settings={"sender_number": SENDERS[B]})
    idempotency = FakeIdempotencyStore()
    container = Container(settings(), ports=ports, idempotency=idempotency)
    use_container(container)
    with Client(app) as client:
        api = Api(client, ports, {"demo": key_a, "other": key_b}, idempotency)
        shops = {
            A: _fill(api, ShopData(A, key_a, phones=["+12125551001", "+12125551002"]), "demo", n=1),
            B: _fill(api, ShopData(B, key_b, phones=["+16465552001", "+16465552002"]), "other", n=2),
        }
        yield World(api, container, shops)
    use_container(None)


def _ok(response: Any, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.status_code, response.body)
    return json.loads(response.body) if response.body else None


def _fill(api: Api, shop: ShopData, who: str, *, n: int) -> ShopData:
    ports = api.ports
    for i, phone in enumerate(shop.phones):
        _ok(api.call("POST", "/subscribers", shop=who, body={"phone": phone, "source": "checkout", "name": f"{who}-{i}"}), 201)
    segment = {"name": f"{who} VIPs", "rule": {"all": []}}
    shop.segment_id = _ok(api.call("POST", "/segments", shop=who, body=segment), 201)["id"]
    draft = {"name": f"{who} draft", "message": "Hi", "segment_id": shop.segment_id, "send_at": TOMORROW, "draft": True}
    shop.draft_id = _ok(api.call("POST", "/campaigns", shop=who, body=draft), 201)["id"]
    scheduled = {"name": f"{who} later", "message": "Soon", "segment_id": "all", "send_at": TOMORROW}
    shop.scheduled_id = _ok(api.call("POST", "/campaigns", shop=who, body=scheduled), 201)["id"]
    shop.link_target = f"https://{who}.example.com/sale"
    now = {"name": f"{who} now", "message": f"Sale {shop.link_target}", "segment_id": "all", "send_at": "now"}
    shop.sent_id = _ok(api.call("POST", "/campaigns", shop=who, body=now), 201)["id"]
    Engine(ports).run_until(ports.clock.now() + timedelta(minutes=5))
    links = ports.links.links  # type: ignore[attr-defined]
    shop.link_code = next(code for code, link in links.items() if link.shop_id == shop.shop_id)
    phone = shop.phones[0]
    receive_sms(ports, InboundSms(f"in-{who}", phone, SENDERS[shop.shop_id], "Do you ship to Canada?", ports.clock.now()))
    _ok(api.call("POST", f"/inbox/{quote(phone)}/replies", shop=who, body={"text": "Yes!", "quiet_hours": "send_now"}), 201)
    request = {"shop_domain": shop.shop_id, "customer": {"id": 7000 + n, "phone": phone}, "data_request": {"id": 900 + n}}
    raw = json.dumps(request).encode()
    sent = webhook_headers(Topic.CUSTOMERS_DATA_REQUEST, raw, shop=shop.shop_id, secret=SHOPIFY_SECRET)
    _ok(api.call("POST", "/webhooks/shopify", shop=None, raw=raw, headers=sent), 200)
    deliver(api)
    shop.export_id = f"dr_{900 + n}"
    created = _ok(api.call("POST", "/subscribers/imports", shop=who, body={"file_name": f"{who}.csv"}), 201)
    shop.import_id = created["id"]
    upload = f"phone,consent_date,consent_source\n{shop.phones[1]},2026-01-01,checkout\nbad,2026-01-01,x\n".encode()
    api.ports.import_files.upload(shop.shop_id, upload_name(shop.import_id), upload)  # type: ignore[attr-defined]
    _ok(api.call("POST", f"/subscribers/imports/{shop.import_id}/start", shop=who), 202)
    shop.csv_export_id = _ok(api.call("POST", "/subscribers/exports", shop=who, body={}), 202)["id"]
    run_list_jobs(api.ports)
    return shop


def run_list_jobs(ports: Ports) -> None:
    """Play the list-jobs worker: run every queued import and export to the end."""
    from chalicelib.services.list_jobs import run_list_job

    queue = ports.list_job_queue
    while queue.messages:  # type: ignore[attr-defined]
        for message in queue.take():  # type: ignore[attr-defined]
            run_list_job(ports, message, lambda: 900.0)


def deliver(api: Api) -> list[Any]:
    """Play the webhook worker: handle everything the route queued."""
    from chalicelib.services import webhooks

    queue = api.ports.webhooks.webhooks  # type: ignore[attr-defined]
    pending, queue[:] = list(queue), []
    return [webhooks.handle(api.ports, webhook) for webhook in pending]


def quote(phone: str) -> str:
    return phone.replace("+", "%2B")


# --- what a shop holds -----------------------------------------------------------------------------------

_NOT_DATA = ("clock", "sleep", "send_pool", "personal_data", "shop_data", "signup_limits")


def rows(ports: Ports, idempotency: FakeIdempotencyStore, marks: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Every row the fakes keep (each dict item, list or set element of every port), as text; with ``marks``,
    only the rows whose text holds one of them (a shop's id or its sender number: its own rows)."""
    held: dict[str, list[str]] = {}
    stores: list[tuple[str, Any]] = [
        (f.name, getattr(ports, f.name)) for f in dataclasses.fields(ports) if f.name not in _NOT_DATA
    ]
    stores.append(("idempotency", idempotency))
    for name, store in stores:
        for attr, value in sorted(vars(store).items()) if hasattr(store, "__dict__") else ():
            if isinstance(value, Mapping):
                items = [repr(item) for item in value.items()]
            elif isinstance(value, (list, set, tuple)):
                items = [repr(item) for item in value]
            else:
                continue
            if marks is not None:
                items = [item for item in items if any(mark in item for mark in marks)]
            held[f"{name}.{attr}"] = sorted(items)
    return held


def shop_rows(world: World, shop_id: str) -> dict[str, list[str]]:
    """Every row of one shop."""
    return rows(world.api.ports, world.api.idempotency, (shop_id, SENDERS[shop_id]))


# --- a spy on the ports ------------------------------------------------------------------------------------


class _Spy:
    """Stands in for a port: forwards every call, and records the ones whose arguments name a watched shop."""

    def __init__(self, name: str, target: Any, names_watched: Callable[[Any], bool], seen: list[str]) -> None:
        self._name, self._target, self._watched, self._seen = name, target, names_watched, seen

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._watched(None) or any(self._watched(a) for a in (*args, *kwargs.values())):
                self._seen.append(f"{self._name}.{attr}{args!r}")
            return value(*args, **kwargs)

        return call


def _names(shop_id: str) -> Callable[[Any], bool]:
    def named(value: Any) -> bool:
        if isinstance(value, str):
            return shop_id in value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return getattr(value, "shop_id", None) == shop_id
        if isinstance(value, (list, tuple, set, frozenset)):
            return any(named(v) for v in value)
        return False

    return named


def spy_on(world: World, shop_id: str | None) -> list[str]:
    """From now on the app runs on ports that record every call naming ``shop_id`` (None: every call); returns
    the record. ``world.use()`` puts the plain ports back."""
    seen: list[str] = []
    ports = world.api.ports
    watched = _names(shop_id) if shop_id is not None else (lambda value: True)
    spies: dict[str, Any] = {
        f.name: _Spy(f.name, getattr(ports, f.name), watched, seen)
        for f in dataclasses.fields(ports)
        if f.name not in (*_NOT_DATA, "allow_fictional_numbers", "link_base", "concurrent_sends")
    }
    spied = dataclasses.replace(ports, **spies)
    use_container(Container(world.container.settings, ports=spied, idempotency=world.api.idempotency))
    return seen


# --- session tokens -----------------------------------------------------------------------------------------


def session_token(shop: str = A, *, secret: str = SHOPIFY_SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    """A Shopify session token for ``shop`` (the claims App Bridge's tokens carry), with ``overrides`` (None
    drops a claim). ``algorithm="none"`` wants ``secret=""``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://{shop}/admin",
        "dest": f"https://{shop}",
        "aud": SHOPIFY_KEY,
        "sub": "42",
        "exp": now + 60,
        "nbf": now - 5,
        "iat": now - 5,
        "jti": "00000000-0000-0000-0000-000000000001",
        "sid": "session",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm=algorithm)
