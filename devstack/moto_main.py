"""`python -m devstack.moto_main`: moto's server, with its DynamoDB transactions made affordable.

moto backs up a table before each TransactWriteItems so it can roll back, but it deep-copies the table once per
*item* of the transaction, not once per table. A send group's claim or settle is ~100 items over three or four
tables, so every one of them copied the send ledger and the thread lines about a hundred times: seconds per
transaction once a devstack has sent a few hundred messages, which ran campaigns past their send leases. This
copies each table once per transaction (the same backup, so the same rollback) and then runs moto unchanged.
"""

from __future__ import annotations

import copy
import threading
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


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    _scope.made = {}
    try:
        _original(self, transact_items)
    finally:
        _scope.made = None


_original = DynamoDBBackend.transact_write_items
models.copy = _CopyOncePerTransaction()  # type: ignore[assignment]
DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
