"""schemathesis against GET /openapi.json on a running devstack: every operation on its own, then chains that
create something and act on it (the contract's OpenAPI links). For every request: no 5xx, a status, content
type and body the contract documents, and nothing written when a request that would write is answered 4xx.

A shop of its own (created as an operator would), so fuzzed settings, subscribers and campaigns never reach
the demo shop the other e2e files on the same devstack use. CI runs a few examples per operation; set
SMSCAST_FUZZ_EXAMPLES (``make fuzz`` does) for a long run.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import app
from chalicelib.api import contract
from devstack.config import DevstackConfig
from tests.e2e.conftest import create_other_shop

pytestmark = pytest.mark.e2e

# Per operation, stateless; and stateful scenarios (each a few chained steps). CI's numbers keep this file
# near two minutes on a 2-CPU machine (about 200 requests); `make fuzz` sets many more.
EXAMPLES = int(os.environ.get("SMSCAST_FUZZ_EXAMPLES", "4"))
SCENARIOS = int(os.environ.get("SMSCAST_FUZZ_SCENARIOS", "12"))
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# devstack's own tooling routes (the simulated phone, its status) are not the product's API.
NOT_FUZZED = r"^/devstack/"


def new_number() -> str:
    return f"+1555{uuid.uuid4().int % 10_000_000:07d}"


@dataclass
class Ledger:
    """What the fuzz run saw: requests by operation and status, and the shop's state between writes."""

    base_url: str
    session: requests.Session
    requests: int = 0
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    last_state: str | None = None

    def count(self, label: str, status: int) -> None:
        self.requests += 1
        by_status = self.statuses.setdefault(label, {})
        by_status[status] = by_status.get(status, 0) + 1

    def _get(self, path: str, **params: Any) -> Any:
        response = self.session.get(self.base_url + path, params=params, timeout=30)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def _pages(self, path: str, **params: Any) -> list[Any]:
        items: list[Any] = []
        cursor = None
        while True:
            page = self._get(path, limit=200, **params, **({"cursor": cursor} if cursor else {}))
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def state(self) -> str:
        """What the merchant can see of the shop, without what sending changes on its own (campaign
        progress, stats, delivery outcomes): a write by a request shows here, the pipeline's work does not."""
        campaigns = [
            {k: v for k, v in c.items() if k not in ("status", "stats", "started_at", "completed_at", "not_sent", "updated_at")}
            for c in self._pages("/campaigns")
        ]
        subscribers = [
            {k: v for k, v in s.items() if k not in ("unreachable_reason", "unreachable_at")} for s in self._pages("/subscribers")
        ]
        seen = {
            "settings": self._get("/settings"),
            "segments": self._get("/segments"),
            "subscribers": subscribers,
            "campaigns": campaigns,
            "inbox": {status: self._pages("/inbox", status=status) for status in ("unresolved", "resolved", "opted_out")},
            "unresolved": self._get("/inbox/unresolved-count"),
        }
        return json.dumps(seen, sort_keys=True)

    def call(self, case: schemathesis.Case) -> schemathesis.Response:
        """Send ``case``; check the contract, and for a refused write that nothing changed."""
        writes = case.method.upper() in WRITES
        before = after = None
        if writes:
            before, self.last_state = self.last_state or self.state(), None  # unknown until read again
        response = case.call(timeout=30, allow_redirects=False)
        self.count(f"{case.method.upper()} {case.path}", response.status_code)
        if writes:
            after = self.last_state = self.state()
        case.validate_response(response, checks=CHECKS)
        if before is not None and after is not None and 400 <= response.status_code < 500:
            assert after == before, (
                f"{case.method.upper()} {case.formatted_path} answered {response.status_code} but changed the shop:\n"
                f"{_diff(before, after)}\nrequest body: {case.body!r}\nresponse: {response.text[:500]}"
            )
        return response

    def summary(self) -> str:
        lines = [f"{self.requests} fuzzed requests"]
        for label, by_status in sorted(self.statuses.items()):
            lines.append(f"  {label}: " + ", ".join(f"{s}x{n}" for s, n in sorted(by_status.items())))
        return "\n".join(lines)


def _diff(before: str, after: str) -> str:
    """Where two states differ, down to the field: ``settings.shop_name: 'Demo' -> 'X'``."""
    lines: list[str] = []

    def walk(where: str, old: Any, new: Any) -> None:
        if old == new:
            return
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted({*old, *new}):
                walk(f"{where}.{key}", old.get(key), new.get(key))
        elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
            for index, (a, b) in enumerate(zip(old, new, strict=True)):
                walk(f"{where}[{index}]", a, b)
        else:
            lines.append(f"  {where.lstrip('.')}: {old!r} -> {new!r}")

    walk("", json.loads(before), json.loads(after))
    return "\n".join(lines[:20])


@pytest.fixture(scope="module")
def fuzz_shop(devstack: DevstackConfig) -> Iterator[tuple[str, Ledger]]:
    """A fresh shop on the running devstack with a sender number and two subscribers; its key and ledger."""
    key = create_other_shop(devstack, f"fuzz-{uuid.uuid4().hex[:8]}.myshopify.com", new_number())
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    for phone in SEED_PHONES:
        created = session.post(f"{devstack.api_url}/subscribers", json={"phone": phone, "source": "checkout"}, timeout=30)
        assert created.status_code in (200, 201), created.text
    ledger = Ledger(devstack.api_url, session)
    started = time.monotonic()
    yield key, ledger
    print(f"\n{ledger.summary()}\nin {time.monotonic() - started:.0f}s")


SEED_PHONES = ("+15550142001", "+15550142002")
# Values the API accepts, mixed into what schemathesis generates so requests get past validation and reach
# the services (a random string is almost never a phone number, a segment id or a send time).
PHONES = st.sampled_from([*SEED_PHONES, "+15550142003", "(555) 014-2004", "+442071838750"])
GOOD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "phone": PHONES,
    "sender_number": PHONES,  # valid, but not the shop's: 409, nothing saved
    "segment_id": st.sampled_from(["all", "checkout", "joined-7d"]),
    # "now", or within the year ahead of devstack's clock (a late one falls in the default quiet hours)
    "send_at": st.sampled_from(["now", f"{date.today() + timedelta(days=40)}T10:00", f"{date.today()}T22:30"]),
    "timezone": st.sampled_from(["America/New_York", "Europe/London", "Asia/Kolkata"]),
    "media_url": st.sampled_from([None, "https://cdn.example.com/a.png"]),
    "quiet_hours": st.sampled_from(["ask", "send_now", "schedule"]),  # a reply's choice
}
# Where one name means another thing: the shop's quiet hours are a window, not a reply's choice.
GOOD_FIELDS_OF: dict[tuple[str, str], dict[str, st.SearchStrategy[Any]]] = {
    ("PATCH", "/settings"): {
        "quiet_hours": st.fixed_dictionaries(
            {"enabled": st.booleans(), "start": st.sampled_from(["21:00", "20:30"]), "end": st.sampled_from(["09:00", "08:00"])}
        ),
    },
}


def _with_good_values(
    values: Any,
    fields: Iterable[str] = (),
    good_fields: dict[str, st.SearchStrategy[Any]] = GOOD_FIELDS,
    required: Iterable[str] = (),
) -> st.SearchStrategy[Any]:
    """``values`` as generated; or with the ``fields`` GOOD_FIELDS knows (and any it knows in ``values``) set to
    values the API takes, and some optional others left out (one field the API refuses hides what the rest
    would do)."""
    if not isinstance(values, dict):
        return st.just(values)
    known = sorted(name for name in {*values, *fields} if name in good_fields)
    if not known:
        return st.just(values)
    others = sorted(name for name in values if name not in good_fields and name not in required)
    good = st.tuples(
        st.fixed_dictionaries({name: good_fields[name] for name in known}),
        st.sets(st.sampled_from(others)) if others else st.just(set()),
    ).map(lambda drawn: {**{k: v for k, v in values.items() if k not in drawn[1]}, **drawn[0]})
    return st.one_of(good, st.just(values))


def _body_fields() -> dict[tuple[str, str], tuple[set[str], set[str]]]:
    """(METHOD, path) -> the fields its JSON body may have and those it must have, from the contract."""
    document = contract.document(app.routes)
    fields = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
                fields[(method.upper(), path)] = (set(schema.get("properties", {})), set(schema.get("required", ())))
    return fields


BODY_FIELDS = _body_fields()


@pytest.fixture(scope="module")
def api_schema(devstack: DevstackConfig, fuzz_shop: tuple[str, Ledger]) -> schemathesis.BaseSchema:
    """The served contract, aimed at devstack and authenticated as the fuzz shop."""
    key, _ = fuzz_shop
    schema = schemathesis.openapi.from_url(f"{devstack.api_url}/openapi.json", timeout=30)
    schema.config.update(base_url=devstack.api_url, headers={"Authorization": f"Bearer {key}"})
    schema.config.generation.update(max_examples=EXAMPLES, deterministic=False)

    @schema.hook
    def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> Any:
        return _with_good_values(path_parameters)

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> Any:
        where = (context.operation.method.upper(), context.operation.path) if context.operation else ("", "")
        fields, required = BODY_FIELDS.get(where, (set(), set()))
        return _with_good_values(body, fields, {**GOOD_FIELDS, **GOOD_FIELDS_OF.get(where, {})}, required)

    return schema.exclude(path_regex=NOT_FUZZED)


# The operations, read from the contract the app generates (devstack serves it, plus its own routes): the
# pytest plugin's lazy loader (schemathesis.pytest.from_fixture) does not run under pytest 9.
OPERATIONS = sorted((method.upper(), path) for path, ops in contract.document(app.routes)["paths"].items() for method in ops)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_keeps_the_contract(
    api_schema: schemathesis.BaseSchema, fuzz_shop: tuple[str, Ledger], method: str, path: str
) -> None:
    _, ledger = fuzz_shop
    operation = api_schema[path][method]

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        ledger.call(case)

    fuzz()


def test_chained_operations_keep_the_contract(api_schema: schemathesis.BaseSchema, fuzz_shop: tuple[str, Ledger]) -> None:
    """Create a campaign, segment or subscriber, then act on it (the links POST's 201 declares)."""
    _, ledger = fuzz_shop
    failures: list[str] = []

    class Chains(api_schema.as_state_machine()):  # type: ignore[misc]
        def call(self, case: schemathesis.Case, **kwargs: Any) -> schemathesis.Response:
            try:
                return ledger.call(case)
            except Exception as exc:  # kept: hypothesis's replay against a server that moved on may not reproduce it
                failures.append(f"{case.method.upper()} {case.formatted_path}: {exc}")
                raise

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any) -> None:
            pass  # ledger.call checked it

    def on_items() -> int:
        return sum(sum(by_status.values()) for label, by_status in ledger.statuses.items() if "{" in label)

    before = on_items()
    # As schemathesis's own runner: generate only (no shrinking or replay, no example database), since each
    # scenario draws from the answers of a live server whose state has moved on by the next one.
    settings = hypothesis.settings(
        max_examples=SCENARIOS,
        stateful_step_count=6,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],
        database=None,
    )
    for _ in range(5):
        try:
            Chains.run(settings=settings)
            break
        except hypothesis.errors.Flaky:
            if failures:
                break
            # Generation met a different answer than the last time it drew that path ("inconsistent data
            # generation"): not a finding about the API. Start a fresh run.
    assert not failures, failures[0]
    assert on_items() > before, "the scenarios never reached a route on an item"
