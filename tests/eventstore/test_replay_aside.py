"""Replaying a model projection rebuilds it aside and swaps it in: readers never see it empty or partial,
and writers racing the replay lose nothing (issue 13: replay used to empty the read model for its run)."""

from __future__ import annotations

import os
import threading
import time
import uuid

from django.db import connection

from eventstore import catchup
from eventstore.exceptions import BackendUnavailable
from eventstore.models import Checkpoint
from eventstore.projections import registry as projections
from tests.conftest import requires_server_database_beside_dynamodb
from tests.factories import AccountFactory
from tests.testapp.domain import Account
from tests.testapp.models import AccountSummary
from tests.testapp.repositories import accounts

ON_DJANGO = os.environ.get("EVENTSTORE_BACKEND", "django") == "django"
# 10,000 events on the Django backend; DynamoDB's emulators serve one request at a time, so 1,000 there.
ACCOUNTS = 100 if ON_DJANGO else 20
DEPOSITS = 99 if ON_DJANGO else 49  # with the opening event, 100 (50) events an account
BATCH = 1000 if ON_DJANGO else 100  # ten batches or more either way
SAVE_EVERY = 40  # events per append: DynamoDB takes at most 48 in one transaction


def fill_store() -> list[uuid.UUID]:
    uuids = []
    for _ in range(ACCOUNTS):
        account = accounts.save(Account.open("ann"))
        for deposit in range(1, DEPOSITS + 1):
            account.deposit(1)
            if deposit % SAVE_EVERY == 0 or deposit == DEPOSITS:
                accounts.save(account)
        uuids.append(account.uuid)
    return uuids


def assert_read_model_equals_a_fresh_fold(backend) -> None:
    projection = projections.get("account_summary")
    assert projection.export() == projection.rebuild_aside(backend.read_all(0))


def test_readers_see_the_whole_old_read_model_until_the_swap_and_writers_between_batches_are_kept(tx_backend):
    uuids = fill_store()
    projection = projections.get("account_summary")
    AccountSummary.objects.filter(uuid=uuids[0]).update(transactions=7)  # damage the replay will repair
    seen_during_replay: list[int] = []
    written_during_replay: list[uuid.UUID] = []

    def between_batches(progress) -> None:
        # What a reader sees now: every account, as the old read model has them.
        seen_during_replay.append(AccountSummary.objects.count())
        # A writer in another thread appends while the replay is between batches; its inline run updates
        # the old read model, and the replay must carry its event into the new one.
        writer = threading.Thread(target=lambda: written_during_replay.append(write_one()))
        writer.start()
        writer.join()

    def write_one() -> uuid.UUID:
        try:
            return AccountFactory(deposits=[5]).uuid
        finally:
            connection.close()

    result = catchup.replay(projection, batch_size=BATCH, on_progress=between_batches)

    assert result.failure is None
    assert len(seen_during_replay) >= 10
    assert seen_during_replay == [ACCOUNTS + n for n in range(len(seen_during_replay))]  # never empty, never partial
    assert AccountSummary.objects.count() == ACCOUNTS + len(written_during_replay)
    assert AccountSummary.objects.get(uuid=uuids[0]).transactions == DEPOSITS
    checkpoint = Checkpoint.objects.get(name="account_summary")
    assert (checkpoint.status, checkpoint.position) == (Checkpoint.LIVE, tx_backend.last_position())
    assert_read_model_equals_a_fresh_fold(tx_backend)


@requires_server_database_beside_dynamodb
def test_writers_appending_throughout_a_replay_of_ten_thousand_events_lose_nothing(tx_backend):
    fill_store()
    projection = projections.get("account_summary")
    stop = threading.Event()
    written: list[uuid.UUID] = []
    refused: list[uuid.UUID] = []  # answered BackendUnavailable: nothing written, and that must be true
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                account = Account.open("ann")
                account.deposit(1)
                account.deposit(2)
                try:
                    accounts.save(account)
                except BackendUnavailable:
                    # On DynamoDB every append still takes one log-head item (issue 15), and a writer can
                    # lose that race until it gives up; an honest refusal is allowed, a lie is not.
                    refused.append(account.uuid)
                else:
                    written.append(account.uuid)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        result = catchup.replay(projection, batch_size=500)
        # At least one write lands after the swap too, so the new read model is shown to stay live.
        after_swap = len(written)
        deadline = time.monotonic() + 60
        while len(written) <= after_swap and not errors and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert not errors, errors
    assert result.failure is None
    assert len(written) > after_swap, "no write landed after the swap"
    assert Checkpoint.objects.get(name="account_summary").status == Checkpoint.LIVE
    assert set(written) <= set(AccountSummary.objects.values_list("uuid", flat=True))
    assert AccountSummary.objects.count() == ACCOUNTS + len(written)
    assert all(tx_backend.get_version(account_uuid) == 0 for account_uuid in refused)
    assert_read_model_equals_a_fresh_fold(tx_backend)
