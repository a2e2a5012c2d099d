"""The ledger's registrations with the event store (imported at startup: eventstore autodiscovers them)."""

import eventstore

from .domain import Account

accounts = eventstore.register(Account, snapshot_every=5)
