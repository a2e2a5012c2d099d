"""Run with `manage.py shell -c`: open an account, save it over 12 events (one save each), load it back.

Prints one JSON line for the test to check; asserts here too, so a wrong result exits non-zero.
"""

import json

from django.utils import timezone
from ledger.repositories import accounts

import eventstore

account = accounts.create_new()
account.open("Ada Lovelace")
accounts.save(account)
for amount in (100, 200, 300, 400, 500, 600, 700, 800, 900, 1000):
    account = accounts.get_or_raise(account.uuid)
    account.deposit(amount)
    accounts.save(account)
account = accounts.get_or_raise(account.uuid)
account.withdraw(1234)
accounts.save(account)

loaded = accounts.load(account.uuid)
# Time travel to now replays every event, ignoring snapshots: it must agree with the snapshot-based load.
replayed = accounts.load(account.uuid, as_of=timezone.now())
snapshot = eventstore.get_backend().get_snapshot(account.uuid)
result = {
    "eventstore": eventstore.__file__,
    "uuid": str(account.uuid),
    "version": loaded.version,
    "state": loaded.get_state(),
    "replayed_state": replayed.get_state(),
    "snapshot_version": snapshot.version if snapshot else None,
    "snapshot_state": snapshot.state if snapshot else None,
}
assert result["version"] == 12, result
assert result["state"] == {"owner": "Ada Lovelace", "balance": 4266}, result
assert result["replayed_state"] == result["state"], result
assert result["snapshot_version"] == 10, result
print(json.dumps(result))
