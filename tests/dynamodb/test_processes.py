"""Writers in separate processes, racing through DynamoDB's conditions alone (no lock in between)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from django.conf import settings

from eventstore.backends.base import NewEvent


def run_workers(tasks: list[dict]) -> list[list[dict]]:
    """Run one worker process per task, all starting at the same moment; return each one's results."""
    start_at = time.time() + 4  # long enough for every process to import Django and boto3
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.dynamodb.append_worker", json.dumps({**task, "start_at": start_at})],
            cwd=settings.BASE_DIR,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for task in tasks
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append([json.loads(line) for line in out.splitlines()])
    return results


def test_processes_racing_for_the_same_version_let_exactly_one_win(ddb):
    stream = uuid.uuid4()
    ddb.append(stream, "Counter", 0, [NewEvent("Started", {})])

    results = run_workers([{"stream": str(stream), "expected": 1, "appends": 1, "events": 2}] * 4)

    outcomes = [result[0] for result in results]
    winners = [o for o in outcomes if "positions" in o]
    assert len(winners) == 1
    assert sorted(o["conflict"] for o in outcomes if "conflict" in o) == [3, 3, 3]
    assert [e.version for e in ddb.read_stream(stream)] == [1, 2, 3]
    assert [e.position for e in ddb.read_all()] == [1, *winners[0]["positions"]] == [1, 2, 3]


def test_processes_appending_to_their_own_streams_get_dense_positions_in_commit_order(ddb):
    streams = [uuid.uuid4() for _ in range(4)]

    results = run_workers([{"stream": str(stream), "expected": 0, "appends": 8, "events": 2} for stream in streams])

    positions = sorted(p for result in results for outcome in result for p in outcome["positions"])
    assert positions == list(range(1, 65))
    everything = list(ddb.read_all())
    assert [e.position for e in everything] == positions
    for stream in streams:  # each stream's events in version order along the global order
        assert [e.version for e in everything if e.aggregate_uuid == stream] == list(range(1, 17))
    assert ddb.count_streams() == 4
