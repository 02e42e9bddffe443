"""``python -m tests.chaos``: run chaos rounds and print any violation with its replay command."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from tests.chaos.harness import Config, run_round
from tests.chaos.plants import PLANTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=1, help="the (first) seed")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds, from --seed on")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per seed")
    parser.add_argument("--round", type=int, default=0, help="the first round's index (a replay names it)")
    parser.add_argument("--steps", type=int, default=Config.steps, help="random actions per round before the drain")
    parser.add_argument("--subscribers", default="{}-{}".format(*Config.subscribers_per_shop), help="per shop, MIN-MAX")
    parser.add_argument("--storm", type=int, default=Config.storm, help="drain deliveries that still crash and race")
    parser.add_argument("--crash-rate", type=float, default=Config.crash_rate, help="chance a worker dies at each crash point")
    parser.add_argument("--race-rate", type=float, default=Config.race_rate, help="chance an action lands after each claim")
    parser.add_argument("--plant", choices=sorted(PLANTS), help="run with a deliberately broken port")
    parser.add_argument("--verbose", action="store_true", help="one line per round with what it exercised")
    args = parser.parse_args(argv)
    low, _, high = args.subscribers.partition("-")
    config = Config(
        steps=args.steps,
        subscribers_per_shop=(int(low), int(high or low)),
        storm=args.storm,
        crash_rate=args.crash_rate,
        race_rate=args.race_rate,
    )
    plant = PLANTS[args.plant] if args.plant else None
    started = time.perf_counter()
    totals: Counter[str] = Counter()
    violations: list[str] = []
    rounds = 0
    for seed in range(args.seed, args.seed + args.seeds):
        for index in range(args.round, args.round + args.rounds):
            result = run_round(seed, index, config=config, plant=plant, plant_name=args.plant)
            rounds += 1
            totals.update(result.counts)
            violations.extend(result.violations)
            status = f"{len(result.violations)} violations" if result.violations else "ok"
            if args.verbose:
                exercised = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
                print(f"seed {seed} round {index}: {status} in {result.seconds:.1f}s; {exercised}", flush=True)
            for v in result.violations:
                print(f"VIOLATION {v}", flush=True)
    elapsed = time.perf_counter() - started
    print(
        f"{rounds} rounds, {args.seeds} seeds, {totals['sends']} messages sent, "
        f"{sum(v for k, v in totals.items() if k.startswith('delivered'))} deliveries, "
        f"{totals['worker crashes']} worker crashes, {len(violations)} violations, {elapsed:.1f}s"
    )
    if args.verbose:
        print("totals: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
