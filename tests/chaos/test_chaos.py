"""The chaos harness in CI: a few seeded rounds hold every invariant, a planted bug is reported with its
replay command, and a seed replays the same round. ``python -m tests.chaos --seeds 50`` runs many more."""

from __future__ import annotations

import pytest

from tests.chaos.harness import Config, run_round
from tests.chaos.plants import PLANTS

pytestmark = pytest.mark.integration

# CI-sized: small shops and a short game; the drain still runs every campaign, wave and retry to its end.
CI = Config(steps=12, subscribers_per_shop=(5, 8), storm=80)
TINY = Config(steps=8, subscribers_per_shop=(4, 6))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_seeded_round_breaks_no_invariant(seed: int) -> None:
    result = run_round(seed, 0, config=CI)
    assert result.counts["sends"] > 0 and result.counts["delivered SendBatch"] > 0  # the round did something
    assert result.violations == []


def test_a_claim_that_ignores_the_ledger_is_reported_as_duplicate_sends_with_a_replay() -> None:
    result = run_round(1, 0, config=TINY, plant=PLANTS["claim-ignores-ledger"], plant_name="claim-ignores-ledger")
    duplicates = [v for v in result.violations if "duplicate send" in v]
    assert duplicates, result.violations
    assert "--seed 1 --round 0 --rounds 1 --steps 8 --subscribers 4-6 --plant claim-ignores-ledger" in duplicates[0]


def test_a_send_path_without_its_stop_check_is_reported_as_sends_after_stop_with_a_replay() -> None:
    stop_race = Config(steps=16, subscribers_per_shop=(4, 6), race_rate=1.0)
    result = run_round(2, 0, config=stop_race, plant=PLANTS["skip-stop-check"], plant_name="skip-stop-check")
    after_stop = [v for v in result.violations if "send after STOP" in v]
    assert after_stop, result.violations
    assert "--seed 2 --round 0 --rounds 1 --steps 16 --subscribers 4-6 --race-rate 1.0 --plant skip-stop-check" in after_stop[0]


def test_a_seed_replays_the_same_round() -> None:
    short = Config(steps=5, subscribers_per_shop=(3, 4), storm=40)
    first, second = run_round(5, 1, config=short), run_round(5, 1, config=short)
    assert first.counts == second.counts and first.counts["worker crashes"] > 0
