"""bench.campaign_calls still runs the real engine end to end and its figures add up, so the bench cannot rot."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bench.campaign_calls import ENGINE, SANDBOX, main
from bench.inbound import main as inbound_main
from bench.report import Calls, extract_baseline, last_json, overlay_baseline, run_module

pytestmark = pytest.mark.integration

CLAIM = (ENGINE, "dynamodb", "TransactWriteItems", "campaign-gates+contacts+send-ledger")
SETTLE = (ENGINE, "dynamodb", "TransactWriteItems", "campaign-gates+campaign-totals+messages+send-ledger")
OUTBOX_WRITE = (SANDBOX, "dynamodb", "PutItem", "sandbox-messages")


def test_a_small_campaign_sends_once_per_recipient_and_its_counts_add_up() -> None:
    out = io.StringIO()

    result = main(["--subscribers", "20", "--json"], out=out)

    assert result.status == "completed"
    assert result.recipients == result.sent == result.outbox == 20
    assert (result.skipped, result.failed, result.deferred, result.failed_records) == (0, 0, 0, 0)
    assert result.total_calls > 0
    assert result.total_calls == result.count(ENGINE) + result.count(SANDBOX) == sum(result.by_phase.values())
    # One claim and one settle for the group of twenty, and the sandbox provider's outbox write per message,
    # counted on its own side.
    assert result.calls[CLAIM] == result.calls[SETTLE] == 1 and result.calls[OUTBOX_WRITE] == 20
    assert not any(who == ENGINE and "sandbox" in tables for (who, _, _, tables) in result.calls)
    text = out.getvalue()
    assert "recipients 20, sent 20, sandbox outbox 20" in text
    assert f"{result.total_calls:6d}   {result.total_calls / 20:6.2f}" in text
    assert f'"total_calls": {result.total_calls}' in text


def test_deferral_and_duplicate_deliveries_still_send_each_recipient_once() -> None:
    result = main(["--subscribers", "20", "--quiet-hours", "--duplicates", "--mps", "3"], out=io.StringIO())

    assert result.status == "completed"
    assert result.recipients == result.sent == result.outbox == 20
    assert result.deferred == 10 and result.waves_fired == 1  # the New York half waited for 9:00
    # At 3 MPS the pacer grants about a second of slots at a time: groups of three, each one claim and one settle.
    assert result.calls[CLAIM] >= 20 / 3 and result.calls[OUTBOX_WRITE] == 20
    defer = (ENGINE, "dynamodb", "TransactWriteItems", "campaign-gates+campaign-totals+release-waves+send-ledger")
    assert result.calls[defer] >= 1
    # Every message was delivered a second time, and those deliveries cost calls but sent nothing.
    assert result.deliveries["campaign_sends (2nd delivery)"] == result.deliveries["campaign_sends"] > 0
    assert result.by_phase["campaign_sends (2nd delivery)"] > 0


def test_inbound_texts_are_handled_and_each_message_id_is_stored_once() -> None:
    out = io.StringIO()

    result = inbound_main(["--messages", "20", "--markdown"], out=out)

    assert result.delivered == 20 and result.unique == 16  # every fifth delivery repeats the text before it
    assert result.kinds["duplicate"] == 4 and result.kinds["STOP"] == 2 and result.kinds["HELP"] == 2
    assert result.stored_once and result.stored_lines == result.unique
    assert 1 <= result.opted_out <= result.kinds["STOP"]
    assert result.count(ENGINE) > 0 and result.count(SANDBOX) > 0
    assert "each stored once" in out.getvalue() and "python -m bench.inbound" in out.getvalue()


def test_a_campaign_run_prices_its_writes_in_wcu() -> None:
    result = main(["--subscribers", "10", "--mps", "100"], out=io.StringIO())

    writes = result.writes
    assert writes.total(ENGINE) > 0 and writes.total(SANDBOX) > 0
    # Every recipient's claim is a transaction of several items, each at least 2 units.
    assert writes.total(ENGINE) >= 2 * 2 * result.recipients
    (table, key, units), *_ = writes.hottest(ENGINE, 1)
    # the hottest key takes at least one transactional write, and no one key takes them all: they are spread
    assert 2 <= units < writes.total(ENGINE) and table and key


def test_the_baselines_own_bench_prices_its_writes_with_this_trees_meter(tmp_path: Path) -> None:
    """``make bench``'s baseline WCU column: the baseline's bench, unchanged, with ``bench/baseline_wcu.py`` listening."""
    tree = overlay_baseline(extract_baseline(tmp_path / "baseline"), tmp_path / "metered")
    args = ["--subscribers", "8", "--mps", "100", "--json"]
    metered = run_module(tree, "bench.baseline_wcu", args)
    assert metered.error is None, metered.error

    priced = Calls(last_json(metered.stdout))
    # The baseline's own counts, as its bench prints them (the meter only listens): two transactions per recipient.
    transactions = sum(n for (who, _, op, _), n in priced.by_key.items() if who == ENGINE and op == "TransactWriteItems")
    assert transactions >= 2 * priced.recipients == 16
    units = priced.data["wcu"]["units"]
    # The per-recipient design: every recipient's ledger row is updated twice in transactions (2 x 2 units) and its
    # message stored once (1 unit), by the engine; the sandbox outbox is the provider's.
    assert units["engine:TransactWriteItems:Update:send-ledger"] == 4 * priced.recipients == 32
    assert units["engine:PutItem:Put:messages"] == priced.recipients
    assert units["sandbox provider:PutItem:Put:sandbox-messages"] == priced.recipients
