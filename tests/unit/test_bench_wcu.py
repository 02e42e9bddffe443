"""bench.wcu prices write requests by DynamoDB's documented arithmetic: sizes, 1 KB units, x2 in transactions."""

from __future__ import annotations

import json

from bench.wcu import (
    CHECK,
    FROM_REQUEST,
    FROM_STORED,
    KeySchema,
    ShardFamily,
    Writes,
    item_size,
    value_size,
    write_units,
    writes_of,
)

SCHEMAS = {"campaigns": KeySchema("shop_id", "campaign_id"), "ledger": KeySchema("campaign_key", "phone")}
CAMPAIGN_KEY = {"shop_id": {"S": "s1"}, "campaign_id": {"S": "c1"}}


def key_of(table: str, item: dict[str, dict[str, str]]) -> str:
    return json.dumps({name: item.get(name) for name in SCHEMAS[table].names}, sort_keys=True, default=str)


class TestSizes:
    def test_strings_and_names_count_their_utf8_bytes(self) -> None:
        assert item_size({"name": {"S": "abc"}}) == 4 + 3
        assert item_size({"é": {"S": "ü"}}) == 2 + 2

    def test_numbers_cost_a_byte_per_two_significant_digits_plus_one(self) -> None:
        assert value_size({"N": "12345"}) == 3 + 1
        assert value_size({"N": "1200"}) == 1 + 1  # trailing zeroes trimmed
        assert value_size({"N": "0"}) == 2

    def test_booleans_nulls_binary_lists_and_maps(self) -> None:
        assert value_size({"BOOL": True}) == value_size({"NULL": True}) == 1
        assert value_size({"B": b"\x00\x01\x02"}) == 3
        assert value_size({"L": [{"S": "ab"}, {"S": "c"}]}) == 3 + (2 + 1) + (1 + 1)
        assert value_size({"M": {"k": {"S": "v"}}}) == 3 + (1 + 1 + 1)
        assert value_size({"SS": ["ab", "c"]}) == 3


class TestUnits:
    def test_one_unit_per_started_kilobyte_and_never_less_than_one(self) -> None:
        assert [write_units(n) for n in (0, 1, 1024, 1025, 2048, 2049)] == [1, 1, 1, 2, 2, 3]

    def test_a_put_is_priced_by_its_item(self) -> None:
        writes = Writes()
        big = {**CAMPAIGN_KEY, "body": {"S": "x" * 1500}}
        writes.record("engine", "PutItem", {"TableName": "campaigns", "Item": big})
        writes.settle(SCHEMAS, {})
        assert writes.total() == 2
        assert writes.sized_from == {FROM_REQUEST: 1}
        assert writes.partitions[("engine", "campaigns", "s1")] == 2

    def test_every_action_of_a_transaction_costs_twice_condition_checks_included(self) -> None:
        request = {
            "TransactItems": [
                {"ConditionCheck": {"TableName": "campaigns", "Key": CAMPAIGN_KEY, "ConditionExpression": "#s = :s"}},
                {"Put": {"TableName": "ledger", "Item": {"campaign_key": {"S": "s1#c1"}, "phone": {"S": "+1"}}}},
                {
                    "Update": {
                        "TableName": "ledger",
                        "Key": {"campaign_key": {"S": "s1#c1"}, "phone": {"S": "+2"}},
                        "UpdateExpression": "SET #n = :n",
                        "ExpressionAttributeNames": {"#n": "state"},
                        "ExpressionAttributeValues": {":n": {"S": "sent"}},
                    }
                },
            ]
        }
        assert [w.action for w in writes_of("engine", "TransactWriteItems", request)] == [CHECK, "Put", "Update"]
        writes = Writes()
        writes.record("engine", "TransactWriteItems", request)
        writes.settle(SCHEMAS, {})

        assert writes.total() == 2 + 2 + 2
        assert writes.partitions[("engine", "ledger", "s1#c1")] == 4

    def test_an_update_is_priced_by_the_stored_item_when_it_is_known(self) -> None:
        update = {
            "TableName": "campaigns",
            "Key": CAMPAIGN_KEY,
            "UpdateExpression": "ADD #sent :one",
            "ExpressionAttributeNames": {"#sent": "sent"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
        writes = Writes()
        writes.record("engine", "UpdateItem", update)
        writes.settle(SCHEMAS, {("campaigns", key_of("campaigns", CAMPAIGN_KEY)): 3000})
        assert writes.total() == 3
        assert writes.sized_from == {FROM_STORED: 1}

        writes.settle(SCHEMAS, {})  # the item is gone: key plus values from the request
        assert writes.total() == 1
        assert writes.sized_from == {FROM_REQUEST: 1}

    def test_batch_writes_price_each_put_and_delete(self) -> None:
        request = {
            "RequestItems": {
                "ledger": [
                    {"PutRequest": {"Item": {"campaign_key": {"S": "k"}, "phone": {"S": "+1"}, "pad": {"S": "y" * 2000}}}},
                    {"DeleteRequest": {"Key": {"campaign_key": {"S": "k"}, "phone": {"S": "+2"}}}},
                ]
            }
        }
        writes = Writes()
        writes.record("engine", "BatchWriteItem", request)
        writes.settle(SCHEMAS, {})
        assert writes.total() == 2 + 1

    def test_reads_cost_no_write_units_and_table_names_are_mapped(self) -> None:
        assert writes_of("engine", "GetItem", {"TableName": "campaigns", "Key": CAMPAIGN_KEY}) == []
        (write,) = writes_of("engine", "PutItem", {"TableName": "bench-campaigns", "Item": CAMPAIGN_KEY}, lambda t: t[6:])
        assert write.table == "campaigns"


class TestShardFamilies:
    """Keys that spread one thing over N shards by a hash are judged together (family / N), not per sampled shard."""

    LEDGER = ShardFamily("ledger", r"(?P<family>[^#]+#[^#]+)#\d{3}", 128, "#<000..127>")

    def put(self, writes: Writes, shard: int, phone: str, *, once: bool = False) -> None:
        item = {"campaign_key": {"S": f"s1#c1#{shard:03d}"}, "phone": {"S": phone}}
        writes.record("engine", "PutItem", {"TableName": "ledger", "Item": item}, once=once)

    def test_a_family_sums_its_keys_and_knows_its_shard_count(self) -> None:
        writes = Writes()
        for n, shard in enumerate((1, 1, 1, 7, 9)):  # uneven, as a small sample is
            self.put(writes, shard, f"+{n}")
        writes.record("engine", "PutItem", {"TableName": "campaigns", "Item": CAMPAIGN_KEY}, once=True)
        writes.settle(SCHEMAS, {})

        assert writes.families("engine", [self.LEDGER]) == [("ledger", "s1#c1#<000..127>", 5, 128, 3, 0)]
        assert self.LEDGER.family_of("ledger", "s1#c1#001") == "s1#c1"
        assert self.LEDGER.family_of("ledger", "s1#c1") is None and self.LEDGER.family_of("campaigns", "s1#c1#001") is None
        # the keys outside every family, and what of them was written once per campaign
        assert writes.hottest("engine", 5, outside=[self.LEDGER]) == [("campaigns", "s1", 1)]
        assert writes.once[("engine", "campaigns", "s1")] == 1
        exported = writes.as_dict(families=[self.LEDGER])
        assert exported["families"]["engine"] == [["ledger", "s1#c1#<000..127>", 5, 128, 3, 0]]
        assert exported["unsharded"]["engine"] == [["campaigns", "s1", 1, 1]]

    def test_once_per_campaign_writes_are_counted_apart_in_their_family(self) -> None:
        writes = Writes()
        self.put(writes, 2, "+1", once=True)
        self.put(writes, 3, "+2")
        writes.settle(SCHEMAS, {})
        assert writes.families("engine", [self.LEDGER]) == [("ledger", "s1#c1#<000..127>", 2, 128, 2, 1)]
