"""The peer: the `eventsourcing` library's own SQLite and PostgreSQL persistence, a cart aggregate
and its snapshotting, doing each workload the way its documentation shows."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from . import environment
from .common import item_name

warnings.filterwarnings("ignore", category=DeprecationWarning, module="eventsourcing")


class PeerCart(Aggregate):
    """The shopping cart as an `eventsourcing` aggregate: the same events and state."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    @event("ItemAdded")
    def add_item(self, name: str, quantity: int = 1) -> None:
        self.items[name] = self.items.get(name, 0) + quantity


class PlainCarts(Application[uuid.UUID]):
    """Carts without snapshots (batch appends, long streams, replay)."""

    name = "BenchCarts"


class SnapshottingCarts(Application[uuid.UUID]):
    """Carts with a snapshot every 100 versions, like the project's carts repository."""

    name = "BenchCarts"
    snapshotting_intervals = {PeerCart: 100}


def peer_env(vendor: str, *, fresh: bool, pool_size: int = 4) -> dict[str, str]:
    """Return the library's environment for its own database of this kind (recreated if `fresh`)."""
    if vendor == "sqlite":
        path = environment.VAR / "peer.sqlite3"
        if fresh:
            path = environment.sqlite_path("peer")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), "SQLITE_LOCK_TIMEOUT": "30"}
    dbname = f"{environment.PG_DB}_peer"
    if fresh:
        environment.recreate_pg_database(dbname)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": environment.PG_HOST,
        "POSTGRES_PORT": environment.PG_PORT,
        "POSTGRES_USER": environment.PG_USER,
        "POSTGRES_PASSWORD": os.environ.get("BENCH_PG_PASSWORD", ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
    }


class Peer:
    """Both applications on one database of the given kind."""

    def __init__(self, vendor: str, *, fresh: bool = False, create_tables: bool = True, pool_size: int = 4) -> None:
        self.vendor = vendor
        # Workers started together must not all create the tables at once (PostgreSQL's catalog races).
        env = peer_env(vendor, fresh=fresh, pool_size=pool_size)
        self.env = {**env, "CREATE_TABLE": "y" if create_tables else "n"}
        self.plain = PlainCarts(env=self.env)
        self.snapshotting = SnapshottingCarts(env={**self.env, "IS_SNAPSHOTTING_ENABLED": "y"})

    def close(self) -> None:
        for app in (self.plain, self.snapshotting):
            app.close()

    def single_saves(self, count: int, saves_per_cart: int) -> None:
        shopping = [PeerCart() for _ in range(count)]
        for cart in shopping:
            self.snapshotting.save(cart)
        for round_ in range(1, saves_per_cart):
            for cart in shopping:
                cart.add_item(item_name(round_))
                self.snapshotting.save(cart)

    def batch_appends(self, batches: int, events: int) -> None:
        for _ in range(batches):
            cart = PeerCart()
            for n in range(1, events):
                cart.add_item(item_name(n))
            self.plain.save(cart)

    def write_stream(self, events: int, *, snapshot_at: int | None = None, chunk: int = 1000) -> uuid.UUID:
        cart = PeerCart()
        for n in range(1, events):
            cart.add_item(item_name(n))
            if len(cart.pending_events) >= chunk:
                self.plain.save(cart)
        self.plain.save(cart)
        if snapshot_at is not None:
            self.snapshotting.take_snapshot(cart.id, version=snapshot_at)
        return cart.id

    def load(self, cart_id: uuid.UUID) -> Any:
        return self.plain.repository.get(cart_id)

    def load_snapshotted(self, cart_id: uuid.UUID) -> Any:
        return self.snapshotting.repository.get(cart_id)

    def update(self, cart_id: uuid.UUID, name: str, attempts: int = 1000) -> int:
        """Load, add an item, save; retry on a conflict. Return the number of attempts made."""
        for attempt in range(1, attempts + 1):
            cart = self.snapshotting.repository.get(cart_id)
            cart.add_item(name)
            try:
                self.snapshotting.save(cart)
            except IntegrityError:
                continue
            return attempt
        raise RuntimeError(f"peer update of {cart_id} lost {attempts} races")

    def read_all(self, batch_size: int = 1000) -> Iterator[Any]:
        recorder = self.plain.recorder
        decode = self.plain.mapper.transcoder.decode
        start = 1
        while True:
            notifications = recorder.select_notifications(start, batch_size)
            for notification in notifications:
                yield decode(notification.state)
            if len(notifications) < batch_size:
                return
            start = notifications[-1].id + 1

    def stream_versions(self, cart_id: uuid.UUID) -> list[int]:
        return [e.originator_version for e in self.plain.events.get(cart_id)]
