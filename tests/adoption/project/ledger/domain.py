"""A bank account, event-sourced: the aggregate a new project writes on top of django-eventstore."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventstore import Aggregate, Event, event, on


@event("AccountOpened")
class AccountOpened(Event):
    owner: str


@event("MoneyDeposited")
class MoneyDeposited(Event):
    amount: int


@event("MoneyWithdrawn")
class MoneyWithdrawn(Event):
    amount: int


@event("AccountClosed")
class AccountClosed(Event):
    pass


class Account(Aggregate):
    tombstone = AccountClosed

    def __init__(self, uuid: UUID | None = None) -> None:
        super().__init__(uuid)
        self.owner = ""
        self.balance = 0

    # Commands

    def open(self, owner: str) -> None:
        if self.version:
            raise ValueError("This account is already open.")
        self.record(AccountOpened(owner=owner))

    def deposit(self, amount: int) -> None:
        if amount <= 0:
            raise ValueError("Deposit a positive amount.")
        self.record(MoneyDeposited(amount=amount))

    def withdraw(self, amount: int) -> None:
        if not 0 < amount <= self.balance:
            raise ValueError(f"Cannot withdraw {amount} from a balance of {self.balance}.")
        self.record(MoneyWithdrawn(amount=amount))

    def close(self) -> None:
        self.record(AccountClosed())

    # State

    def get_state(self) -> dict[str, Any]:
        return {"owner": self.owner, "balance": self.balance}

    def set_state(self, state: dict[str, Any]) -> None:
        self.owner = state["owner"]
        self.balance = state["balance"]

    @on(AccountOpened)
    def _opened(self, event: AccountOpened) -> None:
        self.owner = event.owner

    @on(MoneyDeposited)
    def _deposited(self, event: MoneyDeposited) -> None:
        self.balance += event.amount

    @on(MoneyWithdrawn)
    def _withdrawn(self, event: MoneyWithdrawn) -> None:
        self.balance -= event.amount

    @on(AccountClosed)
    def _closed(self, event: AccountClosed) -> None:
        pass
