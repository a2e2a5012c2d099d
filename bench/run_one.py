"""Run the workloads on one database kind and write their rows as JSON (called by bench/__main__.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from . import environment
from .common import Sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_one")
    parser.add_argument("--backend", required=True, choices=environment.BACKENDS)
    parser.add_argument("--json", required=True, help="file to write the rows to")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    parser.add_argument("--latency-ms", type=float, default=None, help="W9: delay added to every DynamoDB request")
    args = parser.parse_args(argv)

    environment.configure(args.backend)
    from .workloads import Bench

    sizes = Sizes.for_backend(args.backend, quick=args.quick)
    if args.latency_ms is not None:
        sizes = dataclasses.replace(sizes, scale_latency_ms=args.latency_ms)
    only = [name.strip().upper() for name in args.only.split(",") if name.strip()]
    try:
        bench = Bench(args.backend, sizes, only)
        try:
            rows = bench.run()
        finally:
            bench.close()
    finally:
        environment.teardown(args.backend)
    with open(args.json, "w") as out:
        json.dump([row.as_json() for row in rows], out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
