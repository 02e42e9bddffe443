"""The send path's AWS call budget (issue 10): at most 1.25 calls per recipient including the send, 1.5 with half
the audience deferred by quiet hours. Counts through the real pipeline on moto and a virtual clock: no timing."""

from __future__ import annotations

import pytest

from bench.campaign_calls import (
    TARGET_CALLS_PER_RECIPIENT,
    TARGET_CALLS_PER_RECIPIENT_QUIET,
    calls_with_send_per_recipient,
)

pytestmark = pytest.mark.integration

# Three full send batches: enough that the campaign's fixed calls (create, start, plan: about 14) weigh what they
# would in a real audience no more than they must, small enough for moto (which copies tables per transaction).
SUBSCRIBERS = 294
SHORT_CODE_MPS = 100
# A slow number's group costs are guarded in tests/unit/test_send_pipeline.py on virtual threads: here, the send
# pool's threads share the bench's virtual clock, so at 20 MPS the count of late messages given back (a release
# and a grant each) depends on thread scheduling, and a few calls over 60 recipients cross the budget at random.


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

