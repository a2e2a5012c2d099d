"""A bank account: its events, its rules and how its state follows from its history.

Small on purpose, yet it has what the event store's tests need: a nested state part by part
(a balance per currency, a currency leaving when its balance reaches zero), a rule that refuses
a command (no overdraft), a tombstone, snapshots and an event with an upcast older schema.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventstore.aggregates import Aggregate, on
from eventstore.events import Event, event, upcaster

MAX_OWNER_LENGTH = 100


class AccountRuleViolation(ValueError):
    """A command broke one of the account's rules; nothing was recorded."""


class InvalidAmount(AccountRuleViolation):
    """The amount is not a positive whole number."""


class InvalidCurrency(AccountRuleViolation):
    """The currency is not three capital letters."""


class InvalidOwner(AccountRuleViolation):
    """The owner's name is empty or too long."""


class InsufficientFunds(AccountRuleViolation):
    """A withdrawal would take the balance below zero."""


@event("AccountOpened")
class AccountOpened(Event):
    owner: str


@event("MoneyDeposited", schema_version=2)
class MoneyDeposited(Event):
    amount: int
    currency: str


@upcaster("MoneyDeposited", from_version=1)
def money_deposited_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 ({amount}) predates currencies: every deposit was in euros."""
    return {"amount": data["amount"], "currency": "EUR"}


@event("MoneyWithdrawn")
class MoneyWithdrawn(Event):
    amount: int
    currency: str


@event("AccountClosed")
class AccountClosed(Event):
    pass


class Account(Aggregate):
    aggregate_type = "Account"
    tombstone = AccountClosed

    def __init__(self, uuid: UUID | None = None) -> None:
        super().__init__(uuid)
        self.owner = ""
        self.balances: dict[str, int] = {}

    # Commands

    @classmethod
    def open(cls, owner: str, uuid: UUID | None = None) -> Account:
        if not isinstance(owner, str) or not owner.strip() or len(owner) > MAX_OWNER_LENGTH:
            raise InvalidOwner(f"An owner needs a name of 1 to {MAX_OWNER_LENGTH} characters, not {owner!r}.")
        account = cls(uuid)
        account.record(AccountOpened(owner=owner))
        return account

    def deposit(self, amount: int, currency: str = "EUR") -> None:
        self.record(MoneyDeposited(amount=validate_amount(amount), currency=validate_currency(currency)))

    def withdraw(self, amount: int, currency: str = "EUR") -> None:
        amount, currency = validate_amount(amount), validate_currency(currency)
        balance = self.balances.get(currency, 0)
        if amount > balance:
            raise InsufficientFunds(f"Cannot withdraw {amount} {currency}: the balance is {balance}.")
        self.record(MoneyWithdrawn(amount=amount, currency=currency))

    def close(self) -> None:
        self.record(AccountClosed())

    # State

    @property
    def status(self) -> str:
        return "closed" if self.closed else "open"

    def get_state(self) -> dict[str, Any]:
        return {"status": self.status, "owner": self.owner, "balances": dict(self.balances)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.owner = state["owner"]
        self.balances = dict(state["balances"])

    @on(AccountOpened)
    def _opened(self, event: AccountOpened) -> None:
        self.owner = event.owner
        self.balances = {}

    @on(MoneyDeposited)
    def _deposited(self, event: MoneyDeposited) -> None:
        self.balances[event.currency] = self.balances.get(event.currency, 0) + event.amount

    @on(MoneyWithdrawn)
    def _withdrawn(self, event: MoneyWithdrawn) -> None:
        left = self.balances.get(event.currency, 0) - event.amount
        if left:
            self.balances[event.currency] = left
        else:
            self.balances.pop(event.currency, None)  # a currency leaves the account with its last unit

    @on(AccountClosed)
    def _closed(self, event: AccountClosed) -> None:
        pass


def validate_amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise InvalidAmount(f"An amount is a whole number of at least 1, not {amount!r}.")
    return amount


def validate_currency(currency: object) -> str:
    """Return the currency code, or raise InvalidCurrency unless it is three capital letters (EUR)."""
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii() and currency.isalpha()):
        raise InvalidCurrency(f"A currency is three capital letters, not {currency!r}.")
    if not currency.isupper():
        raise InvalidCurrency(f"A currency is three capital letters, not {currency!r}.")
    return currency
