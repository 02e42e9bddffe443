"""Subscribers' Import CSV and Export CSV in the dashboard: a file chosen, uploaded with the import's form straight to
the stack's S3, started and followed to its summary and report link; the list exported with the page's filters and
downloaded. Requests leave the API's origin only for the stack's S3 (the upload, the downloads)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from devstack.config import DevstackConfig
from tests.browser.conftest import DESKTOP, Api, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def tab(browser: Browser, devstack: DevstackConfig) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, devstack)
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


def test_import_a_csv_file_then_export_the_list(tab: Page, api: Api, tmp_path: Path) -> None:
    phone = f"+1555{uuid.uuid4().int % 10_000_000:07d}"
    upload = tmp_path / "fair.csv"
    rows = f"{phone},Mary Jackson,2026-03-01,spring fair\nnope,X,2026-03-01,fair\n"
    upload.write_text(f"phone,name,consent_date,consent_source\n{rows}")
    tab.get_by_role("link", name="Subscribers").click()
    tab.get_by_role("button", name="Import CSV").click()
    dialog = tab.get_by_role("dialog", name="Import subscribers from CSV")
    dialog.get_by_label("CSV file").set_input_files(str(upload))
    dialog.get_by_role("button", name="Import").click()
    expect(dialog).to_contain_text("1 imported, 0 merged, 1 rejected of 2 rows", timeout=30_000)
    expect(dialog.get_by_role("link", name="Download report")).to_be_visible()
    proof = api.subscriber(phone).json()["consent_history"][0]["text"]
    assert proof == "Imported from fair.csv: consent spring fair on 2026-03-01"
    dialog.get_by_role("button", name="Close").click()

    tab.get_by_label("Search").fill(phone[-7:])
    expect(tab.locator("tbody tr")).to_have_count(1)
    with tab.expect_download(timeout=30_000) as download:
        tab.get_by_role("button", name="Export CSV").click()
    exported = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"), newline="")))
    assert [row[0] for row in exported] == ["phone", phone]  # the page's search went with the export
