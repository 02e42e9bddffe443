"""The send path's AWS call budget (issue 10): at most 1.25 calls per recipient including the send, 1.5 with half
the audience deferred by quiet hours. Counts through the real pipeline on moto and a virtual clock: no timing."""

from __future__ import annotations

import pytest

from bench.campaign_calls import (
    ENGINE,
    TARGET_CALLS_PER_RECIPIENT,
    TARGET_CALLS_PER_RECIPIENT_QUIET,
    calls_with_send_per_recipient,
)

pytestmark = pytest.mark.integration

# Three full send batches: enough that the campaign's fixed calls (create, start, plan: about 14) weigh what they
# would in a real audience no more than they must, small enough for moto (which copies tables per transaction).
SUBSCRIBERS = 294
SHORT_CODE_MPS = 100
LOW_MPS = 20


def test_a_send_now_campaign_costs_at_most_its_call_budget_per_recipient() -> None:
    per_recipient, result = calls_with_send_per_recipient(SUBSCRIBERS, SHORT_CODE_MPS)

    assert result.status == "completed"
    assert result.recipients == result.sent == result.outbox == SUBSCRIBERS
    assert per_recipient <= TARGET_CALLS_PER_RECIPIENT, (
        f"{per_recipient:.2f} AWS calls per recipient including the send (target {TARGET_CALLS_PER_RECIPIENT}); "
        f"engine calls by operation: {dict(result.operations('engine'))}"
    )


def test_with_half_the_audience_deferred_by_quiet_hours_the_budget_is_1_5() -> None:
    per_recipient, result = calls_with_send_per_recipient(SUBSCRIBERS, SHORT_CODE_MPS, quiet_hours=True)

    assert result.status == "completed"
    assert result.recipients == result.sent == result.outbox == SUBSCRIBERS
    assert result.deferred == SUBSCRIBERS // 2 and result.waves_fired >= 1
    assert per_recipient <= TARGET_CALLS_PER_RECIPIENT_QUIET, (
        f"{per_recipient:.2f} AWS calls per recipient including the send with quiet hours "
        f"(target {TARGET_CALLS_PER_RECIPIENT_QUIET}); engine calls by operation: {dict(result.operations('engine'))}"
    )

def test_at_a_slow_numbers_rate_each_further_recipient_still_costs_at_most_the_budget() -> None:
    # At 20 MPS a group is 20 messages (what the pacer grants in about a second), so groups cost more per recipient
    # than at a short code; the campaign's fixed calls divide out of the difference between two audiences.
    small, large = 60, 120
    _, a = calls_with_send_per_recipient(small, LOW_MPS)
    _, b = calls_with_send_per_recipient(large, LOW_MPS)

    assert a.recipients == a.sent == small and b.recipients == b.sent == large
    each = (b.count(ENGINE) - a.count(ENGINE) + b.sent - a.sent) / (large - small)
    assert each <= TARGET_CALLS_PER_RECIPIENT, (
        f"{each:.2f} AWS calls per further recipient at {LOW_MPS} MPS; engine calls by operation: "
        f"{dict(b.operations('engine'))} against {dict(a.operations('engine'))}"
    )
    # No consent read per group: the batch's reads (subscribers, ledger, contact windows) are all there is; and no
    # late message given back (the send pool runs on virtual threads: the counts do not depend on the machine).
    assert b.calls[(ENGINE, "dynamodb", "BatchGetItem", "subscribers")] == 2  # 120 keys: 100 and 20
    assert (ENGINE, "dynamodb", "TransactWriteItems", "contacts+send-ledger") not in b.calls
