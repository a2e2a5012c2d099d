"""A subscription worker in a process of its own: `python -m tests.eventstore.subscription_worker JSON`.

JSON: {"lease": seconds, "batch_size": n, "pace": seconds each event takes, "block_at": position,
"stall_at": position, "args": [run_subscriptions arguments]}. It registers two subscriptions recording each delivery in
testapp's Delivered table with this process's pid: "plain" (at least once: the row commits at once) and
"effectively_once" (transactional: the row commits with the checkpoint). The plain handler, having
recorded the event at `block_at`, hangs there (for a SIGKILL to find it in the middle of a batch); at
`stall_at`, before recording it, it stops its own process (SIGSTOP: a frozen VM, a long pause) until the
test sends SIGCONT.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    import eventstore
    from tests.testapp.models import Delivered

    task = json.loads(sys.argv[1])
    settings.EVENTSTORE = {
        **settings.EVENTSTORE,
        "SUBSCRIPTION_LEASE_SECONDS": task["lease"],
        "SUBSCRIPTION_HEARTBEAT_SECONDS": task["lease"] / 4,
        "SUBSCRIPTION_POLL_SECONDS": 0.05,
    }

    def recorder(name: str):
        def handle(delivery: eventstore.Delivery) -> None:
            if name == "plain" and delivery.position == task.get("stall_at"):
                os.kill(os.getpid(), signal.SIGSTOP)  # outside any transaction: other workers can write meanwhile
            Delivered.record(delivery)
            time.sleep(task.get("pace", 0))
            if name == "plain" and delivery.position == task.get("block_at"):
                time.sleep(3600)  # hung in the middle of a batch, until the test kills the process

        return handle

    for name, transactional in (("plain", False), ("effectively_once", True)):
        eventstore.register_subscription(
            name, recorder(name), batch_size=task.get("batch_size", 10), transactional=transactional
        )
    # Only these two: apps of the project register subscriptions of their own (the demo's receipts).
    only = ["--subscription", "plain", "--subscription", "effectively_once"]
    call_command("run_subscriptions", *only, *task.get("args", []), "-v", "2")


if __name__ == "__main__":
    main()
