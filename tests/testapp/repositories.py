"""Where accounts are kept: registered, so that the admin's stream pages rebuild accounts with this repository."""

from eventstore.registry import register
from eventstore.repository import Repository

from .domain import Account

# A snapshot every hundred events: the tests' accounts are shorter, so saving them takes none unasked.
accounts: Repository[Account] = register(Repository(Account, snapshot_every=100))
