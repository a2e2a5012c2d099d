"""What must hold of the store after any load, crash or outage: run in the test process, on the database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

from carts.domain import ItemAdded
from carts.repository import carts
from eventstore import store
from eventstore.exceptions import AggregateClosed
from eventstore.projections import registry

Ack = tuple[str, str, int, int, float]


def all_stream_uuids() -> list[str]:
    """Return the uuid of every stream in the store."""
    backend = store.get_backend()
    uuids: list[str] = []
    cursor = None
    while True:
        page = backend.list_streams(limit=500, cursor=cursor)
        uuids.extend(str(stream.aggregate_uuid) for stream in page.streams)
        if page.next_cursor is None:
            return uuids
        cursor = page.next_cursor


def assert_streams_contiguous(cart_uuids: Iterable[str]) -> int:
    """Check every stream runs 1..N without a gap or duplicate and its head says N; return all events."""
    backend = store.get_backend()
    total = 0
    for cart in cart_uuids:
        versions = [event.version for event in backend.read_stream(UUID(cart))]
        assert versions == list(range(1, len(versions) + 1)), f"stream {cart} is not contiguous: {versions}"
        assert backend.get_version(UUID(cart)) == len(versions), f"stream {cart}: head disagrees with its events"
        total += len(versions)
    return total


def stored_additions(cart_uuids: Iterable[str]) -> dict[str, list[tuple[str, int, int]]]:
    """Return, by item name, every ItemAdded in the carts as (cart, quantity, version)."""
    found: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for cart in cart_uuids:
        for event in store.get_backend().read_stream(UUID(cart)):
            if event.name == ItemAdded.event_name:
                found[event.data["name"]].append((cart, event.data["quantity"], event.version))
    return found


def assert_acknowledged_writes_stored_once(acknowledged: list[Ack], cart_uuids: Iterable[str]) -> int:
    """Check each acknowledged write is stored exactly once, in its cart, at the version it was answered with."""
    found = stored_additions(cart_uuids)
    missing = [name for _, name, _, _, _ in acknowledged if name not in found]
    assert missing == [], f"{len(missing)} acknowledged writes are not in the store: {missing[:10]}"
    duplicated = {name: where for name, where in found.items() if len(where) > 1}
    assert duplicated == {}, f"writes appended more than once: {dict(list(duplicated.items())[:5])}"
    for cart, name, quantity, version, _ in acknowledged:
        assert found[name] == [(cart, quantity, version)], f"{name}: answered {cart} v{version}, stored {found[name]}"
    return len(acknowledged)


def assert_no_unacknowledged_writes(acknowledged: list[Ack], cart_uuids: Iterable[str]) -> None:
    """Check the store holds no addition that was never acknowledged (nothing half-written)."""
    acked = {name for _, name, _, _, _ in acknowledged}
    extra = sorted(set(stored_additions(cart_uuids)) - acked)
    assert extra == [], f"{len(extra)} additions stored but never acknowledged: {extra[:10]}"


def assert_read_model_equals_replay_and_state(cart_uuids: Iterable[str]) -> int:
    """Check the CartSummary read model equals one rebuilt from the log, and each cart's rehydrated state."""
    projection = registry.get("cart_summary")
    live = projection.export()
    rebuilt = projection.rebuild_aside(store.get_backend().read_all())
    assert live == rebuilt, "the read model differs from a replay of the event log"
    for cart in cart_uuids:
        try:
            state = carts.load(UUID(cart))
        except AggregateClosed as closed:
            state = closed.aggregate
        row = live[cart]
        assert (row["version"], row["status"], row["items"]) == (state.version, state.status, state.items), cart
    return len(live)
