"""DynamoDB write capacity units (WCU) estimated from the requests botocore sends, and the partitions they land on.

DynamoDB on demand bills, and a partition is limited by, write units; moto does not compute them, so the bench
estimates them from each write request as DynamoDB documents its arithmetic:

- An item's size is the sum of its attribute names and values (CapacityUnitCalculations: UTF-8 bytes of name and
  string, about one byte per two significant digits plus one for a number, raw bytes for binary, one byte for a
  boolean or null, three bytes plus one per element for a list or map).
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
- One write unit per started 1 KB of item: PutItem, UpdateItem and DeleteItem, and each put or delete inside a
  BatchWriteItem, cost ceil(size / 1 KB), at least 1. For an update DynamoDB charges the larger of the item
  before and after; for a delete the size of the deleted item.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html#write-operation-consumption
- Inside TransactWriteItems each action costs two underlying writes (prepare and commit), so twice the units;
  a ConditionCheck is charged like a write of the checked item.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling
- One partition takes at most 1,000 write units per second, whatever the table's capacity.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html

Where the request does not carry the whole item (Update, Delete, ConditionCheck), the size is the item's as stored
in moto when the run ends (`settle`), or, for an item gone by then, estimated from the request (its key plus every
value the update sets); `Writes.sized_from` says how many of each. Not modelled: global secondary index writes (an
item carrying an index's key costs the index a write too), and conditional writes that failed (they cost the same
units; they are rare in these runs and counted like the others, since the request was sent).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

KB = 1024
PARTITION_WCU_PER_SECOND = 1000  # DynamoDB's per-partition write throughput limit
TRANSACTION_FACTOR = 2  # prepare + commit

PUT, UPDATE, DELETE, CHECK = "Put", "Update", "Delete", "ConditionCheck"
FROM_REQUEST, FROM_STORED = "request", "stored item"

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]


def _number_size(text: str) -> int:
    digits: tuple[int, ...]
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        digits = tuple(int(c) for c in text if c.isdigit())
    significant = len(digits) if any(digits) else 1
    return math.ceil(significant / 2) + 1


def value_size(value: AttributeValue) -> int:
    """Bytes of one attribute value (without its name), by DynamoDB's documented sizing."""
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return _number_size(str(data))
    if kind == "B":
        return len(data) if isinstance(data, bytes | bytearray) else len(str(data).encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in data)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in data)
    if kind == "BS":
        return sum(len(b) if isinstance(b, bytes | bytearray) else len(str(b).encode()) for b in data)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item) -> int:
    """Bytes of an item: the sum of its attribute names and values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Write units for one write of an item of ``size`` bytes: one per started KB, at least one."""
    return max(1, math.ceil(size / KB))


def update_estimate(key: Item, params: Mapping[str, Any]) -> int:
    """The size of an updated item as far as the request tells: its key plus every value the expression uses."""
    values: Mapping[str, AttributeValue] = params.get("ExpressionAttributeValues") or {}
    names: Mapping[str, str] = params.get("ExpressionAttributeNames") or {}
    return item_size(key) + sum(value_size(v) for v in values.values()) + sum(len(n.encode()) for n in names.values())


@dataclass(frozen=True)
class Write:
    """One item write as sent: which table and item, how, and what the request alone says about its size."""

    who: str
    operation: str  # the API operation: PutItem, TransactWriteItems, BatchWriteItem...
    action: str  # Put, Update, Delete or ConditionCheck
    table: str
    item: Item  # the whole item for a Put, the key otherwise
    request_size: int
    factor: int  # 2 inside a transaction

    def key(self, key_names: Iterable[str]) -> str:
        """The item's primary key, canonical, so two writes of one item compare equal."""
        return json.dumps({name: self.item.get(name) for name in key_names}, sort_keys=True, default=str)


def writes_of(who: str, operation: str, params: Mapping[str, Any], table_name: Callable[[str], str] = str) -> list[Write]:
    """The item writes one DynamoDB request makes (empty for reads). ``table_name`` maps a table to its report name."""

    def single(action: str, op: Mapping[str, Any], factor: int) -> Write:
        table = table_name(str(op["TableName"]))
        if action == PUT:
            item = op["Item"]
            return Write(who, operation, action, table, item, item_size(item), factor)
        key = op["Key"]
        size = update_estimate(key, op) if action == UPDATE else item_size(key)
        return Write(who, operation, action, table, key, size, factor)

    if operation == "PutItem":
        return [single(PUT, params, 1)]
    if operation == "UpdateItem":
        return [single(UPDATE, params, 1)]
    if operation == "DeleteItem":
        return [single(DELETE, params, 1)]
    if operation == "TransactWriteItems":
        found = []
        for entry in params.get("TransactItems") or []:
            for action, op in entry.items():
                found.append(single(action, op, TRANSACTION_FACTOR))
        return found
    if operation == "BatchWriteItem":
        found = []
        for table, requests in (params.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    found.append(single(PUT, {"TableName": table, **request["PutRequest"]}, 1))
                if "DeleteRequest" in request:
                    found.append(single(DELETE, {"TableName": table, **request["DeleteRequest"]}, 1))
        return found
    return []


@dataclass(frozen=True)
class KeySchema:
    """A table's key attribute names: partition key first, then the sort key if any."""

    partition: str
    sort: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The primary key's attribute names."""
        return (self.partition,) if self.sort is None else (self.partition, self.sort)


@dataclass(frozen=True)
class ShardFamily:
    """Partition keys that spread one thing (a campaign's ledger, its gates, a shop's totals...) over ``shards`` keys
    by a hash: ``pattern`` matches a key of the family and its group ``family`` is the key without its shard part.

    A sample of a few hundred recipients puts uneven numbers of them on each shard (294 over 128 ledger shards: 0
    to 8 each), which says nothing about the load at scale, where the hash spreads them evenly: a family is judged
    at its expected per-shard load, the family's total over ``shards``."""

    table: str
    pattern: str
    shards: int
    shown: str  # how the shard part is written in a report: ``#<000..127>``

    def family_of(self, table: str, key: str) -> str | None:
        """The family name of ``key`` in ``table`` (None: not one of this family's keys)."""
        if table != self.table:
            return None
        found = re.fullmatch(self.pattern, key)
        return found.group("family") if found else None


def _scalar(value: AttributeValue | None) -> str:
    if not value:
        return "?"
    (_, data), *_ = value.items()
    return str(data)


@dataclass
class Writes:
    """Every item write of a run; priced once the stored items are known (`settle`)."""

    writes: list[Write] = field(default_factory=list)
    units: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # (who, operation, action, table)
    partitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (who, table, partition key value)
    # The part of ``partitions`` written once per campaign whatever its audience (creating and starting it): a sample
    # of a few hundred recipients would otherwise scale it on paper as if every recipient wrote its share.
    once: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    sized_from: Counter[str] = field(default_factory=Counter)
    _once_writes: set[int] = field(default_factory=set)

    def record(
        self, who: str, operation: str, params: Mapping[str, Any], table_name: Callable[[str], str] = str, *, once: bool = False
    ) -> None:
        """Keep the item writes of one request; ``once``: a write made once per campaign, not per recipient."""
        found = writes_of(who, operation, params, table_name)
        if once:
            self._once_writes.update(range(len(self.writes), len(self.writes) + len(found)))
        self.writes.extend(found)

    def settle(self, schemas: Mapping[str, KeySchema], stored_sizes: Mapping[tuple[str, str], int]) -> None:
        """Price every write: a Put by its item, the others by the stored item's size (request estimate if gone)."""
        self.units.clear()
        self.partitions.clear()
        self.once.clear()
        self.sized_from.clear()
        for index, write in enumerate(self.writes):
            schema = schemas.get(write.table)
            stored = stored_sizes.get((write.table, write.key(schema.names))) if schema else None
            if write.action == PUT:
                size, source = write.request_size, FROM_REQUEST
            elif stored is not None:
                size, source = max(stored, write.request_size if write.action == UPDATE else 0), FROM_STORED
            else:
                size, source = write.request_size, FROM_REQUEST
            units = write_units(size) * write.factor
            self.sized_from[source] += 1
            self.units[(write.who, write.operation, write.action, write.table)] += units
            partition = _scalar(write.item.get(schema.partition)) if schema else "?"
            self.partitions[(write.who, write.table, partition)] += units
            if index in self._once_writes:
                self.once[(write.who, write.table, partition)] += units

    def total(self, who: str | None = None) -> int:
        """Write units of ``who`` (None: everyone)."""
        return sum(n for (w, *_), n in self.units.items() if who is None or w == who)

    def hottest(self, who: str, n: int, *, outside: Iterable[ShardFamily] = ()) -> list[tuple[str, str, int]]:
        """The ``n`` partitions of ``who`` that took the most units: (table, partition key value, units); with
        ``outside``, only keys of none of those families (a family's keys are judged together, see ``families``)."""
        families = tuple(outside)
        mine = [
            (table, key, units)
            for (w, table, key), units in self.partitions.items()
            if w == who and not any(family.family_of(table, key) is not None for family in families)
        ]
        return sorted(mine, key=lambda row: (-row[2], row[0], row[1]))[:n]

    def families(self, who: str, families: Iterable[ShardFamily]) -> list[tuple[str, str, int, int, int, int]]:
        """The units ``who`` wrote to each family of sharded keys: (table, family name with its shard part shown,
        units over all its keys, its shard count, how many of its keys were written, the units of them written once
        per campaign), most units per shard first."""
        found: dict[tuple[str, str], list[int]] = {}
        shards: dict[tuple[str, str], int] = {}
        for (w, table, key), units in self.partitions.items():
            if w != who:
                continue
            for family in families:
                name = family.family_of(table, key)
                if name is not None:
                    entry = found.setdefault((table, name + family.shown), [0, 0, 0])
                    entry[0] += units
                    entry[1] += 1
                    entry[2] += self.once[(w, table, key)]
                    shards[(table, name + family.shown)] = family.shards
                    break
        rows = [(table, name, units, shards[(table, name)], seen, once) for (table, name), (units, seen, once) in found.items()]
        return sorted(rows, key=lambda row: (-row[2] / row[3], row[0], row[1]))

    def as_dict(self, hottest: int = 25, families: Iterable[ShardFamily] = ()) -> dict[str, Any]:
        """The priced writes, JSON-ready: totals by (who, operation, action, table), the hottest partitions, and the
        units per family of sharded keys (see ``ShardFamily``)."""
        whos = sorted({who for who, *_ in self.partitions})
        families = tuple(families)
        return {
            "total": self.total(),
            "units": {":".join(k): n for k, n in sorted(self.units.items())},
            "partitions": {who: [list(row) for row in self.hottest(who, hottest)] for who in whos},
            "families": {who: [list(row) for row in self.families(who, families)] for who in whos},
            # The hottest keys outside every family: one campaign's few writes to a single key (its row, say) rank
            # below a sampled ledger shard's but scale like any shared key's on paper, so they must not be cut off.
            "unsharded": {
                who: [[*row, self.once[(who, row[0], row[1])]] for row in self.hottest(who, hottest, outside=families)]
                for who in whos
            },
            "distinct_partitions": {who: sum(1 for w, *_ in self.partitions if w == who) for who in whos},
            "sized_from": dict(sorted(self.sized_from.items())),
        }


def stored_sizes_of(tables: Mapping[str, tuple[KeySchema, Iterable[Item]]]) -> dict[tuple[str, str], int]:
    """(table, canonical key) -> item size, from every stored item of the given tables."""
    sizes: dict[tuple[str, str], int] = {}
    for table, (schema, items) in tables.items():
        for item in items:
            key = json.dumps({name: item.get(name) for name in schema.names}, sort_keys=True, default=str)
            sizes[(table, key)] = item_size(item)
    return sizes


def scan_stored(client: Any, table_names: Mapping[str, str]) -> tuple[dict[str, KeySchema], dict[tuple[str, str], int]]:
    """Key schemas and stored item sizes, read with ``client`` (a low-level DynamoDB client) from the tables named
    (report name -> real table name)."""
    schemas: dict[str, KeySchema] = {}
    tables: dict[str, tuple[KeySchema, list[Item]]] = {}
    for name, real in table_names.items():
        described = client.describe_table(TableName=real)["Table"]["KeySchema"]
        hash_key = next(k["AttributeName"] for k in described if k["KeyType"] == "HASH")
        range_key = next((k["AttributeName"] for k in described if k["KeyType"] == "RANGE"), None)
        schema = KeySchema(hash_key, range_key)
        items: list[Item] = []
        for page in client.get_paginator("scan").paginate(TableName=real):
            items.extend(page.get("Items", []))
        schemas[name] = schema
        tables[name] = (schema, items)
    return schemas, stored_sizes_of(tables)
