"""Run the benchmark on each database, print the table and write bench/results/latest.json.

The databases: SQLite and PostgreSQL, and DynamoDB when AWS_ENDPOINT_URL_DYNAMODB is set.

    python -m bench                 # the issue's sizes, every database (about 18 minutes with W7-W11)
    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 python -m bench --backends dynamodb
    python -m bench --quick         # smaller sizes, for a first look
    python -m bench --backends sqlite --only W1,W3
    python -m bench --quick --only W9 --backends postgresql,dynamodb --output bench/results/w9.json

Each database runs in its own process (Django's settings are per process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import environment, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--backends",
        default=",".join(environment.default_backends()),
        help=f"comma-separated, of {', '.join(environment.BACKENDS)}; dynamodb needs {environment.DYNAMODB_ENDPOINT}",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (not the issue's)")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    parser.add_argument("--output", type=Path, default=report.RESULTS / "latest.json")
    parser.add_argument(
        "--latency-ms", type=float, default=None, help="W9: delay added to every DynamoDB request (default 10)"
    )
    args = parser.parse_args(argv)

    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - set(environment.BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(sorted(unknown))}; choose from {', '.join(environment.BACKENDS)}")
    if "dynamodb" in backends and not os.environ.get(environment.DYNAMODB_ENDPOINT):
        print(f"python -m bench: {environment.NO_DYNAMODB_ENDPOINT}", file=sys.stderr)
        return 2

    rows = []
    failed = []
    for backend in backends:
        print(f"==> {backend}", flush=True)
        started = time.perf_counter()
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, "-m", "bench.run_one", "--backend", backend, "--json", out.name]
            command += ["--quick"] * args.quick + (["--only", args.only] if args.only else [])
            command += ["--latency-ms", str(args.latency_ms)] if args.latency_ms is not None else []
            if subprocess.run(command).returncode != 0:
                failed.append(backend)
                continue
            rows.extend(json.loads(Path(out.name).read_text() or "[]"))
        print(f"    {backend} took {time.perf_counter() - started:.0f} s", flush=True)

    info = report.machine()
    for row in rows:
        row["machine"] = info
        row["quick"] = args.quick
    path = report.write(rows, args.output)
    print()
    print(report.table(rows))
    print()
    if any(row["workload"].startswith("W9 ") for row in rows):
        print(report.scale_table(rows))
        print()
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; Python {info['python']}, "
        f"SQLite {info['sqlite']}, PostgreSQL {info['postgresql']}; {info['date']}."
    )
    print(f"Wrote {path}")
    if failed:
        print(f"FAILED on: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
