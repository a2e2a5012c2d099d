"""W11's worker process: `manage.py run_subscriptions --subscription NAME`, with NAME registered first.

    python -m bench.subscriber --name bench_delay_x --out var/bench/x.txt [--poll 0.1]

Django is set up from the environment the benchmark left (the same databases). The subscription starts
at the head ("now"); its handler appends "stream version received_at recorded_at" to --out (wall clock,
seconds) for each event it receives. SIGTERM stops the command as in production.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.subscriber")
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--poll", type=float, help="SUBSCRIPTION_POLL_SECONDS (default: the setting's)")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    import eventstore

    if args.poll is not None:
        settings.EVENTSTORE = {**settings.EVENTSTORE, "SUBSCRIPTION_POLL_SECONDS": args.poll}

    with open(args.out, "a", buffering=1) as out:

        def record(delivery: eventstore.Delivery) -> None:
            received = time.time()
            out.write(
                f"{delivery.aggregate_uuid} {delivery.version} {received!r} {delivery.recorded_at.timestamp()!r}\n"
            )

        eventstore.register_subscription(eventstore.Subscription(args.name, record, start="now"))
        call_command("run_subscriptions", subscription=[args.name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
