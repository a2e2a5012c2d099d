"""Profile one workload's project side with pyinstrument and count its statements.

python -m bench.profile --backend postgresql W1      # prints the profile and the statements
python -m bench.profile --backend sqlite W1 --read-model   # with the inline cart read model, as the API runs
python -m bench.profile --backend postgresql W10    # a worker catching a no-op subscription up over 20,000 events
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext

from . import environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--backend", required=True, choices=environment.BACKENDS)
    parser.add_argument("workload", choices=["W1", "W2", "W3", "W4", "W6", "W10"])
    parser.add_argument("--html", help="also write the profile as HTML to this file")
    parser.add_argument(
        "--read-model",
        action="store_true",
        help="keep the inline cart read model on (the W1-W6 rows are measured without it, as the baselines keep none)",
    )
    args = parser.parse_args(argv)

    environment.configure(args.backend)
    from pyinstrument import Profiler

    from carts.repository import carts

    from . import ours
    from .common import item_name
    from .roundtrips import count_statements
    from .workloads import consume

    def one_save() -> object:
        cart = carts.save(ours.ShoppingCart.open())
        cart.add_item(item_name(1))
        return lambda: carts.save(cart)

    if args.workload == "W1":
        operation, run = one_save(), lambda: ours.single_saves(200, 10)
    elif args.workload == "W2":
        operation, run = (lambda: ours.batch_appends(1, 100)), (lambda: ours.batch_appends(50, 100))
    elif args.workload == "W3":
        stream = ours.write_stream(10_000)
        operation = run = lambda: [ours.load(stream) for _ in range(5)]
    elif args.workload == "W4":
        stream = ours.write_stream(10_000, snapshot_at=9_990)
        operation, run = (lambda: ours.load(stream)), (lambda: [ours.load(stream) for _ in range(500)])
    elif args.workload == "W10":
        import uuid

        from eventstore.subscriptions import Subscription
        from eventstore.worker import Worker

        from .subscriptions import noop, write_events

        write_events(20_000)

        def catch_up() -> object:  # a new subscription each time, from the beginning, default batch_size
            return Worker([Subscription(f"profile_{uuid.uuid4().hex[:8]}", noop)]).run(until_caught_up=True)

        operation = run = catch_up
    else:
        ours.write_stream(50_000)
        operation = run = lambda: consume(ours.read_all())

    with nullcontext() if args.read_model else ours.inline_projections_off():
        run()  # warm up
        statements = count_statements(operation)
        profiler = Profiler(interval=0.0005)
        with profiler:
            run()
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"statements per operation ({statements['count']}): {', '.join(statements['statements'][:20])}")
    if args.html:
        with open(args.html, "w") as out:
            out.write(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
