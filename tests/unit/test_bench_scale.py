"""Guards for bench.scale, on virtual time only (counts and ratios, never wall-clock): the first send after Send
Now costs the same whatever the audience, and the planner keeps the shared sends queue bounded."""

from __future__ import annotations

from datetime import timedelta

from bench.scale import BIG_SENDER, BIG_SHOP, START, Simulation, measure_first_send
from chalicelib.services import planning
from chalicelib.services.planning import PLAN_AHEAD, PLAN_PAGE_SIZE


def test_the_first_send_takes_the_same_jobs_and_calls_for_1k_and_10k() -> None:
    small, big = measure_first_send(1_000), measure_first_send(10_000)

    assert (small.jobs, small.batches, small.calls) == (big.jobs, big.batches, big.calls)
    assert small.by_port == big.by_port
    assert small.virtual_seconds == big.virtual_seconds == 0  # the planner adds no wait before the first batch
    assert small.jobs <= 2 and small.batches == 1  # one planning page, then the first send batch


def test_the_planner_keeps_the_sends_queue_bounded_and_the_sender_busy() -> None:
    mps, audience = 10, 3_000
    sim = Simulation(mps)
    sim.shop(BIG_SHOP, BIG_SENDER)
    sim.seed(BIG_SHOP, audience)
    campaign_id = sim.send_now(BIG_SHOP)

    sim.run_until(lambda: sim.completed(BIG_SHOP, campaign_id), at_most=START + timedelta(hours=1))

    campaign = sim.ports.campaigns.get(BIG_SHOP, campaign_id)
    assert campaign.stats.sent == audience and campaign.completed_at is not None
    # Never more than PLAN_AHEAD of sending plus the page being planned, out of 3,000 (300 s of sending).
    assert sim.queue.most_recipients_waiting <= PLAN_AHEAD.total_seconds() * mps + PLAN_PAGE_SIZE
    assert sim.queue.most_recipients_waiting < audience / 3
    # ... and the queue never ran dry: done at the sender number's limit.
    assert (campaign.completed_at - START).total_seconds() <= audience / mps * 1.01
    assert sim.provider.fullest_second() <= mps


def test_the_simulation_stops_at_its_horizon_while_work_remains() -> None:
    sim = Simulation(10)
    sim.shop(BIG_SHOP, BIG_SENDER)
    sim.seed(BIG_SHOP, 3_000)
    sim.send_now(BIG_SHOP)

    sim.run_until(lambda: False, at_most=START + timedelta(seconds=60))

    # One batch at 10 a second may run past the horizon, no more.
    overrun = timedelta(seconds=planning.RECIPIENTS_PER_BATCH / 10 + 1)
    assert START + timedelta(seconds=60) <= sim.clock.now() <= START + timedelta(seconds=60) + overrun
    # the pacer keeps 1000/1008 of the limit (its margin for latency at the provider)
    assert 590 <= len(sim.provider.at_ms) <= 10 * (60 + overrun.total_seconds())
