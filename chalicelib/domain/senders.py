"""Which number of a shop's pool sends a campaign batch: weighted rendezvous hashing (pure, deterministic).

Every number scores the batch with a hash of (batch key, number) turned into an exponential draw scaled by the
number's MPS; the highest score wins. So:
- load splits in proportion to each number's rate (a 100 MPS number takes ten times the batches of a 10 MPS
  one), without any shared counter;
- a redelivered batch (same key) picks the same number, so its pacing and the provider's view stay the same;
- assigning or unassigning a number moves only the batches that number wins or loses.

Why a batch and not each subscriber gets a number: a group's claim, settle and pacer grant are amortised over
up to GROUP_SIZE (49) recipients of ONE number. A number sticky per subscriber would split a 98-recipient batch
over up to 98 numbers, one pacer grant and one tiny claim/settle per recipient instead of per group, which is
the campaign's cost multiplied; the subscriber's replies still reach the shop from any pool number, and Inbox
replies follow the number the subscriber used (services/inbox.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.shops import SenderNumber

_FRACTION_BITS = 53  # a double holds 53 bits of mantissa: the draw is exact


def _unit(key: str, number: str) -> float:
    """A uniform draw in (0, 1) fixed by the key and the number (never 0 or 1, so the log below is finite)."""
    digest = hashlib.sha256(f"{key}\x00{number}".encode()).digest()
    bits = int.from_bytes(digest[:8], "big") >> (64 - _FRACTION_BITS)
    return (bits + 0.5) / (1 << _FRACTION_BITS)


def score(key: str, sender: SenderNumber) -> float:
    """The number's bid for ``key``: -mps / ln(u), the weighted rendezvous score (higher wins)."""
    return -sender.mps / math.log(_unit(key, sender.number))


def choose(pool: Sequence[SenderNumber], key: str) -> SenderNumber:
    """The number of ``pool`` that sends what ``key`` names (a tie, vanishingly rare, is broken by the number)."""
    if not pool:
        raise InvalidInput("the shop has no sender number", code="no_sender_number")
    return max(pool, key=lambda sender: (score(key, sender), sender.number))


def batch_key(campaign_id: str, phones: Sequence[str]) -> str:
    """A send batch's identity: its campaign and recipients (the same on every redelivery of the batch; the
    throttling attempt is left out so a retried remainder keeps hashing by who is in it)."""
    digest = hashlib.sha256("\n".join([campaign_id, *phones]).encode()).hexdigest()
    return f"{campaign_id}#{digest[:32]}"
