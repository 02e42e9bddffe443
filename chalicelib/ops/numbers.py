"""The operator's sender-number registry, from the command line.

    python -m chalicelib.ops.numbers list
    python -m chalicelib.ops.numbers assign +18885550100 shop.myshopify.com --mps 3
    python -m chalicelib.ops.numbers unassign +18885550100

It runs against the deployment its environment names (the same SMSCAST_* and AWS_* variables the Lambda
functions read). ``assign`` first asks End User Messaging (DescribePhoneNumbers) whether the account has the
number, then writes it, with the MPS the operator states, to the shop's pool and its inbound routing in one
transaction; a number belongs to at most one shop. ``unassign`` removes both: inbound to the number no longer
reaches the shop and no batch or reply is sent from it. Why numbers are the operator's: services/numbers.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from chalicelib.domain.errors import SmscastError
from chalicelib.services import numbers
from chalicelib.services.ports import Ports


def _ports() -> Ports:
    from chalicelib.composition import Container
    from chalicelib.settings import Settings

    return Container(Settings.from_env()).ports


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="python -m chalicelib.ops.numbers", description="The operator's sender numbers.")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every assigned number: MPS, kind, shop")
    assign = commands.add_parser("assign", help="assign an End User Messaging number to a shop")
    assign.add_argument("number", help="E.164, e.g. +18885550100")
    assign.add_argument("shop_id", help="e.g. shop.myshopify.com")
    assign.add_argument("--mps", type=int, required=True, help="the number's carrier rate in parts per second")
    unassign = commands.add_parser("unassign", help="take a number away from its shop")
    unassign.add_argument("number")
    return top


def main(argv: Sequence[str] | None = None, *, ports: Ports | None = None, out: TextIO = sys.stdout) -> int:
    """Run one command; 0 on success, 1 with the reason on stderr when it was refused."""
    args = parser().parse_args(argv)
    ports = ports or _ports()
    try:
        if args.command == "list":
            for row in numbers.registry(ports):
                print(f"{row.sender.number}\t{row.sender.mps} MPS\t{row.sender.kind}\t{row.shop_id}", file=out)
        elif args.command == "assign":
            shop = numbers.assign(ports, args.number, args.shop_id, mps=args.mps)
            print(f"assigned to {shop.shop_id}; its numbers: {_pool(shop.number_list())}; primary {shop.primary}", file=out)
        else:
            shop = numbers.unassign(ports, args.number)
            print(f"unassigned from {shop.shop_id}; its numbers: {_pool(shop.number_list())}", file=out)
    except SmscastError as exc:
        print(f"refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 1
    return 0


def _pool(pool: list[str]) -> str:
    return ", ".join(pool) or "none"


if __name__ == "__main__":
    sys.exit(main())
