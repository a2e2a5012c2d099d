"""A separate process that appends through the configured backend: `python -m tests.dynamodb.append_worker JSON`.

JSON: {"stream": uuid, "expected": version, "appends": n, "events": k, "start_at": epoch seconds}. Waits
until start_at (so that all workers start together), appends n times k events, expecting `expected`,
then `expected + k`, ..., and prints one JSON line per append: {"positions": [...]} or {"conflict": actual}.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from eventstore.backends.base import NewEvent
    from eventstore.exceptions import ConcurrencyError
    from eventstore.store import get_backend

    task = json.loads(sys.argv[1])
    backend = get_backend()
    stream, expected = uuid.UUID(task["stream"]), task["expected"]
    time.sleep(max(0.0, task["start_at"] - time.time()))
    for _ in range(task["appends"]):
        events = [NewEvent("Ticked", {"pid": os.getpid()}) for _ in range(task["events"])]
        try:
            stored = backend.append(stream, "Counter", expected, events)
        except ConcurrencyError as exc:
            print(json.dumps({"conflict": exc.actual_version}), flush=True)
            return
        print(json.dumps({"positions": [e.position for e in stored]}), flush=True)
        expected += len(events)


if __name__ == "__main__":
    main()
