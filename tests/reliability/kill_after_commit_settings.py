"""The demo's settings plus a crash on cue: a worker that has just committed an item named KILL_ITEM dies.

The live server of test_a_write_whose_server_died_after_the_commit_is_appended_once runs on these, so
that the commit lands and the answer never leaves, at exactly that point, on every backend.
"""

import os

from config.settings import *  # noqa: F403
from eventstore.signals import events_committed

KILL_ITEM = "kill-after-commit"


def _die_after_commit(sender, events, **kwargs):
    if any(event.data.get("name") == KILL_ITEM for event in events):
        os._exit(1)  # the worker dies as a SIGKILL would leave it: no answer, no cleanup


events_committed.connect(_die_after_commit, dispatch_uid="tests.reliability.die_after_commit")
