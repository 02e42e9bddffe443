"""`python -m devstack.moto_main`: moto's server, with its DynamoDB transactions made affordable and isolated.

moto backs up a table before each TransactWriteItems so it can roll back, but it deep-copies the table once per
*item* of the transaction, not once per table. A send group's claim or settle is ~100 items over three or four
tables, so every one of them copied the send ledger and the thread lines about a hundred times: seconds per
transaction once a devstack has sent a few hundred messages, which ran campaigns past their send leases. This
copies each table once per transaction (the same backup, so the same rollback).

moto's rollback also puts whole tables back: a transaction that fails while another writer's item lands in the
same table erases that write (DynamoDB isolates transactions per item). devstack's workers run side by side, as
Lambda's do, and a delivery receipt refused on a claimed row fails often, so such a rollback could undo a send
group's settle. Every DynamoDB write here therefore holds one lock: each is atomic, as in DynamoDB, and a
rollback restores nothing but its own transaction's changes.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.server import main

_scope = threading.local()  # the copies made inside the transaction running on this thread


class _CopyOncePerTransaction:
    """Stands in for the ``copy`` module inside moto's DynamoDB models: inside a transaction, deep-copying the
    same table again returns its first copy; anything else (an item, another time) is ``copy`` itself."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj: Any, memo: dict[int, Any] | None = None) -> Any:
        made: dict[int, Any] | None = getattr(_scope, "made", None)
        if made is None or not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        if id(obj) not in made:  # the table lives on in the backend, so its id cannot be reused meanwhile
            made[id(obj)] = copy.deepcopy(obj, memo)
        return made[id(obj)]


_writes = threading.RLock()  # re-entrant: a batch write or a transaction calls the single-item writes


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    with _writes:
        _scope.made = {}
        try:
            _original(self, transact_items)
        finally:
            _scope.made = None


def _one_at_a_time(write: Callable[..., Any]) -> Callable[..., Any]:
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _writes:
            return write(*args, **kwargs)

    return locked


_original = DynamoDBBackend.transact_write_items
models.copy = _CopyOncePerTransaction()  # type: ignore[assignment]
DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
for _name in ("put_item", "update_item", "delete_item", "batch_write_item"):
    setattr(DynamoDBBackend, _name, _one_at_a_time(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main()
