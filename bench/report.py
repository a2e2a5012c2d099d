"""Print the results table and write bench/results/latest.json."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Describe what the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = 0
    try:
        pg = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pg = ""
    import sqlite3

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg or "not reached",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[dict[str, Any]]) -> str:
    """Return the rows as a Markdown table."""
    header = ["workload", "db", "figure", "baseline", "ratio", "target", "eventsourcing", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        met = "-" if row["met"] is None else "yes" if row["met"] else "NO"
        if row["met"] is False:
            why = []
            if not row["target_met"]:
                why.append("target")
            if row["ahead_of_peer"] is False:
                why.append("behind peer")
            met += f" ({', '.join(why)})"
        lines.append(
            "| "
            + " | ".join(
                [
                    row["workload"],
                    row["backend"],
                    f"{fmt(row['figure'])} {row['unit']}",
                    f"{fmt(row['baseline'])} ({row['baseline_name']})",
                    f"{row['ratio']:.2f}",
                    row["target"],
                    fmt(row["peer"]),
                    met,
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def scale_table(rows: list[dict[str, Any]]) -> str:
    """Return W9's rows as a Markdown table of their own: writers, appends/s, transactions, failures."""
    header = [
        "db",
        "path",
        "writers",
        "appends/s",
        "x 1 writer",
        "TransactWriteItems/append",
        "indexer tx/append",
        "failed appends",
        "busiest writer",
        "read_all",
        "target",
        "met",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if not row["workload"].startswith("W9 ") or "path" not in row["extra"]:
            continue  # the indexer delay's rows are in the main table
        extra = row["extra"]
        tx = extra["transactions_per_append"]
        itx = extra.get("indexer_transactions_per_append")
        failures = ", ".join(f"{count} {name}" for name, count in extra["failures"].items()) or "0"
        # The targets (DynamoDB's): one transaction per append at every count, the scaling at 8 writers.
        targets, met = [], []
        raw = extra["path"] == "raw"  # boto3 alone, the emulator's ceiling: no target, nothing to read back
        if tx is not None and not raw:
            targets.append("1.00 tx/append")
            met.append(round(tx, 2) <= 1.0)
        if extra["scale_target"] is not None:
            targets.append(row["target"])
            met.append(row["ratio"] >= extra["scale_target"])
        read_all = "-" if raw else f"{extra['read_all_events']} exact"
        if extra["landed_unacknowledged"]:
            read_all += f", {extra['landed_unacknowledged']} landed unacknowledged"
        cells = [
            row["backend"],
            extra["path"],
            str(extra["writers"]),
            fmt(row["figure"]),
            f"{row['ratio']:.2f}",
            "-" if tx is None else f"{tx:.2f}",
            "-" if itx is None else f"{itx:.3f}",
            failures,
            f"{extra['busiest_writer_share']:.0%}",
            read_all,
            "; ".join(targets) or "(information)",
            "-" if not met else "yes" if all(met) else "NO",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(rows: list[dict[str, Any]], path: Path = RESULTS / "latest.json") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return path
