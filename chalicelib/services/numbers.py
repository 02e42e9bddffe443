"""The operator's number registry: which of the deployment's sender numbers each shop may send from.

Sender numbers belong to the operator, not to merchants: the operator leases them in the End User Messaging
account, registers them with carriers (and pays for them), and knows each one's carrier rate. A merchant who
could claim any unclaimed number would send from numbers registered for someone else, or that do not exist;
a merchant who could set a number's MPS would raise a carrier's limit on paper only, and the carrier would
throttle or block. So the operator assigns numbers (with their MPS) to shops; a shop's settings only choose
its primary among them.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import NotFound
from chalicelib.domain.phones import normalize_phone
from chalicelib.domain.shops import SenderNumber, Shop
from chalicelib.services.optimistic import retry_on_conflict
from chalicelib.services.ports import Ports


@dataclass(frozen=True)
class Assignment:
    """One row of the operator's registry."""

    sender: SenderNumber
    shop_id: str


def _number(ports: Ports, raw: str) -> str:
    return normalize_phone(raw, allow_fictional=ports.allow_fictional_numbers)


def assign(ports: Ports, number: str, shop_id: str, *, mps: int) -> Shop:
    """Assign ``number`` (with its carrier rate ``mps``) to the shop, after checking the End User Messaging
    account has it. Assigning it again to the same shop restates its rate; another shop's number is a
    Conflict ``sender_number_taken``."""
    e164 = _number(ports, number)
    sender = SenderNumber(e164, mps)  # the rate is checked before anything is asked
    ports.shops.get(shop_id)  # NotFound before asking the provider
    kind = ports.sms.number_kind(e164)
    if kind is None:
        raise NotFound(
            f"{e164} is not a phone number of this deployment's End User Messaging account",
            code="number_not_in_account",
            details={"number": e164},
        )
    sender = SenderNumber(e164, sender.mps, kind)
    return retry_on_conflict(lambda: ports.shops.assign_number(shop_id, sender), gave_up="the shop kept changing; try again")


def unassign(ports: Ports, number: str) -> Shop:
    """Take ``number`` away from its shop: inbound to it no longer routes and nothing is sent from it."""
    e164 = _number(ports, number)

    def attempt() -> Shop:
        shop = ports.shops.unassign_number(e164)
        if shop is None:
            raise NotFound(f"{e164} is not assigned to any shop", code="number_not_assigned", details={"number": e164})
        return shop

    return retry_on_conflict(attempt, gave_up="the shop kept changing; try again")


def registry(ports: Ports) -> list[Assignment]:
    """Every assigned number with its rate, kind and shop, by number."""
    return [Assignment(sender, shop_id) for sender, shop_id in ports.shops.assigned_numbers()]

