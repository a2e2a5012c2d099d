"""The account_summary projection: one AccountSummary row per account, folded from the account's events."""

from __future__ import annotations

from uuid import UUID

from eventstore import store
from eventstore.backends.base import StoredEvent
from eventstore.events import registry
from eventstore.projections import ModelProjection, Row

from .domain import AccountClosed, AccountOpened, MoneyDeposited, MoneyWithdrawn
from .models import AccountSummary


class AccountSummaryProjection(ModelProjection):
    """Keep AccountSummary: owner, status, balances, transactions, version and last change of every account."""

    name = "account_summary"
    handles = frozenset(cls.event_name for cls in (AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed))
    model = AccountSummary

    def key(self, event: StoredEvent) -> UUID:
        return event.aggregate_uuid

    def fold(self, row: Row | None, event: StoredEvent) -> Row | None:
        if row is not None and event.version <= row["version"]:
            return row  # already applied (an inline run and a catch-up may both see it)
        applied = row["version"] if row is not None else 0
        if event.version != applied + 1:
            row = self._fill_gap(row, event, applied)
        return self._apply(row, event)

    def _fill_gap(self, row: Row | None, event: StoredEvent, applied: int) -> Row | None:
        """Fold the events between the row and `event`, read from the stream.

        A backend outside the Django database (DynamoDB) may run the inline receivers of two racing
        appends out of order. The earlier events are stored: the later append was conditioned on them.
        """
        missing = list(
            store.get_backend().read_stream(
                event.aggregate_uuid, from_version=applied + 1, to_version=event.version - 1
            )
        )
        if [m.version for m in missing] != list(range(applied + 1, event.version)):
            raise ValueError(f"version {event.version} follows version {applied}: events are missing")
        for earlier in missing:
            row = self._apply(row, earlier)
        return row

    def _apply(self, row: Row | None, event: StoredEvent) -> Row | None:
        # Decoding upcasts old payloads (MoneyDeposited schema 1) exactly as the aggregate sees them.
        fact = registry.decode(event.name, event.schema_version, event.data, event.aggregate_uuid, event.version)
        if isinstance(fact, AccountOpened):
            row = {
                "uuid": event.aggregate_uuid,
                "owner": fact.owner,
                "status": AccountSummary.OPEN,
                "balances": {},
                "transactions": 0,
                "opened_at": event.recorded_at,
            }
        elif row is None:
            raise ValueError(f"{event.name} before AccountOpened: the account has no summary yet")
        balances = dict(row["balances"])
        transactions = row["transactions"]
        if isinstance(fact, MoneyDeposited):
            balances[fact.currency] = balances.get(fact.currency, 0) + fact.amount
            transactions += 1
        elif isinstance(fact, MoneyWithdrawn):
            left = balances.get(fact.currency, 0) - fact.amount
            if left:
                balances[fact.currency] = left
            else:
                balances.pop(fact.currency, None)
            transactions += 1
        elif isinstance(fact, AccountClosed):
            row = {**row, "status": AccountSummary.CLOSED}
        return {
            **row,
            "balances": balances,
            "transactions": transactions,
            "version": event.version,
            "updated_at": event.recorded_at,
        }
