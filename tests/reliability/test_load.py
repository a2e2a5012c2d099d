"""Several processes write to the same and to different carts through gunicorn; nothing is lost."""

from __future__ import annotations

from .checks import (
    assert_acknowledged_writes_stored_once,
    assert_no_unacknowledged_writes,
    assert_read_model_equals_replay_and_state,
    assert_streams_contiguous,
)
from .load import start_load

PROCESSES = 4
WRITES_EACH = 40


def test_every_acknowledged_write_of_a_multi_process_load_is_stored_once(gunicorn_server, api_user, report_figures):
    _, token = api_user
    run = start_load(gunicorn_server.url, token, processes=PROCESSES, writes=WRITES_EACH)
    result = run.finish()
    carts_written = run.carts
    report_figures(result.figures())

    assert result.unexpected == [], result.unexpected[:10]
    assert result.gave_up == []
    assert len(result.acknowledged) == PROCESSES * WRITES_EACH
    events = assert_streams_contiguous(carts_written)
    assert_acknowledged_writes_stored_once(result.acknowledged, carts_written)
    assert_no_unacknowledged_writes(result.acknowledged, carts_written)
    assert_read_model_equals_replay_and_state(carts_written)
    # One CartOpened per cart plus one ItemAdded per acknowledged write: nothing more, nothing less.
    assert events == len(carts_written) + len(result.acknowledged)
