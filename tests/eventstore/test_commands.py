"""The maintenance commands, through call_command and as `python manage.py` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from eventstore import projections
from eventstore.backends.base import NewEvent, SnapshotRecord
from eventstore.models import Checkpoint
from eventstore.projections import Projection
from tests.conftest import requires_django_backend
from tests.factories import AccountFactory
from tests.testapp.models import AccountSummary
from tests.testapp.repositories import accounts


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# replay_projections


def test_replay_rebuilds_a_damaged_read_model_with_progress(backend):
    for _ in range(4):
        AccountFactory(deposits=[1, (2, "USD")])
    inline = projections.registry.get("account_summary").export()
    AccountSummary.objects.update(transactions=0)
    AccountSummary.objects.first().delete()

    output = run("replay_projections", "--projection", "account_summary", "--batch-size", "5")

    assert projections.registry.get("account_summary").export() == inline
    assert "account_summary: 5 events" in output  # the first batch always shows
    assert "events/s" in output and "ETA" in output
    assert f"account_summary: 12 event(s) up to position {backend.last_position()}" in output
    assert output.rstrip().endswith("live.")


def test_dry_run_reports_what_would_change_and_changes_nothing(backend):
    kept = AccountFactory(deposits=[1])
    damaged = AccountFactory(deposits=[2, 3])
    AccountSummary.objects.filter(uuid=damaged.uuid).update(transactions=7)
    AccountSummary.objects.filter(uuid=kept.uuid).delete()

    output = run("replay_projections", "--dry-run")

    assert "account_summary: replaying would add 1, change 1 and remove 0 row(s)." in output
    assert f"changed {damaged.uuid}: transactions: 7 -> 2" in output
    assert f"add {kept.uuid}" in output
    assert AccountSummary.objects.get(uuid=damaged.uuid).transactions == 7
    assert not AccountSummary.objects.filter(uuid=kept.uuid).exists()


def test_dry_run_on_a_sound_read_model_says_so(backend):
    AccountFactory()

    assert "account_summary: the live read model matches the event log (1 row(s)); nothing would change" in run(
        "replay_projections", "--dry-run"
    )


class Flaky(Projection):
    """Count MoneyDeposited events; fail, or be interrupted, at a chosen stream version."""

    name = "test_flaky"
    handles = frozenset({"MoneyDeposited"})

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
    account = AccountFactory(deposits=[1, 2, 3])
    flaky.fail_at = 3

    with pytest.raises(CommandError) as caught:
        run("replay_projections", "--projection", "test_flaky")

    message = str(caught.value)
    assert f"stream {account.uuid} version 3 event MoneyDeposited: ValueError: no such price list" in message
    assert "--projection test_flaky --resume" in message
    assert "\n" not in message
    assert Checkpoint.objects.get(name="test_flaky").status == Checkpoint.STOPPED

    flaky.fail_at = None
    run("replay_projections", "--projection", "test_flaky", "--resume")

    assert flaky.count == 3
    assert Checkpoint.objects.get(name="test_flaky").status == Checkpoint.LIVE


def test_an_interrupted_replay_resumes_from_its_last_batch(flaky, backend):
    account = AccountFactory(deposits=[1] * 8)  # versions 2..9 are MoneyDeposited
    positions = [event.position for event in backend.read_stream(account.uuid)]
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
        (["--projection", "nope"], "Unknown projection 'nope'; registered: .*account_summary"),
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
    account = AccountFactory(deposits=[1, (1, "USD")])

    output = run("take_snapshots", "--aggregate", str(account.uuid))

    assert [s.version for s in backend.list_snapshots(account.uuid)] == [3]
    assert backend.list_snapshots(account.uuid)[0].state == accounts.load(account.uuid).get_state()
    assert "Snapshotted 1 of 1 stream(s)." in output
    again = run("take_snapshots", "--aggregate", str(account.uuid))
    assert "Snapshotted 0 of 1 stream(s); skipped 1 up to date." in again


def test_snapshot_streams_past_a_threshold_only(backend):
    long = AccountFactory(deposits=[1] * 10)  # 11 events
    short = AccountFactory(deposits=[1])  # 2 events
    closed = AccountFactory(deposits=[1] * 10, closed=True)

    output = run("take_snapshots", "--min-events", "5")

    assert [s.version for s in backend.list_snapshots(long.uuid)] == [11]
    assert backend.list_snapshots(short.uuid) == []
    assert backend.list_snapshots(closed.uuid) == []
    assert "Snapshotted 1 of 3 stream(s); skipped 1 below --min-events, 1 closed." in output
    assert "Snapshotted 0 of 3" in run("take_snapshots", "--min-events", "5")  # now up to date


def test_snapshot_all_and_by_type_and_dry_run(backend):
    first, second = AccountFactory(), AccountFactory(deposits=[1, 2])

    dry = run("take_snapshots", "--all", "--dry-run")
    assert "Dry run: would snapshot 2 of 2 stream(s)." in dry
    assert backend.list_snapshots(first.uuid) == []

    run("take_snapshots", "--aggregate-type", "Account")

    assert [s.version for s in backend.list_snapshots(first.uuid)] == [2]
    assert [s.version for s in backend.list_snapshots(second.uuid)] == [3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Say which streams"),
        (["--aggregate", "not-a-uuid"], "'not-a-uuid' is not a valid aggregate UUID."),
        (["--aggregate", "00000000-0000-0000-0000-000000000001"], "No stream 00000000-0000-0000-0000-000000000001"),
        (["--aggregate-type", "Basket"], "Unknown aggregate type 'Basket'; registered: .*Account"),
        (["--min-events", "0"], "--min-events"),
        (["--all", "--aggregate-type", "Account"], "not allowed with argument"),
    ],
)
def test_snapshot_refuses_bad_arguments(backend, args, message):
    with pytest.raises(CommandError, match=message):
        run("take_snapshots", *args)


# verify_eventstore


def test_verify_a_sound_store(backend):
    AccountFactory(deposits=[1], closed=True)
    account = AccountFactory(deposits=[1, (1, "USD")])
    accounts.take_snapshot(account.uuid)

    output = run("verify_eventstore")

    assert "Checked 2 stream(s), 6 event(s), 1 snapshot(s): no faults." in output


def test_verify_reports_a_wrong_snapshot_and_an_unknown_event(backend):
    account = AccountFactory(deposits=[1])
    wrong = {"status": "open", "owner": "ann", "balances": {"EUR": 5}}
    backend.save_snapshot(SnapshotRecord(account.uuid, "Account", 2, wrong, 1))
    odd = AccountFactory()
    backend.append(odd.uuid, "Account", 2, [NewEvent(name="InterestPaid", data={"rate": "X"})])
    out = StringIO()

    with pytest.raises(CommandError) as caught:
        call_command("verify_eventstore", stdout=out)

    report = out.getvalue()
    assert f"FAULT stream {account.uuid} (Account): snapshot at version 2 differs from the state rebuilt" in report
    assert f"FAULT stream {odd.uuid} (Account) version 3 InterestPaid: Unknown event 'InterestPaid'" in report
    assert str(caught.value) == "2 fault(s) in 2 of 2 stream(s); see the report above."


@requires_django_backend
def test_verify_reports_a_gap_in_a_stream(backend):
    from eventstore.models import EventRecord

    account = AccountFactory(deposits=[1, 2])
    EventRecord.objects.filter(aggregate_uuid=account.uuid, version=2).delete()  # damage the table behind the store
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("verify_eventstore", stdout=out)

    assert f"FAULT stream {account.uuid} (Account): version 3 (MoneyDeposited) follows version 1" in out.getvalue()


def test_verify_refuses_an_unknown_type(backend):
    with pytest.raises(CommandError, match="Unknown aggregate type 'Basket'"):
        run("verify_eventstore", "--aggregate-type", "Basket")


# As subprocesses: exit codes and one-line errors


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python manage.py ...` against the test database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
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
    account = AccountFactory(deposits=[1])

    sound = manage("verify_eventstore")
    wrong = {"status": "open", "owner": "ann", "balances": {"XXX": 1}}
    tx_backend.save_snapshot(SnapshotRecord(account.uuid, "Account", 1, wrong, 1))
    faulty = manage("verify_eventstore")

    assert (sound.returncode, sound.stderr) == (0, "")
    assert "no faults" in sound.stdout
    assert faulty.returncode == 1
    assert f"FAULT stream {account.uuid}" in faulty.stdout
    assert faulty.stderr == "CommandError: 1 fault(s) in 1 of 1 stream(s); see the report above.\n"


@requires_django_backend
def test_replay_and_snapshots_run_as_processes(tx_backend):
    account = AccountFactory(deposits=[1, (2, "USD")])
    AccountSummary.objects.all().delete()

    replay = manage("replay_projections")
    snapshot = manage("take_snapshots", "--aggregate", str(account.uuid))

    assert replay.returncode == 0, replay.stderr
    assert AccountSummary.objects.get(uuid=account.uuid).balances == {"EUR": 1, "USD": 2}
    assert snapshot.returncode == 0, snapshot.stderr
    assert [s.version for s in tx_backend.list_snapshots(account.uuid)] == [3]
    assert uuid.UUID(str(account.uuid))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "django"], "gives events their positions as it appends them: it has nothing to index"),
        (["--backend", "nowhere"], "No event store backend is configured as 'nowhere'"),
        (["--poll-seconds", "0"], "invalid number of seconds from 0.01 to 60 value: '0'"),
        (["--poll-seconds", "soon"], "invalid number of seconds from 0.01 to 60 value: 'soon'"),
    ],
)
def test_index_events_refuses_a_backend_with_nothing_to_index(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("index_events", *args)


def test_index_events_from_the_command_line_says_so_in_one_line_and_exits_non_zero(transactional_db):
    completed = manage("index_events", "--backend", "django")

    assert completed.returncode != 0
    assert completed.stderr.strip().count("\n") == 0, completed.stderr
    assert "nothing to index" in completed.stderr
