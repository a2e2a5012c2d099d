"""Bad command arguments: a one-line CommandError and a non-zero exit, never a traceback, and
nothing changed in the store, the snapshots, the read model or the projection checkpoints."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from carts.models import CartSummary
from eventstore import store
from eventstore.models import Checkpoint, Snapshot
from tests.carts.factories import CartFactory

from .live import BASE_DIR, database_url, production_env

HUGE = "9" * 30
SQL = "'; DROP TABLE eventstore_event; --"

BAD_ARGUMENTS = [
    ("replay_projections", "--projection", "nope"),
    ("replay_projections", "--projection", ""),
    ("replay_projections", "--projection", SQL),
    ("replay_projections", "--projection", "x" * 10_000),
    ("replay_projections", "--batch-size", "0"),
    ("replay_projections", "--batch-size", "-5"),
    ("replay_projections", "--batch-size", "abc"),
    ("replay_projections", "--batch-size", "1e3"),
    ("replay_projections", "--batch-size", HUGE),
    ("replay_projections", "--resume", "--dry-run"),
    ("take_snapshots",),
    ("take_snapshots", "--aggregate", "not-a-uuid"),
    ("take_snapshots", "--aggregate", ""),
    ("take_snapshots", "--aggregate", "00000000-0000-4000-8000-000000000001"),
    ("take_snapshots", "--aggregate", SQL),
    ("take_snapshots", "--aggregate-type", "nope"),
    ("take_snapshots", "--aggregate-type", SQL),
    ("take_snapshots", "--aggregate-type", "x" * 10_000),
    ("take_snapshots", "--min-events", "-1"),
    ("take_snapshots", "--min-events", "abc"),
    ("take_snapshots", "--all", "--aggregate-type", "ShoppingCart"),
    ("verify_eventstore", "--aggregate-type", "nope"),
    ("verify_eventstore", "--aggregate-type", SQL),
    ("copy_events", "--from", "nope", "--to", "django"),
    ("copy_events", "--from", "django", "--to", "django"),
    ("copy_events", "--from", "django"),
    ("load_demo_data", "--username", ""),
]


def store_state() -> dict[str, Any]:
    """Return everything a command could change, to compare before and after."""
    backend = store.get_backend()
    return {
        "last_position": backend.last_position(),
        "streams": backend.count_streams(),
        "snapshots": sorted(Snapshot.objects.values_list("aggregate_uuid", "version")),
        "read_model": sorted(CartSummary.objects.values_list("uuid", "version", "status")),
        "checkpoints": sorted(Checkpoint.objects.values_list("name", "position", "status")),
    }


@pytest.fixture
def small_store(backend) -> None:
    for _ in range(3):
        CartFactory(items=[("apple", 2), ("pear", 1)])
    CartFactory(closed=True)


@pytest.mark.parametrize("arguments", BAD_ARGUMENTS, ids=lambda args: " ".join(a[:20] for a in args)[:80])
def test_bad_command_arguments_end_in_a_one_line_command_error_and_change_nothing(small_store, arguments):
    before = store_state()

    with pytest.raises(CommandError) as refused:
        call_command(*arguments, stdout=StringIO(), stderr=StringIO())

    message = str(refused.value)
    assert message.strip() and "\n" not in message.strip(), f"not one line: {message!r}"
    assert store_state() == before


@pytest.mark.parametrize(
    "arguments",
    [
        ("take_snapshots", "--aggregate", "not-a-uuid"),
        ("replay_projections", "--projection", SQL),
        ("replay_projections", "--batch-size", "abc"),
        ("verify_eventstore", "--aggregate-type", "nope"),
    ],
)
def test_bad_arguments_on_the_command_line_exit_non_zero_without_a_traceback(committed_backend, arguments):
    CartFactory(items=[("apple", 1)])
    before = store_state()

    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=BASE_DIR,
        env=production_env(DATABASE_URL=database_url(connection.settings_dict)),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().startswith("CommandError:"), result.stderr[-500:]
    assert len(result.stderr.strip().splitlines()) == 1
    assert store_state() == before
