"""devstack end to end: a CSV file uploaded with the import's presigned form straight to the stack's S3, the import
started, run by the list-jobs pump, polled to done; the subscribers are there with their consent proof, the
opted-out number stayed out, and the report downloads through its link with the rejected rows and why."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
import requests

from chalicelib.domain.exports import read_cell
from devstack.config import DevstackConfig
from tests.e2e.conftest import Api, create_other_shop, eventually

pytestmark = pytest.mark.e2e


def new_number() -> str:
    return f"+1555{uuid.uuid4().int % 10_000_000:07d}"


def _done(job: dict[str, Any]) -> dict[str, Any] | None:
    assert job["status"] != "failed", job
    return job if job["status"] == "done" else None


def test_a_csv_file_imports_through_the_upload_form_and_the_list_jobs_queue(devstack: DevstackConfig) -> None:
    key = create_other_shop(devstack, f"imports-{uuid.uuid4().hex[:8]}.myshopify.com", new_number())
    shop = Api(devstack.api_url, key)
    stopped, ada, bob = new_number(), new_number(), new_number()
    assert shop.post("/subscribers", {"phone": stopped}).status_code == 201
    assert shop.post(f"/subscribers/%2B{stopped[1:]}/opt-out").status_code == 200
    data = (
        "Phone,First Name,Last Name,Opted In At,Consent Source,Tags\n"
        f"{ada},Ada,Lovelace,2026-01-05,checkout box,vip\n"
        "12345,Nobody,,2026-01-05,checkout box,\n"
        f"{bob},Bob,,,checkout box,\n"
        f"{ada},,,2026-02-01,popup,spring\n"
        f"{stopped},Stop,,2026-01-05,keyword,\n"
    ).encode()

    created = shop.post("/subscribers/imports", {"file_name": "spring.csv"})
    assert created.status_code == 201, created.text
    job = created.json()
    form = job["upload"]
    uploaded = requests.post(form["url"], data=form["fields"], files={"file": ("spring.csv", data, "text/csv")}, timeout=10)
    assert uploaded.status_code in (200, 204), uploaded.text
    started = shop.post(f"/subscribers/imports/{job['id']}/start")
    assert started.status_code == 202 and started.json()["status"] in ("queued", "running", "done")
    assert shop.post(f"/subscribers/imports/{job['id']}/start").status_code == 202  # twice: imported once

    done = eventually(lambda: _done(shop.get(f"/subscribers/imports/{job['id']}").json()), timeout=60, what="import done")

    assert done["counts"] == {"read": 5, "imported": 1, "merged": 1, "rejected": 3}
    assert done["progress"] == 1.0
    report = requests.get(done["report_url"], timeout=10)
    assert report.status_code == 200
    rows = [[read_cell(cell) for cell in row] for row in csv.reader(io.StringIO(report.content.decode("utf-8-sig"), newline=""))]
    assert [row[:3] for row in rows] == [
        ["line", "phone", "reason"],
        ["3", "12345", "bad_phone"],
        ["4", bob, "missing_consent"],
        ["5", ada, "duplicate_in_file"],
        ["6", stopped, "opted_out"],
    ]
    imported = shop.subscriber(ada).json()
    assert (imported["status"], imported["source"], imported["name"]) == ("active", "import", "Ada Lovelace")
    assert imported["tags"] == ["vip", "spring"]
    assert imported["consent_history"][0]["text"] == "Imported from spring.csv: consent checkout box on 2026-01-05"
    assert shop.subscriber(stopped).json()["status"] == "opted_out"
    assert [item["id"] for item in shop.get("/subscribers/imports").json()["items"]] == [job["id"]]
