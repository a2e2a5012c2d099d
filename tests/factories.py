"""factory-boy factories for events, streams and accounts (the test domain, tests/testapp)."""

from __future__ import annotations

import uuid
from typing import Any

import factory

from eventstore import store
from eventstore.backends.base import NewEvent, StoredEvent
from tests.testapp.domain import Account
from tests.testapp.repositories import accounts


class NewEventFactory(factory.Factory):
    """A MoneyDeposited-shaped event ready to append."""

    class Meta:
        model = NewEvent

    name = "MoneyDeposited"
    schema_version = 2
    data = factory.Sequence(lambda n: {"amount": n + 1, "currency": "EUR"})
    metadata = factory.LazyFunction(dict)
    event_uuid = factory.LazyFunction(uuid.uuid4)


def append_stream(
    events: int = 3, *, aggregate_uuid: uuid.UUID | None = None, aggregate_type: str = "Account", **kwargs: Any
) -> list[StoredEvent]:
    """Append a stream of `events` generic events through the configured backend and return them."""
    aggregate_uuid = aggregate_uuid or uuid.uuid4()
    backend = store.get_backend()
    return backend.append(
        aggregate_uuid,
        aggregate_type,
        backend.get_version(aggregate_uuid),
        NewEventFactory.build_batch(events),
        **kwargs,
    )


class AccountFactory(factory.Factory):
    """A saved Account of `owner`; `deposits` lists amounts in euros or (amount, currency) pairs; `closed` closes it."""

    class Meta:
        model = Account

    uuid = factory.LazyFunction(uuid.uuid4)
    owner = "ann"

    @classmethod
    def _create(cls, model_class: type[Account], *args: Any, **kwargs: Any) -> Account:
        deposits = kwargs.pop("deposits", [10])
        closed = kwargs.pop("closed", False)
        account = model_class.open(kwargs["owner"], kwargs["uuid"])
        for deposit in deposits:
            amount, currency = deposit if isinstance(deposit, tuple) else (deposit, "EUR")
            account.deposit(amount, currency)
        if closed:
            account.close()
        return accounts.save(account)
