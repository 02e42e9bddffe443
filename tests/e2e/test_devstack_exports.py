"""devstack end to end: the subscriber list exported by a list job (the list-jobs queue and its pump) to the
stack's own exports bucket and downloaded through its link, and one subscriber's consent proof as CSV over HTTP,
read back exactly."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
import requests

from devstack.config import DevstackConfig
from tests.e2e.conftest import Api, create_other_shop, eventually

pytestmark = pytest.mark.e2e


def new_number() -> str:
    return f"+1555{uuid.uuid4().int % 10_000_000:07d}"


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _done(job: dict[str, Any]) -> dict[str, Any] | None:
    assert job["status"] != "failed", job
    return job if job["status"] == "done" else None


def test_the_list_and_a_consent_proof_download_as_csv(devstack: DevstackConfig) -> None:
    # A shop of its own, so the file holds exactly this test's subscribers.
    key = create_other_shop(devstack, f"exports-{uuid.uuid4().hex[:8]}.myshopify.com", new_number())
    shop = Api(devstack.api_url, key)
    wording = 'Oui, envoyez-moi des SMS, "promos" incluses\n— Émile 🎉'
    active, gone = new_number(), new_number()
    assert shop.post("/subscribers", {"phone": active, "name": "=Ada", "consent_text": wording}).status_code == 201
    assert shop.post("/subscribers", {"phone": gone}).status_code == 201
    assert shop.post(f"/subscribers/%2B{gone[1:]}/opt-out").status_code == 200

    exported = shop.post("/subscribers/exports", {"status": "active"})

    assert exported.status_code == 202, exported.text
    assert exported.json()["status"] == "queued"
    # the list-jobs pump runs the export; the dashboard polls the job until its link is there
    answer = eventually(lambda: _done(shop.get(f"/subscribers/exports/{exported.json()['id']}").json()), what="export done")
    assert answer["rows"] == 1
    download = requests.get(answer["url"], timeout=10)  # the presigned link, served by the stack's S3
    assert download.status_code == 200, download.text
    header, row = _rows(download.content)
    assert header[:4] == ["phone", "status", "source", "name"]
    assert row[:4] == [active, "active", "api", "'=Ada"]

    proof = shop.get(f"/subscribers/%2B{active[1:]}/consent.csv")
    assert proof.status_code == 200 and proof.headers["Content-Type"].startswith("text/csv")
    (_, event) = _rows(proof.content)
    assert event[0] == active and event[2] == "opted_in" and event[4] == wording
