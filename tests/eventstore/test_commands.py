"""The maintenance commands, through call_command and as `python manage.py` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from carts.management.commands.load_demo_data import LONG_CART_EVENTS, demo_uuid
from carts.models import CartSummary
from carts.repository import carts
from eventstore import projections
from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.models import Checkpoint
from eventstore.projections import Projection
from tests.conftest import requires_django_backend
from tests.factories import CartFactory


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# replay_projections


def test_replay_rebuilds_a_damaged_read_model_with_progress(backend):
    for _ in range(4):
        CartFactory(items=[("apple", 1), ("pear", 2)])
    inline = projections.registry.get("cart_summary").export()
    CartSummary.objects.update(total_quantity=0)
    CartSummary.objects.first().delete()

    output = run("replay_projections", "--projection", "cart_summary", "--batch-size", "5")

    assert projections.registry.get("cart_summary").export() == inline
    assert "cart_summary: 5 events" in output  # the first batch always shows
    assert "events/s" in output and "ETA" in output
    assert f"cart_summary: 12 event(s) up to position {backend.last_position()}" in output and output.rstrip().endswith(
        "live."
    )


def test_dry_run_reports_what_would_change_and_changes_nothing(backend):
    kept = CartFactory(items=[("apple", 1)])
    damaged = CartFactory(items=[("pear", 2)])
    CartSummary.objects.filter(uuid=damaged.uuid).update(total_quantity=7)
    CartSummary.objects.filter(uuid=kept.uuid).delete()

    output = run("replay_projections", "--dry-run")

    assert "cart_summary: replaying would add 1, change 1 and remove 0 row(s)." in output
    assert f"changed {damaged.uuid}: total_quantity: 7 -> 2" in output
    assert f"add {kept.uuid}" in output
    assert CartSummary.objects.get(uuid=damaged.uuid).total_quantity == 7
    assert not CartSummary.objects.filter(uuid=kept.uuid).exists()


def test_dry_run_on_a_sound_read_model_says_so(backend):
    CartFactory()

    assert "matches the event log (1 row(s)); nothing would change" in run("replay_projections", "--dry-run")


class Flaky(Projection):
    """Count ItemAdded events; fail, or be interrupted, at a chosen stream version."""

    name = "test_flaky"
    handles = frozenset({"ItemAdded"})

    def __init__(self) -> None:
        self.count = 0
        self.fail_at: int | None = None
        self.interrupt_at: int | None = None

    def handle(self, event) -> None:
        if event.version == self.fail_at:
            raise ValueError("no such price list")
        if event.version == self.interrupt_at:
            raise KeyboardInterrupt
        self.count += 1

    def clear(self) -> None:
        self.count = 0


@pytest.fixture
def flaky(backend):
    projection = Flaky()
    projections.registry.register(projection, inline=False)
    yield projection
    projections.registry.unregister(projection.name)


def test_a_failing_projection_ends_with_the_event_and_resumes_once_fixed(flaky):
    cart = CartFactory(items=[("a", 1), ("b", 1), ("c", 1)])
    flaky.fail_at = 3

    with pytest.raises(CommandError) as caught:
        run("replay_projections", "--projection", "test_flaky")

    message = str(caught.value)
    assert f"stream {cart.uuid} version 3 event ItemAdded: ValueError: no such price list" in message
    assert "--projection test_flaky --resume" in message
    assert "\n" not in message
    assert Checkpoint.objects.get(name="test_flaky").status == Checkpoint.STOPPED

    flaky.fail_at = None
    run("replay_projections", "--projection", "test_flaky", "--resume")

    assert flaky.count == 3
    assert Checkpoint.objects.get(name="test_flaky").status == Checkpoint.LIVE


def test_an_interrupted_replay_resumes_from_its_last_batch(flaky, backend):
    cart = CartFactory(items=[(name, 1) for name in "abcdefgh"])  # versions 2..9 are ItemAdded
    positions = [event.position for event in backend.read_stream(cart.uuid)]
    flaky.interrupt_at = 7

    # Batches of two events: versions (1, 2), (3, 4), (5, 6) commit; (7, 8) is interrupted and rolled back.
    with pytest.raises(CommandError, match=rf"Interrupted: test_flaky is at position {positions[5]}\. .*--resume"):
        run("replay_projections", "--projection", "test_flaky", "--batch-size", "2")
    assert flaky.count == 5  # versions 2..6

    flaky.interrupt_at = None
    run("replay_projections", "--projection", "test_flaky", "--resume", "--batch-size", "2")

    assert Checkpoint.objects.get(name="test_flaky").position == positions[-1]
    assert flaky.count == 8  # versions 7..9 added, none handled twice


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--projection", "nope"], "Unknown projection 'nope'; registered: cart_summary"),
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "many"], "--batch-size"),
        (["--batch-size", "9" * 30], "--batch-size"),
        (["--resume", "--dry-run"], "not allowed with argument"),
    ],
)
def test_replay_refuses_bad_arguments(backend, args, message):
    with pytest.raises(CommandError, match=message):
        run("replay_projections", *args)


# take_snapshots


def test_snapshot_one_aggregate(backend):
    cart = CartFactory(items=[("a", 1), ("b", 1)])

    output = run("take_snapshots", "--aggregate", str(cart.uuid))

    assert [s.version for s in backend.list_snapshots(cart.uuid)] == [3]
    assert backend.list_snapshots(cart.uuid)[0].state == carts.load(cart.uuid).get_state()
    assert "Snapshotted 1 of 1 stream(s)." in output
    again = run("take_snapshots", "--aggregate", str(cart.uuid))
    assert "Snapshotted 0 of 1 stream(s); skipped 1 up to date." in again


def test_snapshot_streams_past_a_threshold_only(backend):
    long = CartFactory(items=[(f"item {n}", 1) for n in range(10)])  # 11 events
    short = CartFactory(items=[("a", 1)])  # 2 events
    closed = CartFactory(items=[(f"item {n}", 1) for n in range(10)], closed=True)

    output = run("take_snapshots", "--min-events", "5")

    assert [s.version for s in backend.list_snapshots(long.uuid)] == [11]
    assert backend.list_snapshots(short.uuid) == []
    assert backend.list_snapshots(closed.uuid) == []
    assert "Snapshotted 1 of 3 stream(s); skipped 1 below --min-events, 1 closed." in output
    assert "Snapshotted 0 of 3" in run("take_snapshots", "--min-events", "5")  # now up to date


def test_snapshot_all_and_by_type_and_dry_run(backend):
    first, second = CartFactory(), CartFactory(items=[("a", 1), ("b", 1)])

    dry = run("take_snapshots", "--all", "--dry-run")
    assert "Dry run: would snapshot 2 of 2 stream(s)." in dry
    assert backend.list_snapshots(first.uuid) == []

    run("take_snapshots", "--aggregate-type", "ShoppingCart")

    assert [s.version for s in backend.list_snapshots(first.uuid)] == [2]
    assert [s.version for s in backend.list_snapshots(second.uuid)] == [3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Say which streams"),
        (["--aggregate", "not-a-uuid"], "'not-a-uuid' is not a valid aggregate UUID."),
        (["--aggregate", "00000000-0000-0000-0000-000000000001"], "No stream 00000000-0000-0000-0000-000000000001"),
        (["--aggregate-type", "Basket"], "Unknown aggregate type 'Basket'; known: .*ShoppingCart"),
        (["--min-events", "0"], "--min-events"),
        (["--all", "--aggregate-type", "ShoppingCart"], "not allowed with argument"),
    ],
)
def test_snapshot_refuses_bad_arguments(backend, args, message):
    with pytest.raises(CommandError, match=message):
        run("take_snapshots", *args)


# verify_eventstore


def test_verify_a_sound_store(backend):
    CartFactory(items=[("a", 1)], closed=True)
    cart = CartFactory(items=[("a", 1), ("b", 1)])
    carts.take_snapshot(cart.uuid)

    output = run("verify_eventstore")

    assert "Checked 2 stream(s), 6 event(s), 1 snapshot(s): no faults." in output


def test_verify_reports_a_wrong_snapshot_and_an_unknown_event(backend):
    cart = CartFactory(items=[("a", 1)])
    backend.save_snapshot(SnapshotRecord(cart.uuid, "ShoppingCart", 2, {"status": "open", "items": {"a": 5}}, 1))
    odd = CartFactory()
    backend.append(odd.uuid, "ShoppingCart", 2, [NewEvent(name="CouponApplied", data={"code": "X"})])
    out = StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("verify_eventstore", stdout=out)

    report = out.getvalue()
    assert f"FAULT stream {cart.uuid} (ShoppingCart): snapshot at version 2 differs from the state rebuilt" in report
    assert f"FAULT stream {odd.uuid} (ShoppingCart) version 3 CouponApplied: Unknown event 'CouponApplied'" in report
    assert str(caught.value) == "2 fault(s) in 2 of 2 stream(s); see the report above."


@requires_django_backend
def test_verify_reports_a_gap_in_a_stream(backend):
    from eventstore.models import EventRecord

    cart = CartFactory(items=[("a", 1), ("b", 1)])
    EventRecord.objects.filter(aggregate_uuid=cart.uuid, version=2).delete()  # damage the table behind the store
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_eventstore", stdout=out)

    assert f"FAULT stream {cart.uuid} (ShoppingCart): version 3 (ItemAdded) follows version 1" in out.getvalue()


def test_verify_refuses_an_unknown_type(backend):
    with pytest.raises(CommandError, match="Unknown aggregate type 'Basket'"):
        run("verify_eventstore", "--aggregate-type", "Basket")


# load_demo_data


def test_demo_data_is_complete_and_loading_it_again_changes_nothing(backend):
    run("load_demo_data")
    position = backend.last_position()

    output = run("load_demo_data")

    assert backend.last_position() == position
    assert "exists; skipped" in output and "as demo / demo" in output
    demo = get_user_model().objects.get(username="demo")
    assert demo.is_superuser and demo.check_password("demo")
    streams = [backend.get_stream(demo_uuid(name)) for name in ("birthday party", "office supplies")]
    assert streams[0].closed
    assert streams[1].version >= LONG_CART_EVENTS >= 300
    assert len(backend.list_snapshots(demo_uuid("office supplies"))) >= 3
    assert CartSummary.objects.count() == backend.count_streams() == 5
    assert "no faults" in run("verify_eventstore")


@pytest.mark.parametrize(
    "args", [["--username", ""], ["--username", " "], ["--username", "x" * 200], ["--password", ""]]
)
def test_demo_data_refuses_an_unusable_user(backend, args):
    with pytest.raises(CommandError, match="--username needs 1 to 150 characters"):
        run("load_demo_data", *args)
    assert backend.last_position() == 0


# As subprocesses: exit codes and one-line errors


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python manage.py ...` against the test database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
    return subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["replay_projections", "--projection", "nope"], 1, "CommandError: Unknown projection 'nope'"),
        (["replay_projections", "--batch-size", "0"], 2, "CommandError: argument --batch-size"),
        (["take_snapshots", "--aggregate", "12345"], 1, "CommandError: '12345' is not a valid aggregate UUID."),
        (["take_snapshots", "--aggregate-type", "Basket"], 1, "CommandError: Unknown aggregate type 'Basket'"),
        (["take_snapshots"], 1, "CommandError: Say which streams"),
        (["verify_eventstore", "--aggregate-type", "Basket"], 1, "CommandError: Unknown aggregate type 'Basket'"),
    ],
)
@requires_django_backend
def test_bad_arguments_end_with_one_line_and_a_non_zero_exit(transactional_db, args, code, error):
    result = manage(*args)

    assert result.returncode == code, result.stderr
    assert result.stderr.startswith(error)
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


@requires_django_backend
def test_verify_exits_zero_on_a_sound_store_and_one_on_a_fault(tx_backend):
    cart = CartFactory(items=[("a", 1)])

    sound = manage("verify_eventstore")
    tx_backend.save_snapshot(SnapshotRecord(cart.uuid, "ShoppingCart", 1, {"status": "open", "items": {"x": 1}}, 1))
    faulty = manage("verify_eventstore")

    assert (sound.returncode, sound.stderr) == (0, "")
    assert "no faults" in sound.stdout
    assert faulty.returncode == 1
    assert f"FAULT stream {cart.uuid}" in faulty.stdout
    assert faulty.stderr == "CommandError: 1 fault(s) in 1 of 1 stream(s); see the report above.\n"


@requires_django_backend
def test_replay_and_snapshots_run_as_processes(tx_backend):
    cart = CartFactory(items=[("a", 1), ("b", 2)])
    CartSummary.objects.all().delete()

    replay = manage("replay_projections")
    snapshot = manage("take_snapshots", "--aggregate", str(cart.uuid))

    assert replay.returncode == 0, replay.stderr
    assert CartSummary.objects.get(uuid=cart.uuid).total_quantity == 3
    assert snapshot.returncode == 0, snapshot.stderr
    assert [s.version for s in tx_backend.list_snapshots(cart.uuid)] == [3]
    assert uuid.UUID(str(cart.uuid))
