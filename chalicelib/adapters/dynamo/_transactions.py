"""A TransactWrite whose items carry labels, so a cancellation can say which condition failed.

DynamoDB reports cancellation reasons one per item, in the order the items were sent; PynamoDB sends
condition checks, then deletes, then puts, then updates. Labelling each item here keeps that mapping in
one place so repositories never read error message text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import TransientError

_CANCELLED = "TransactionCanceledException"


_Op = Callable[[TransactWrite], None]


class TransactionCancelled(Exception):
    """DynamoDB cancelled the transaction; ``failed`` names the items whose condition failed."""

    def __init__(self, failed: frozenset[str], conflicted: frozenset[str]) -> None:
        super().__init__(f"transaction cancelled: conditions failed {sorted(failed)}, conflicts {sorted(conflicted)}")
        self.failed = failed
        self.conflicted = conflicted  # another transaction was writing the same item at the same moment


class LabelledTransaction:
    """Collect labelled writes, then commit them all-or-nothing."""

    def __init__(self, client_request_token: str | None = None) -> None:
        self._ops: dict[str, list[tuple[str, _Op]]] = {"check": [], "delete": [], "put": [], "update": []}
        self._connection_of: type[Model] | None = None
        # With a token, botocore's own retry of a request whose response was lost is answered by DynamoDB
        # as the same transaction (idempotent for 10 minutes) instead of running it again and failing its
        # conditions against its own writes.
        self._client_request_token = client_request_token

    def __len__(self) -> int:
        return sum(len(ops) for ops in self._ops.values())

    def _add(self, kind: str, label: str, model_cls: type[Model], op: _Op) -> None:
        self._connection_of = self._connection_of or model_cls
        self._ops[kind].append((label, op))

    def condition_check(
        self, label: str, model_cls: type[Model], hash_key: Any, condition: Condition, range_key: Any = None
    ) -> None:
        """Require ``condition`` on an item without writing it."""
        self._add("check", label, model_cls, lambda tx: tx.condition_check(model_cls, hash_key, range_key, condition=condition))

    def put(self, label: str, item: Model, condition: Condition | None = None) -> None:
        """Write the whole item."""
        self._add("put", label, type(item), lambda tx: tx.save(item, condition=condition))

    def update(self, label: str, item: Model, actions: list[Action], condition: Condition | None = None) -> None:
        """Apply update actions to the item."""
        self._add("update", label, type(item), lambda tx: tx.update(item, actions, condition=condition))

    def delete(self, label: str, item: Model, condition: Condition | None = None) -> None:
        """Delete the item."""
        self._add("delete", label, type(item), lambda tx: tx.delete(item, condition=condition))

    def commit(self) -> None:
        """Write everything or nothing; TransactionCancelled says which labelled items were the reason."""
        if self._connection_of is None:
            return
        ordered = [entry for kind in ("check", "delete", "put", "update") for entry in self._ops[kind]]
        try:
            connection = self._connection_of._get_connection().connection
            with TransactWrite(connection=connection, client_request_token=self._client_request_token) as tx:
                for _, op in ordered:
                    op(tx)
        except TransactWriteError as exc:
            if exc.cause_response_code != _CANCELLED:
                raise
            codes = {label: reason.code for (label, _), reason in zip(ordered, exc.cancellation_reasons, strict=False) if reason}
            failed = frozenset(label for label, code in codes.items() if code == "ConditionalCheckFailed")
            conflicted = frozenset(label for label, code in codes.items() if code == "TransactionConflict")
            if not failed and not conflicted:
                raise  # throttling, validation, ...: not something a caller can act on
            raise TransactionCancelled(failed, conflicted) from exc


# DynamoDB cancels a transaction that touches an item another transaction is writing at that moment (a busy
# campaign row takes every finish). A few short retries absorb that; after them the caller gets
# TransientError and the message is retried later by its queue.
CONFLICT_RETRIES = 5
CONFLICT_BACKOFF_SECONDS = 0.02


def commit_with_retries(
    build: Callable[[LabelledTransaction], None],
    *,
    sleep: Callable[[float], None],
    busy: str,
) -> frozenset[str]:
    """Commit the transaction ``build`` fills; return the labels whose conditions failed (empty: committed).

    A fresh client request token per attempt makes botocore's own retries of that attempt idempotent, so a
    lost response never turns our own successful claim into a 'taken'."""
    for attempt in range(CONFLICT_RETRIES):
        tx = LabelledTransaction(client_request_token=uuid.uuid4().hex)
        build(tx)
        try:
            tx.commit()
        except TransactionCancelled as exc:
            if exc.failed:
                return exc.failed
            sleep(CONFLICT_BACKOFF_SECONDS * (attempt + 1))
            continue
        return frozenset()
    raise TransientError(busy)
