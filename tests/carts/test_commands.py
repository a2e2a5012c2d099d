"""The carts demo's own command: load_demo_data."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from carts.management.commands.load_demo_data import LONG_CART_EVENTS, demo_uuid
from carts.models import CartSummary


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


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
    assert set(CartSummary.objects.values_list("owner_id", flat=True)) == {str(demo.pk)}
    assert "no faults" in run("verify_eventstore")


@pytest.mark.parametrize(
    "args", [["--username", ""], ["--username", " "], ["--username", "x" * 200], ["--password", ""]]
)
def test_demo_data_refuses_an_unusable_user(backend, args):
    with pytest.raises(CommandError, match="--username needs 1 to 150 characters"):
        run("load_demo_data", *args)
    assert backend.last_position() == 0
