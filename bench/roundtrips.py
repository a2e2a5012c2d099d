"""Count the statements one operation sends to the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection

from eventstore import store


def count_statements(operation: Callable[[], object]) -> dict[str, Any]:
    """Return how many statements `operation` sent and their leading words, COMMIT included.

    On the DynamoDB backend its calls count too ("DynamoDB TransactWriteItems"), seen through the
    backend client's botocore before-call event, in order with Django's statements.

    Django's execute_wrapper sees every statement a cursor runs (SAVEPOINTs too); the commit
    goes through the driver's own call, and PostgreSQL's BEGIN is sent by psycopg itself, so
    those are counted by watching the connection's transaction state instead.
    """
    seen: list[str] = []

    def watch(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(" ".join(sql.split()[:2])[:40])
        return execute(sql, params, many, context)

    def watch_dynamodb(model: Any, **kwargs: Any) -> None:
        seen.append(f"DynamoDB {model.name}")

    client = getattr(store.get_backend(), "client", None)
    if client is not None:
        client.meta.events.register("before-call.dynamodb", watch_dynamodb, unique_id="bench-count")
    commits = _CommitCounter()
    try:
        with connection.execute_wrapper(watch), commits:
            operation()
    finally:
        if client is not None:
            client.meta.events.unregister("before-call.dynamodb", unique_id="bench-count")
    if connection.vendor == "postgresql":
        # psycopg opens each transaction with its own BEGIN round trip.
        seen = ["BEGIN"] * commits.count + seen
    seen += ["COMMIT"] * commits.count
    return {"count": len(seen), "statements": seen}


class _CommitCounter:
    """Count commits of the default connection while active."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> _CommitCounter:
        connection.ensure_connection()
        self._original = connection.commit

        def commit() -> None:
            self.count += 1
            self._original()

        connection.commit = commit  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del connection.commit
