"""``make bench``: every benchmark figure in one report, ``docs/benchmarks.md``, beside the baseline of the same run.

Sections, in order: AWS calls per recipient (this tree beside the per-recipient baseline), write units and the
hottest keys, pacing (``bench.pacing --markdown``), scale (``bench.scale --markdown``), inbound
(``bench.inbound --markdown``). Every bench runs in its own subprocess, two at a time; the baseline is
``BASELINE_COMMIT`` extracted with ``git archive`` into a temporary folder sharing this tree's ``.venv``, running
its own ``bench.campaign_calls --json``, never edited. A section whose bench is missing or fails says so, and the
report then exits non-zero (after writing everything else).

    .venv/bin/python -m bench.report [--out docs/benchmarks.md] [--subscribers 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bench.campaign_calls import (
    ENGINE,
    SANDBOX,
    SENDER,
    SHARD_FAMILIES,
    TARGET_CALLS_PER_RECIPIENT,
    TARGET_CALLS_PER_RECIPIENT_QUIET,
    audience,
)
from bench.wcu import PARTITION_WCU_PER_SECOND

ROOT = Path(__file__).resolve().parent.parent
# The per-recipient send path as issue 10 found it (7.2 AWS calls per recipient with the send): the design the
# batch-amortised rewrite is measured against. A commit, not a branch, so the baseline never moves.
BASELINE_COMMIT = "941c875"
# Six send groups (one batch of 490 holds them). moto copies whole tables per transaction: run time grows with the
# square of this.
DEFAULT_SUBSCRIBERS = 294
SHORT_CODE_MPS = 100  # a short code's rate: the main runs
LOW_MPS = 20  # one row at a lower rate, since the send groups follow what the pacer grants
TARGET = TARGET_CALLS_PER_RECIPIENT
TARGET_QUIET = TARGET_CALLS_PER_RECIPIENT_QUIET
HOT_MPS = 1000  # one campaign at 1,000 MPS
POOL_MPS = 20_000  # on paper: a pool of numbers
POOL_NUMBER_MPS = 100  # ... of short codes at 100 MPS each (200 of them)
BENCH_TIMEOUT_SECONDS = 1800
CALLS_COMMAND = ".venv/bin/python -m bench.campaign_calls"


@dataclass(frozen=True)
class Scenario:
    """One campaign_calls run: what the report calls it and its options."""

    title: str
    flags: tuple[str, ...]
    mps: int = SHORT_CODE_MPS
    target: float = TARGET
    scale: int = 1  # the audience, in multiples of the report's
    baseline: bool = True  # whether the baseline runs it too

    def args(self, subscribers: int) -> list[str]:
        """campaign_calls' command-line arguments."""
        return ["--subscribers", str(subscribers * self.scale), "--mps", str(self.mps), *self.flags]


SCENARIOS = (
    Scenario("plain message", ()),
    Scenario("with a link", ("--link",)),
    Scenario("half the audience deferred by quiet hours", ("--quiet-hours",), target=TARGET_QUIET),
    Scenario("every message delivered twice", ("--duplicates",)),
    Scenario("plain message", (), mps=LOW_MPS),
    # The same at twice the audience: a campaign's fixed calls (creating, starting, planning and completing it,
    # about 20) weigh on a few hundred recipients; the two rows together give what each further recipient costs.
    # Not run on the baseline: moto copies every table its per-recipient transactions touch, which grows with the
    # square of the audience.
    Scenario("plain message, twice the audience", (), mps=LOW_MPS, scale=2, baseline=False),
)


@dataclass
class Outcome:
    """A subprocess bench: its stdout, or why it has none."""

    stdout: str = ""
    error: str | None = None
    seconds: float = 0.0


def run_module(root: Path, module: str, args: Sequence[str]) -> Outcome:
    """``python -m module args`` in ``root`` with that tree's interpreter; never raises."""
    started = time.monotonic()
    command = [str(root / ".venv" / "bin" / "python"), "-m", module, *args]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        done = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=BENCH_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Outcome(error=f"{' '.join(command[1:])}: {exc}", seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        return Outcome(
            done.stdout, f"`python -m {module} {' '.join(args)}` exited {done.returncode}:\n\n```\n{tail}\n```", seconds
        )
    return Outcome(done.stdout, None, seconds)


def last_json(stdout: str) -> dict[str, Any]:
    """The JSON object campaign_calls --json prints last."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            parsed: dict[str, Any] = json.loads(line)
            return parsed
    raise ValueError("no JSON line in the output")


@dataclass
class Calls:
    """campaign_calls' --json, read the same way for the baseline and this tree."""

    data: dict[str, Any]
    by_key: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for key, n in self.data["calls"].items():
            who, service, operation, tables = key.split(":", 3)
            self.by_key[(who, service, operation, tables)] += int(n)

    @property
    def recipients(self) -> int:
        """Planned recipients."""
        return int(self.data["recipients"])

    @property
    def sent(self) -> int:
        """Messages sent."""
        return int(self.data["sent"])

    def per(self, n: float) -> float:
        """``n`` per recipient."""
        return n / self.recipients if self.recipients else 0.0

    def count(self, who: str) -> int:
        """Calls by ``who``."""
        return sum(n for (w, *_), n in self.by_key.items() if w == who)

    @property
    def with_send(self) -> float:
        """Engine calls plus one SendTextMessage per message sent, per recipient."""
        return self.per(self.count(ENGINE) + self.sent)

    def operations(self, who: str) -> Counter[str]:
        """Calls by ``who`` per "service Operation"."""
        totals: Counter[str] = Counter()
        for (w, service, operation, _), n in self.by_key.items():
            if w == who:
                totals[f"{service} {operation}"] += n
        return totals


def git(*args: str) -> str:
    """A git command's output in this tree (empty if git fails)."""
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def extract_baseline(into: Path) -> Path:
    """``BASELINE_COMMIT``'s tree in ``into``, sharing this tree's virtualenv."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", BASELINE_COMMIT], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    (into / ".venv").symlink_to((ROOT / ".venv").resolve(), target_is_directory=True)
    return into


def overlay_baseline(base_root: Path, into: Path) -> Path:
    """A tree whose engine and ``bench`` are the baseline's, plus this tree's write meter (``bench/wcu.py``) and the
    runner that attaches it to the baseline's own bench (``bench/baseline_wcu.py``): the baseline's bench runs
    unchanged while this tree's meter prices its writes. The baseline itself is never edited."""
    into.mkdir()
    bench = into / "bench"
    bench.mkdir()
    for path in (base_root / "bench").iterdir():
        (bench / path.name).symlink_to(path)
    for name in ("wcu.py", "baseline_wcu.py"):
        (bench / name).unlink(missing_ok=True)
        (bench / name).symlink_to(ROOT / "bench" / name)
    for name in ("chalicelib", "devstack", "infra", ".chalice", ".venv"):
        if (base_root / name).exists():
            (into / name).symlink_to(base_root / name, target_is_directory=True)
    return into


def header(subscribers: int) -> str:
    """Title, date, commit and machine."""
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs"
    machine += f", Python {platform.python_version()}"
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Written by `make bench` on {now}: commit `{commit}` ({branch}){dirty}; machine: {machine}.",
            f"Baseline: commit `{BASELINE_COMMIT}` (the per-recipient send path), extracted with `git archive` and run by",
            "its own `bench.campaign_calls --json` in the same `make bench`. Counts come from a virtual clock and do not",
            "depend on the machine; wall times are informational only.",
            f"Campaign runs: {subscribers} subscribers (half New York, half California), a one-part message, the shop at",
            f"{SHORT_CODE_MPS} MPS (a short code) unless the row says otherwise.",
        ]
    )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def calls_section(
    subscribers: int, baseline: dict[Scenario, Calls | str], current: dict[Scenario, Calls | str]
) -> tuple[str, bool]:
    """Calls per recipient beside the baseline; False if a run failed (a missed target is reported, not failed)."""
    ok = True
    lines = [
        "## AWS calls per recipient, beside the baseline",
        "",
        "Calls per recipient **including the send**: the engine's AWS calls plus one End User Messaging",
        "`SendTextMessage` per message sent (the sandbox provider's own DynamoDB calls stand in for that send and are",
        "left out). Counted from every botocore call the engine makes through the real pipeline (campaign-jobs and",
        "campaign-sends workers fed SQS-shaped events on moto).",
        "",
        "| scenario | MPS | recipients | sent | baseline | this tree | target | |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for scenario in SCENARIOS:
        base, mine = baseline[scenario], current[scenario]
        b = base.with_send if isinstance(base, Calls) else None
        m = mine.with_send if isinstance(mine, Calls) else None
        recipients = mine.recipients if isinstance(mine, Calls) else "n/a"
        sent = mine.sent if isinstance(mine, Calls) else "n/a"
        verdict = "failed to run" if m is None else ("meets the target" if m <= scenario.target else "above the target")
        ok = ok and m is not None and (b is not None or not scenario.baseline)
        lines.append(
            f"| {scenario.title} | {scenario.mps} | {recipients} | {sent} | {_fmt(b)} | {_fmt(m)} "
            f"| <= {scenario.target} | {verdict} |"
        )
    lines += marginal_lines(current)
    for scenario in SCENARIOS:
        for side, outcome in (("baseline", baseline[scenario]), ("this tree", current[scenario])):
            if isinstance(outcome, str) and (side == "this tree" or scenario.baseline):
                lines += ["", f"{side}, {scenario.title} at {scenario.mps} MPS: {outcome}"]
    plain = SCENARIOS[0]
    base, mine = baseline[plain], current[plain]
    if isinstance(base, Calls) and isinstance(mine, Calls):
        lines += ["", f"By service and operation, {plain.title} at {plain.mps} MPS (calls per recipient):", ""]
        lines += ["| who | operation | baseline | this tree |", "|---|---|---:|---:|"]
        for who in (ENGINE, SANDBOX):
            b_ops, m_ops = base.operations(who), mine.operations(who)
            for op in sorted(set(b_ops) | set(m_ops), key=lambda o: (-(m_ops[o] + b_ops[o]), o)):
                lines.append(f"| {who} | {op} | {base.per(b_ops[op]):.2f} | {mine.per(m_ops[op]):.2f} |")
        lines.append(
            f"| End User Messaging | sms-voice SendTextMessage (1 per message sent) "
            f"| {base.per(base.sent):.2f} | {mine.per(mine.sent):.2f} |"
        )
        lines += [
            "",
            "By operation and tables, this tree (calls per recipient):",
            "",
            "| who | operation [tables] | per recipient |",
            "|---|---|---:|",
        ]
        for (who, service, operation, tables), n in sorted(mine.by_key.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0])):
            lines.append(f"| {who} | {service} {operation} [{tables}] | {mine.per(n):.2f} |")
    lines += [
        "",
        "Rerun one row (add `--json` for the counts; the baseline's from a `git archive "
        f"{BASELINE_COMMIT}` of the repository): `{CALLS_COMMAND} --subscribers {subscribers} --mps {SHORT_CODE_MPS} "
        "[--link | --quiet-hours | --duplicates]`; the whole section: `make bench`.",
    ]
    return "\n".join(lines), ok


def marginal_lines(current: dict[Scenario, Calls | str]) -> list[str]:
    """What each further recipient costs, from two runs that differ only in their audience: the campaign's fixed
    calls divide out."""
    lines: list[str] = []
    for big in SCENARIOS:
        small = next((s for s in SCENARIOS if s.scale == 1 and (s.flags, s.mps) == (big.flags, big.mps)), None)
        if big.scale == 1 or small is None:
            continue
        a, b = current[small], current[big]
        if not isinstance(a, Calls) or not isinstance(b, Calls) or b.recipients <= a.recipients:
            continue
        added = b.recipients - a.recipients
        engine_each = (b.count(ENGINE) - a.count(ENGINE)) / added
        each = engine_each + (b.sent - a.sent) / added
        fixed = a.count(ENGINE) - engine_each * a.recipients
        verdict = "meets" if each <= small.target else "is above"
        lines += [
            "",
            f"At {big.mps} MPS, each recipient past the first {a.recipients} costs **{each:.2f} calls including the send** "
            f"({added} more recipients, {b.count(ENGINE) - a.count(ENGINE)} more engine calls), which {verdict} the "
            f"target of {small.target}; the campaign's fixed calls, whatever its audience, come to about {fixed:.0f}. "
            f"A group is at most what the pacer grants in about a second ({big.mps} messages here) and costs three "
            "calls (the pacer, the claim, the settle), so a slow number pays more per recipient than a short code.",
        ]
    return lines


def _per_recipient_key(key: str, phones: frozenset[str]) -> bool:
    return any(part in phones for part in key.replace("#", " ").replace("|", " ").split())


def wcu_section(
    subscribers: int, current: Calls | str, baseline: Calls | str, scenarios: dict[Scenario, Calls | str]
) -> tuple[str, bool]:
    """Write units per recipient and the hottest partition keys scaled to 1,000 MPS and, on paper, 20,000 MPS."""
    title = "## Write units (WCU) per recipient and the hottest keys"
    rerun = f"Rerun: `{CALLS_COMMAND} --subscribers {subscribers} --mps {SHORT_CODE_MPS} --json` (the `wcu` field)"
    rerun += "; the section: `make bench`."
    if isinstance(current, str) or "wcu" not in current.data:
        why = current if isinstance(current, str) else "this tree's campaign_calls --json has no `wcu` field"
        return f"{title}\n\nNot measured: {why}\n\n{rerun}", False
    wcu = current.data["wcu"]
    per = current.per
    lines = [
        title,
        "",
        "Estimated from every write request the engine sends (botocore's API calls, through the same hook that counts",
        "them), by DynamoDB's documented arithmetic (`bench/wcu.py`): an item's size is its attribute names plus values",
        "([item sizes](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html));",
        "a write costs one unit per started KB, the larger of before and after for an update",
        "([write consumption](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html#write-operation-consumption));",
        "every action inside `TransactWriteItems`, `ConditionCheck` included, costs twice",
        "([transactions](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling));",
        "`BatchWriteItem` per item. A Put is sized from its item; an Update, Delete or ConditionCheck from the item as",
        "stored in moto when the run ends (its final size: an upper bound for earlier updates of a growing item), or from",
        "the request (key plus values) when the item is gone. Global secondary index writes are not counted.",
        f"Sized from: {', '.join(f'{n} writes by the {k}' for k, n in sorted(wcu['sized_from'].items()))}.",
        "",
        f"{SCENARIOS[0].title.capitalize()} at {SCENARIOS[0].mps} MPS, this tree: "
        f"**{per(_units(wcu, ENGINE)):.2f} WCU per recipient** "
        f"(engine; the sandbox provider's outbox adds {per(_units(wcu, SANDBOX)):.2f}, not in AWS).",
        "The baseline's column is the baseline's own `bench.campaign_calls`, unchanged, with this tree's meter",
        "listening (`bench/baseline_wcu.py`), so the same meter prices both; its calls are checked equal to the",
        "baseline's own count. Rerun it in a `git archive` of the baseline whose `bench/` also holds this tree's",
        "`wcu.py` and `baseline_wcu.py`: `python -m bench.baseline_wcu --subscribers N --mps 100 --json`.",
        "",
    ]
    base_wcu = baseline.data.get("wcu") if isinstance(baseline, Calls) else None
    if base_wcu is None:
        lines += [f"Baseline WCU not measured: {baseline if isinstance(baseline, str) else 'no wcu field'}", ""]
    lines += ["| scenario | MPS | baseline WCU per recipient | this tree |", "|---|---|---:|---:|"]
    for scenario, run in scenarios.items():
        mine = f"{run.per(_units(run.data['wcu'], ENGINE)):.2f}" if isinstance(run, Calls) and "wcu" in run.data else "n/a"
        theirs = "n/a"
        if scenario == SCENARIOS[0] and base_wcu is not None and isinstance(baseline, Calls):
            theirs = f"{baseline.per(_units(base_wcu, ENGINE)):.2f}"
        lines.append(f"| {scenario.title} | {scenario.mps} | {theirs} | {mine} |")
    lines += [
        "",
        f"By operation and table, {SCENARIOS[0].title} at {SCENARIOS[0].mps} MPS (WCU per recipient):",
        "",
        "| operation | action | table | baseline | this tree |",
        "|---|---|---|---:|---:|",
    ]
    base_units = _engine_units(base_wcu)
    mine_units = _engine_units(wcu)
    for key in sorted(set(base_units) | set(mine_units), key=lambda k: (-(mine_units.get(k, 0) + base_units.get(k, 0)), k)):
        operation, action, table = key
        theirs = f"{baseline.per(base_units[key]):.2f}" if isinstance(baseline, Calls) and key in base_units else "n/a"
        if isinstance(baseline, Calls) and base_wcu is not None and key not in base_units:
            theirs = "0.00"
        lines.append(f"| {operation} | {action} | {table} | {theirs} | {per(mine_units.get(key, 0)):.2f} |")
    if isinstance(baseline, Calls) and base_wcu is not None:
        lines += [
            "",
            "Baseline's hottest keys at 1,000 MPS:",
            "",
            "| table | partition key | WCU/s at 1,000 MPS |",
            "|---|---|---:|",
        ]
        base_phones = frozenset(audience(baseline.recipients)) if baseline.recipients else frozenset()
        hot = [(t, k, n) for t, k, n in base_wcu["partitions"].get(ENGINE, []) if not _per_recipient_key(k, base_phones)]
        lines += [f"| {t} | `{k}` | {baseline.per(n) * HOT_MPS:,.0f} |" for t, k, n in hot[:5]]
    phones = frozenset(audience(current.recipients)) if current.recipients else frozenset()
    rows = wcu["partitions"].get(ENGINE, [])
    shared = [(t, k, n) for t, k, n in rows if not _per_recipient_key(k, phones)]
    single = [(t, k, n) for t, k, n in rows if _per_recipient_key(k, phones)]
    lines += [
        "",
        f"### Hottest partition keys at {HOT_MPS:,} MPS (one campaign)",
        "",
        f"A key shared by the campaign's recipients takes (its WCU per recipient) x {HOT_MPS:,} WCU/s when one campaign",
        f"sends {HOT_MPS:,} one-part messages a second; DynamoDB's limit is {PARTITION_WCU_PER_SECOND:,} WCU/s per partition",
        "([hot partitions](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html)).",
        f"{wcu['distinct_partitions'].get(ENGINE, 0)} partition keys written by the engine in this run.",
        "",
        f"| table | partition key | WCU per recipient | WCU/s at {HOT_MPS:,} MPS | limit | |",
        "|---|---|---:|---:|---:|---|",
    ]
    for table, key, n in shared[:5]:
        rate = per(n) * HOT_MPS
        fits = rate <= PARTITION_WCU_PER_SECOND
        lines.append(
            f"| {table} | `{key}` | {per(n):.3f} | {rate:,.0f} | {PARTITION_WCU_PER_SECOND:,} "
            f"| {'under' if fits else '**over**'} |"
        )
    if single:
        table, key, n = single[0]
        lines += [
            "",
            f"Keys of one recipient (a phone in the key) are written once per campaign, whatever the rate: the most any took is "
            f"{n} WCU (`{table}` `{key}`).",
        ]
    lines += [
        "",
        f"### On paper: {POOL_MPS:,} MPS over a pool",
        "",
        f"Assumptions: one shop's one campaign sends {POOL_MPS:,} one-part messages a second from a pool of "
        f"{POOL_MPS // POOL_NUMBER_MPS} short codes at {POOL_NUMBER_MPS} MPS each; every shared key keeps the WCU per recipient "
        "measured",
        f"above (so it scales with the pool's rate), except keys that name the sender number (`{SENDER}` in this run),",
        f"which scale with one number's {POOL_NUMBER_MPS} MPS. No other shop or campaign writes the same keys.",
        "A key that names a shard of a family spread by a hash (a campaign's send-ledger keys, its gates, the",
        "shop's totals items, a release wave's keys) is judged at its expected load, the family's over its shard count:",
        f"this run's {current.recipients} recipients land unevenly on the shards, a pool's {POOL_MPS:,} a second do not.",
        "Writes made once per campaign whatever its audience (creating it, Send Now, its status changes) are not scaled.",
        "",
        f"| table | partition key | WCU/s at {POOL_MPS:,} MPS | limit | | counted as |",
        "|---|---|---:|---:|---|---|",
    ]
    paper: list[tuple[float, str, str, str]] = []

    def less_once(units: int, once: int) -> tuple[int, str]:
        # Creating and starting the campaign write these keys once whatever the audience: not scaled with the rate.
        return units - once, f"; less {once} WCU written once per campaign (create, start, complete)" if once else ""

    for table, family, units, shards, seen, *rest in wcu.get("families", {}).get(ENGINE, []):
        scaled, note = less_once(units, int(rest[0]) if rest else 0)
        whole = per(scaled) * POOL_MPS
        how = f"per shard: the family's {whole:,.0f} over {shards} shards ({seen} of them written in this run){note}"
        paper.append((whole / shards, table, family, how))
    # Older --json output has no "unsharded" list: its hottest keys, less the families' keys, are the best there is.
    unsharded = wcu.get("unsharded", {}).get(ENGINE, rows)
    for table, key, n, *rest in unsharded:
        if _per_recipient_key(key, phones) or any(family.family_of(table, key) is not None for family in SHARD_FAMILIES):
            continue  # a recipient's own key, or counted with its family above
        scaled, note = less_once(n, int(rest[0]) if rest else 0)
        paper.append((per(scaled) * (POOL_NUMBER_MPS if SENDER in key else POOL_MPS), table, key, "one key" + note))
    for rate, table, shown, how in sorted(paper, key=lambda row: (-row[0], row[1], row[2]))[:6]:
        verdict = "under" if rate <= PARTITION_WCU_PER_SECOND else "**over**"
        lines.append(f"| {table} | `{shown}` | {rate:,.0f} | {PARTITION_WCU_PER_SECOND:,} | {verdict} | {how} |")
    lines += ["", rerun]
    return "\n".join(lines), True


def _engine_units(wcu: dict[str, Any] | None) -> dict[tuple[str, str, str], int]:
    found: dict[tuple[str, str, str], int] = {}
    for key, n in (wcu or {}).get("units", {}).items():
        who, operation, action, table = key.split(":", 3)
        if who == ENGINE:
            found[(operation, action, table)] = int(n)
    return found


def _units(wcu: dict[str, Any], who: str) -> int:
    return sum(int(n) for key, n in wcu["units"].items() if key.split(":", 1)[0] == who)


def module_section(title: str, module: str, outcome: Outcome | None) -> tuple[str, bool]:
    """A bench that prints its own markdown section; says so when it is missing or failed."""
    rerun = f"Rerun: `.venv/bin/python -m {module} --markdown`."
    if outcome is None:
        return f"## {title}\n\nNot run: `{module}` does not exist in this tree yet.\n\n{rerun}", False
    if outcome.error is not None:
        return f"## {title}\n\nFailed: {outcome.error}\n\n{rerun}", False
    text = outcome.stdout.strip()
    if not text.startswith("#"):
        text = f"## {title}\n\n{text}"
    if f"-m {module}" not in text:
        text += f"\n\n{rerun}"
    return text, True


def baseline_priced(metered: Outcome, own: Calls | str) -> Calls | str:
    """The baseline's engine under this tree's meter, if it ran and counted the calls the baseline counts itself."""
    if metered.error is not None:
        return f"the baseline's engine did not run under this tree's bench: {metered.error}"
    try:
        priced = Calls(last_json(metered.stdout))
    except (ValueError, KeyError) as exc:
        return f"unreadable output: {exc}"
    if isinstance(own, Calls) and priced.count(ENGINE) != own.count(ENGINE):
        return "under this tree's bench the baseline's engine made other calls than under its own: not comparable"
    return priced


def build(subscribers: int, out: Path, log: Callable[[str], None]) -> bool:
    """Run every bench, write the report; True if every section was produced (a missed target does not fail it)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="smscast-baseline-") as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        base_root = extract_baseline(Path(tmp) / "baseline")
        metered_base = overlay_baseline(base_root, Path(tmp) / "baseline-metered")
        jobs: dict[tuple[str, Scenario], Future[Outcome]] = {}
        for scenario in SCENARIOS:
            for side, root in (("this tree", ROOT), ("baseline", base_root)):
                if side == "baseline" and not scenario.baseline:
                    continue
                jobs[(side, scenario)] = pool.submit(
                    run_module, root, "bench.campaign_calls", [*scenario.args(subscribers), "--json"]
                )
        plain = SCENARIOS[0]
        base_meter = pool.submit(run_module, metered_base, "bench.baseline_wcu", [*plain.args(subscribers), "--json"])
        extra: dict[str, Future[Outcome] | None] = {}
        for module in ("bench.pacing", "bench.scale", "bench.inbound", "bench.exports", "bench.imports"):
            extra[module] = pool.submit(run_module, ROOT, module, ["--markdown"]) if find_spec(module) else None

        def calls(side: str) -> dict[Scenario, Calls | str]:
            found: dict[Scenario, Calls | str] = {}
            for scenario in SCENARIOS:
                if (side, scenario) not in jobs:
                    found[scenario] = "not run on the baseline"
                    continue
                outcome = jobs[(side, scenario)].result()
                log(f"{side}: campaign_calls {' '.join(scenario.args(subscribers))} ({outcome.seconds:.0f}s)")
                try:
                    found[scenario] = outcome.error or Calls(last_json(outcome.stdout))
                except (ValueError, KeyError) as exc:
                    found[scenario] = f"unreadable output: {exc}"
            return found

        current, baseline = calls("this tree"), calls("baseline")
        metered = base_meter.result()
        log(f"baseline under this tree's meter: campaign_calls {' '.join(plain.args(subscribers))} ({metered.seconds:.0f}s)")
        base_wcu = baseline_priced(metered, baseline[plain])
        sections: list[tuple[str, bool]] = [
            calls_section(subscribers, baseline, current),
            wcu_section(subscribers, current[plain], base_wcu, current),
        ]
        titles = {
            "bench.pacing": "Pacing at the provider",
            "bench.scale": "Scale",
            "bench.inbound": "Inbound messages through the handler, with dedupe",
            "bench.exports": "CSV export",
            "bench.imports": "CSV import",
        }
        for module, future in extra.items():
            outcome = future.result() if future is not None else None
            log(f"{module}: {'missing' if outcome is None else f'{outcome.seconds:.0f}s' + (' FAILED' if outcome.error else '')}")
            sections.append(module_section(titles[module], module, outcome))
    body = "\n\n".join([header(subscribers), *(text for text, _ in sections)])
    footer = f"_Whole report: `make bench` ({time.monotonic() - started:.0f} s wall time on this machine)._"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{body}\n\n{footer}\n")
    return all(produced for _, produced in sections)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the report; exit 1 if a section could not be produced."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description="Write docs/benchmarks.md.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--subscribers", type=int, default=DEFAULT_SUBSCRIBERS, help="audience of each campaign run")
    args = parser.parse_args(argv)
    complete = build(args.subscribers, args.out, lambda line: print(f"make bench: {line}", file=sys.stderr, flush=True))
    print(f"wrote {args.out}" + ("" if complete else " (incomplete: see the sections that say so)"), file=sys.stderr)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
