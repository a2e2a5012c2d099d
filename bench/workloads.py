"""W1-W11 on one database, in one process.

W1-W6: the project, the raw driver and the peer, side by side. W7: the HTTP API under gunicorn against
a plain DRF endpoint on the same server. W8: the admin page of a long stream. W9: 1 to 16 writers to
distinct streams (bench/scaleout.py), against 1 writer.

On DynamoDB the raw side is boto3 on a table of its own (bench/raw.py RawDynamoDB), the peer has no
DynamoDB persistence (its column stays empty), W5's baseline is boto3's read-then-conditional-put, and
the sizes are DynamoDB's (bench/common.py Sizes.dynamodb), recorded in each row's extra.

W10, W11: subscriptions (bench/subscriptions.py): a worker's catch-up against `backend.read_all`, and
the delay from commit to handler of `run_subscriptions` under a steady write load.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from django.db import connections

from carts.repository import carts
from eventstore import store

from . import ours, scaleout, web
from .common import Sizes, item_name, item_payload, median_time, progress, timed_threads
from .peer import Peer
from .raw import RawDynamoDB, RawStore, open_raw
from .roundtrips import count_statements


@dataclass
class Row:
    """One workload on one database: our figure, its baseline, the target and the peer."""

    workload: str
    backend: str
    figure: float
    unit: str
    baseline: float
    baseline_name: str
    better: str  # "higher" or "lower"
    target_ratio: float | None  # None: shown for information, no target
    peer: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    target_value: float | None = None  # an absolute target: the figure must beat it (W8's 100 ms)

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline

    @property
    def target(self) -> str:
        if self.target_value is not None:
            return f"{'>' if self.better == 'higher' else '<'} {self.target_value:g} {self.unit}"
        if self.target_ratio is None:
            return "(information)"
        sign = ">=" if self.better == "higher" else "<="
        return f"{sign} {self.target_ratio:g}x {self.baseline_name}"

    @property
    def target_met(self) -> bool | None:
        if self.target_value is not None:
            met = self.figure > self.target_value if self.better == "higher" else self.figure < self.target_value
        elif self.target_ratio is None:
            return None if all(self.conditions.values()) else False  # information, unless a check failed
        else:
            met = self.ratio >= self.target_ratio if self.better == "higher" else self.ratio <= self.target_ratio
        return met and all(self.conditions.values())

    @property
    def ahead_of_peer(self) -> bool | None:
        if self.peer is None:
            return None
        return self.figure > self.peer if self.better == "higher" else self.figure < self.peer

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            ratio=round(self.ratio, 3),
            target=self.target,
            target_met=self.target_met,
            ahead_of_peer=self.ahead_of_peer,
            peer_ratio=round(self.figure / self.peer, 3) if self.peer else None,
            met=None if self.target_met is None else self.target_met and self.ahead_of_peer is not False,
        )
        del data["target_ratio"], data["target_value"]
        return data


class Bench:
    """Runs the workloads on the database Django is configured with."""

    def __init__(self, vendor: str, sizes: Sizes, only: Iterable[str] | None = None) -> None:
        self.vendor = vendor
        self.sizes = sizes
        self.only = set(only or ())
        self.raw: RawStore | RawDynamoDB = open_raw(vendor)
        #: The peer (eventsourcing) has no DynamoDB persistence.
        self.peer: Peer | None = None if vendor == "dynamodb" else Peer(vendor, fresh=True)
        self.rows: list[Row] = []

    def close(self) -> None:
        self.raw.close()
        if self.peer is not None:
            self.peer.close()

    @property
    def dynamodb(self) -> bool:
        return self.vendor == "dynamodb"

    def with_peer(self, runs: dict[str, Callable[[], object]], peer: Callable[[Peer], object]) -> dict[str, Any]:
        """Return the runs, with the peer's added when there is a peer."""
        if self.peer is not None:
            runs["peer"] = lambda p=self.peer: peer(p)
        return runs

    def peer_figure(self, times: dict[str, float], work: float, *, rate: bool = True) -> float | None:
        if "peer" not in times:
            return None
        return work / times["peer"] if rate else times["peer"] * 1000

    def wanted(self, workload: str) -> bool:
        return not self.only or workload in self.only

    def run(self) -> list[Row]:
        if self.dynamodb:
            progress("dynamodb warm-up (DynamoDB Local's JVM compiles its hot paths in the first calls)")
            self.warm_up()
        with ours.inline_projections_off():
            for name, step in [
                ("W1", self.w1_single_saves),
                ("W2", self.w2_batch_appends),
                ("W3", self.w3_load),
                ("W4", self.w4_snapshot_load),
                ("W5", self.w5_contention),
                ("W6", self.w6_replay),
            ]:
                if self.wanted(name):
                    progress(f"{self.vendor} {name}")
                    step()
        if self.wanted("W1"):
            progress(f"{self.vendor} W1 with the inline cart read model")
            self.w1_with_read_model()
        if self.wanted("W6"):
            progress(f"{self.vendor} W6 rebuild of the cart read model")
            self.w6_rebuild_read_model()
        # The project as it runs, the cart read model kept inline.
        for name, step in [("W7", self.w7_http_api), ("W8", self.w8_admin_stream_page), ("W9", self.w9_scale_out)]:
            if self.wanted(name):
                progress(f"{self.vendor} {name}")
                step()
        # Subscriptions: the events they deliver are written without the inline read model, as in W1-W6.
        with ours.inline_projections_off():
            for name, step in [("W10", self.w10_subscription_catch_up), ("W11", self.w11_commit_to_handler)]:
                if self.wanted(name):
                    progress(f"{self.vendor} {name}")
                    step()
        return self.rows

    def warm_up(self) -> None:
        """Untimed saves, batches and loads on both sides, so that W1 does not pay DynamoDB Local's JIT."""
        with ours.inline_projections_off():
            ours.single_saves(20, 5)
            ours.batch_appends(5, 48)
        for _ in range(5):
            stream = self.raw_stream(48)
            for version in range(48, 68):
                self.raw.append(stream, version, [item_payload(version)])
            self.raw.load(stream)

    def row(self, *args: Any, **kwargs: Any) -> Row:
        row = Row(args[0], self.vendor, *args[1:], **kwargs)
        self.rows.append(row)
        return row

    # W1, W2: writes

    def w1_single_saves(self) -> None:
        s = self.sizes
        events = s.carts * s.saves_per_cart

        def raw_saves() -> None:
            uuids = [uuid.uuid4() for _ in range(s.carts)]
            for version in range(s.saves_per_cart):
                for cart_uuid in uuids:
                    self.raw.append(cart_uuid, version, [item_payload(version)])

        times = interleaved(
            self.with_peer(
                {"ours": lambda: ours.single_saves(s.carts, s.saves_per_cart), "raw": raw_saves},
                lambda peer: peer.single_saves(s.carts, s.saves_per_cart),
            ),
            s.repeat,
        )
        cart = carts.save(ours.ShoppingCart.open())
        cart.add_item(item_name(1))
        statements = count_statements(lambda: carts.save(cart))
        self.row(
            "W1 single-event saves",
            events / times["ours"],
            "events/s",
            events / times["raw"],
            self.raw_name + (" PutItem" if self.dynamodb else ""),
            "higher",
            0.85,
            peer=self.peer_figure(times, events),
            extra={
                "events": events,
                "carts": s.carts,
                "saves_per_cart": s.saves_per_cart,
                "statements_per_save": statements,
            },
        )

    def w1_with_read_model(self) -> None:
        """W1 as the project runs it: the cart read model kept inline, in each save's transaction."""
        s = self.sizes
        events = s.carts * s.saves_per_cart
        raw = self.rows_named("W1 single-event saves")
        seconds = median_time(lambda: ours.single_saves(s.carts, s.saves_per_cart), s.repeat)
        cart = carts.save(ours.ShoppingCart.open())
        cart.add_item(item_name(1))
        statements = count_statements(lambda: carts.save(cart))
        self.row(
            "W1 saves + inline read model",
            events / seconds,
            "events/s",
            raw.baseline,
            raw.baseline_name,
            "higher",
            None,
            extra={
                "events": events,
                "carts": s.carts,
                "saves_per_cart": s.saves_per_cart,
                "statements_per_save": statements,
            },
        )

    def rows_named(self, workload: str) -> Row:
        return next(row for row in self.rows if row.workload == workload)

    def w2_batch_appends(self) -> None:
        s = self.sizes
        events = s.batches * s.batch_events

        def raw_batches() -> None:
            for _ in range(s.batches):
                self.raw.append(uuid.uuid4(), 0, [item_payload(n) for n in range(s.batch_events)])

        times = interleaved(
            self.with_peer(
                {"ours": lambda: ours.batch_appends(s.batches, s.batch_events), "raw": raw_batches},
                lambda peer: peer.batch_appends(s.batches, s.batch_events),
            ),
            s.repeat,
        )
        statements = count_statements(lambda: ours.batch_appends(1, s.batch_events))
        batching = {}
        if self.dynamodb:
            batching["batch_note"] = (
                f"{s.batch_events} events per save on both sides: the backend's max_events_per_append is "
                f"{store.get_backend().max_events_per_append}"
            )
        self.row(
            "W2 batch appends",
            events / times["ours"],
            "events/s",
            events / times["raw"],
            self.raw_name + (" TransactWriteItems" if self.dynamodb else " executemany"),
            "higher",
            0.7,
            peer=self.peer_figure(times, events),
            extra={
                "events": events,
                "batches": s.batches,
                "events_per_save": s.batch_events,
                "statements_per_save": statements,
                **batching,
            },
        )

    # W3, W4: loads

    def w3_load(self) -> None:
        s = self.sizes
        ours_uuid = ours.write_stream(s.long_stream)
        # The SQL baselines read the project's own rows; boto3 reads the same stream from its own table.
        raw_uuid = self.raw_stream(s.long_stream) if self.dynamodb else ours_uuid
        peer_id = self.peer.write_stream(s.long_stream) if self.peer else None
        times = interleaved(
            self.with_peer(
                {"ours": lambda: ours.load(ours_uuid), "raw": lambda: self.raw.load(raw_uuid)},
                lambda peer: peer.load(peer_id),
            ),
            s.load_repeat,
        )
        assert ours.load(ours_uuid).version == s.long_stream
        statements = count_statements(lambda: ours.load(ours_uuid))
        self.row(
            f"W3 load {s.long_stream:,} events",
            times["ours"] * 1000,
            "ms",
            times["raw"] * 1000,
            self.raw_name + (" Query+json" if self.dynamodb else " SELECT+json"),
            "lower",
            1.3,
            peer=self.peer_figure(times, 0, rate=False),
            extra={"events": s.long_stream, "statements_per_load": statements},
        )

    def w4_snapshot_load(self) -> None:
        s = self.sizes
        short = ours.write_stream(s.short_stream)
        short_time = median_time(lambda: ours.load(short), s.load_repeat * 3)
        for length in (s.long_stream, s.longer_stream):
            ours_uuid = ours.write_stream(length, snapshot_at=length - s.snapshot_gap)
            peer_id = self.peer.write_stream(length, snapshot_at=length - s.snapshot_gap) if self.peer else None
            times = interleaved(
                self.with_peer(
                    {"ours": lambda u=ours_uuid: ours.load(u)}, lambda peer, p=peer_id: peer.load_snapshotted(p)
                ),
                s.load_repeat * 3,
            )
            assert ours.load(ours_uuid).version == length
            statements = count_statements(lambda u=ours_uuid: ours.load(u))
            self.row(
                f"W4 snapshot load {length:,}",
                times["ours"] * 1000,
                "ms",
                short_time * 1000,
                f"load of {s.short_stream} events",
                "lower",
                2.0,
                peer=self.peer_figure(times, 0, rate=False),
                extra={
                    "events": length,
                    "snapshot_at": length - s.snapshot_gap,
                    "short_stream": s.short_stream,
                    "statements_per_load": statements,
                },
            )

    # W5: contention

    def w5_contention(self) -> None:
        s = self.sizes
        saves = s.workers * s.saves_per_worker
        if self.dynamodb:
            self.w5_contention_dynamodb()
            return
        assert self.peer is not None
        for mode in ("threads", "processes"):
            cart = carts.save(ours.ShoppingCart.open())
            peer_cart = new_peer_cart(self.peer)
            if mode == "threads":
                elapsed, attempts = contend_threads(
                    s.workers, lambda i, n, u=cart.uuid: ours_update(u, n), s.saves_per_worker
                )
                peer_elapsed, peer_attempts = contend_threads(
                    s.workers,
                    lambda i, n, p=peer_cart: worker_peer(self.vendor).update(p, item_name(n)),
                    s.saves_per_worker,
                    init=lambda: worker_peer(self.vendor),
                )
            else:
                elapsed, attempts = _contend_processes("ours", self.vendor, cart.uuid, s.workers, s.saves_per_worker)
                peer_elapsed, peer_attempts = _contend_processes(
                    "peer", self.vendor, peer_cart, s.workers, s.saves_per_worker
                )
            versions, head = ours.stream_versions(cart.uuid)
            contiguous = versions == list(range(1, saves + 2)) and head == saves + 1
            peer_versions = self.peer.stream_versions(peer_cart)
            self.row(
                f"W5 contention {s.workers} {mode}",
                saves / elapsed,
                "saves/s",
                saves / peer_elapsed,
                "eventsourcing",
                "higher",
                1.0,
                peer=saves / peer_elapsed,
                extra={
                    "saves": saves,
                    "conflicts": attempts - saves,
                    "peer_conflicts": peer_attempts - saves,
                    "contiguous": contiguous,
                    "peer_contiguous": peer_versions == list(range(1, saves + 2)),
                },
                conditions={"contiguous": contiguous},
            )

    def w5_contention_dynamodb(self) -> None:
        """W5 on DynamoDB: the baseline is boto3 reading the last version and putting the next, retrying."""
        s = self.sizes
        raw = self.raw
        assert isinstance(raw, RawDynamoDB)
        saves = s.workers * s.saves_per_worker
        for mode in ("threads", "processes"):
            cart = carts.save(ours.ShoppingCart.open())
            raw_uuid = self.raw_stream(1)
            if mode == "threads":
                elapsed, attempts = contend_threads(
                    s.workers, lambda i, n, u=cart.uuid: ours_update(u, n), s.saves_per_worker
                )
                raw_elapsed, raw_attempts = contend_threads(
                    s.workers, lambda i, n, u=raw_uuid: raw.update(u, item_payload(n)), s.saves_per_worker
                )
            else:
                elapsed, attempts = _contend_processes("ours", self.vendor, cart.uuid, s.workers, s.saves_per_worker)
                raw_elapsed, raw_attempts = _contend_processes(
                    "raw", self.vendor, raw_uuid, s.workers, s.saves_per_worker
                )
            versions, head = ours.stream_versions(cart.uuid)
            contiguous = versions == list(range(1, saves + 2)) and head == saves + 1
            self.row(
                f"W5 contention {s.workers} {mode}",
                saves / elapsed,
                "saves/s",
                saves / raw_elapsed,
                "boto3 Query+conditional PutItem",
                "higher",
                None,  # the target is against the peer, which has no DynamoDB persistence
                extra={
                    "saves": saves,
                    "workers": s.workers,
                    "saves_per_worker": s.saves_per_worker,
                    "conflicts": attempts - saves,
                    "raw_conflicts": raw_attempts - saves,
                    "contiguous": contiguous,
                    "raw_contiguous": raw.versions(raw_uuid) == list(range(1, saves + 2)),
                },
                conditions={"contiguous": contiguous},
            )

    def raw_stream(self, events: int) -> uuid.UUID:
        """Write a cart stream of `events` events to the raw DynamoDB table, 48 per call; return its uuid."""
        stream = uuid.uuid4()
        chunk = ours.max_per_append(1000)
        for start in range(0, events, chunk):
            count = min(chunk, events - start)
            self.raw.append(stream, start, [item_payload(start + n) for n in range(count)])
        return stream

    # W6: replay

    def w6_replay(self) -> None:
        s = self.sizes
        total = sum(1 for _ in ours.read_all())
        # The SQL baselines read the project's rows; boto3 reads its own table, which holds fewer.
        raw_total = sum(1 for _ in self.raw.read_all())
        times = interleaved(
            self.with_peer(
                {"ours": lambda: consume(ours.read_all()), "raw": lambda: consume(self.raw.read_all())},
                lambda peer: consume(peer.read_all()),
            ),
            s.repeat,
        )
        peer_total = sum(1 for _ in self.peer.read_all()) if self.peer else 0
        peak_quarter, peak_full = peaks(lambda sample: consume(ours.read_all(), sample=sample, every=total // 4))
        flat = peak_full <= 1.25 * peak_quarter
        self.row(
            "W6 replay read_all",
            total / times["ours"],
            "events/s",
            raw_total / times["raw"],
            self.raw_name + (" Scan+json" if self.dynamodb else " server-side cursor"),
            "higher",
            0.7,
            peer=self.peer_figure(times, peer_total),
            extra={
                "events": total,
                "raw_events": raw_total,
                "peak_kib_first_quarter": round(peak_quarter / 1024),
                "peak_kib_all": round(peak_full / 1024),
                "memory_flat": flat,
            },
            conditions={"memory_flat": flat},
        )

    def w6_rebuild_read_model(self) -> None:
        """Rebuild the cart read model from the whole log (the projection's replay), against the raw read."""
        from eventstore import catchup

        s = self.sizes
        projection = ours.cart_read_model()
        raw = self.rows_named("W6 replay read_all")
        seconds = median_time(lambda: catchup.replay(projection), max(1, s.repeat - 1))
        total = raw.extra["events"]
        quarter = total // 4

        def replay(sample: Callable[[], None]) -> None:
            def on_progress(done: catchup.Progress) -> None:
                if done.events >= quarter and not sampled:
                    sampled.append(True)
                    sample()

            sampled: list[bool] = []
            catchup.replay(projection, on_progress=on_progress)

        peak_quarter, peak_full = peaks(replay)
        flat = peak_full <= 1.25 * peak_quarter
        self.row(
            "W6 rebuild cart read model",
            total / seconds,
            "events/s",
            raw.baseline,
            raw.baseline_name,
            "higher",
            0.7,
            extra={
                "events": total,
                "peak_kib_first_quarter": round(peak_quarter / 1024),
                "peak_kib_all": round(peak_full / 1024),
                "memory_flat": flat,
            },
            conditions={"memory_flat": flat},
        )

    # W7: the HTTP API under gunicorn

    def w7_http_api(self) -> None:
        """Add-item requests/s through gunicorn, against a plain DRF update of one row on the same server."""
        s = self.sizes
        token = web.api_token()
        # Carts are their owner's: the API answers 404 to anyone else (carts/access.py).
        owner = web.token_owner(token)
        cart_paths = [
            f"/api/carts/{carts.save(ours.ShoppingCart.open(owner=owner)).uuid}/items/" for _ in range(s.http_carts)
        ]
        crud_paths = [f"/bench/summaries/{u}/items/" for u in web.new_summaries(s.http_carts)]
        sides = {"api": cart_paths, "crud": crud_paths}
        phases: dict[str, list[web.Phase]] = {name: [] for name in sides}
        warmups: list[web.Phase] = []
        progress(
            f"{self.vendor} W7 gunicorn: {s.http_workers} gthread workers x {s.http_threads} threads, "
            f"{s.http_clients} keep-alive clients, {s.http_carts} carts"
        )
        with web.gunicorn(s.http_workers, s.http_threads, self.vendor) as server:
            for paths in sides.values():  # warm up: connections, caches, the first requests of each worker
                warmups.append(web.drive(server.url, token, paths, s.http_clients, max(5, s.http_requests // 10)))
            for round_ in range(s.http_repeat):
                for name, paths in sides.items():  # taking turns, so that drift hits both alike
                    phase = web.drive(server.url, token, paths, s.http_clients, s.http_requests, offset=round_)
                    phases[name].append(phase)
                    progress(
                        f"{self.vendor} W7 {name} round {round_ + 1}: {phase.rate:,.0f} requests/s, "
                        f"{phase.requests - phase.ok} not 2xx"
                    )
            log = server.log_tail(20)
        connections.close_all()
        api, crud = phases["api"], phases["crud"]
        every = [*warmups, *api, *crud]
        all_ok = all(phase.ok == phase.requests for phase in every)
        # Every add-item answered 2xx appended one event: the carts are at 1 (opened) + their answers.
        acknowledged = warmups[0].ok + sum(phase.ok for phase in api)
        backend = store.get_backend()
        appended = sum(backend.get_version(UUID(path.split("/")[3])) - 1 for path in cart_paths)
        statements = {name: web.request_statements(token, paths[0]) for name, paths in sides.items()}
        self.row(
            "W7 HTTP add-item (gunicorn)",
            web.median_rate(api),
            "requests/s",
            web.median_rate(crud),
            "DRF update of one row",
            "higher",
            0.7,
            extra={
                "requests_per_run": api[0].requests,
                "runs": len(api),
                "workers": s.http_workers,
                "worker_class": f"gthread x {s.http_threads} threads",
                "clients": s.http_clients,
                "carts": s.http_carts,
                **{f"api_{key}": value for key, value in web.latency_ms(api).items()},
                **{f"crud_{key}": value for key, value in web.latency_ms(crud).items()},
                "api_rates": [round(phase.rate, 1) for phase in api],
                "crud_rates": [round(phase.rate, 1) for phase in crud],
                "statuses": dict(sum((phase.statuses for phase in every), Counter())),
                "reconnects": sum(phase.reconnects for phase in every),
                "events_appended": appended,
                "api_statements_per_request": statements["api"],
                "crud_statements_per_request": statements["crud"],
                "server_log_tail": log if not all_ok else "",
            },
            conditions={"all_2xx": all_ok, "every_answer_appended": appended == acknowledged},
        )

    # W8: the admin stream page

    def w8_admin_stream_page(self) -> None:
        """Server time of the admin page of a long carts stream, and of a short one for reference."""
        from eventstore.stream_admin import stream_url

        s = self.sizes
        long_uuid = write_cart(s.long_stream)
        short_uuid = write_cart(s.short_stream)
        client = web.admin_client()
        snapshots = len(store.get_backend().list_snapshots(long_uuid))
        times = {
            name: web.page_time(client, stream_url(cart_uuid), s.admin_gets)
            for name, cart_uuid in (("long", long_uuid), ("short", short_uuid))
        }
        statements = count_statements(lambda: client.get(stream_url(long_uuid)))
        short_statements = count_statements(lambda: client.get(stream_url(short_uuid)))
        self.row(
            f"W8 admin stream page {s.long_stream:,}",
            times["long"] * 1000,
            "ms",
            times["short"] * 1000,
            f"page of {s.short_stream} events",
            "lower",
            None,
            target_value=100,
            extra={
                "events": s.long_stream,
                "snapshots": snapshots,
                "gets": s.admin_gets,
                "statements_per_page": statements,
                "short_statements_per_page": short_statements["count"],
            },
        )

    # W9: writers to distinct streams

    def w9_scale_out(self) -> None:
        """Appends/s of 1-16 writers to a stream each, through the backend and through the repository."""
        s = self.sizes
        latency = s.scale_latency_ms if self.dynamodb else None
        scale = scaleout.ScaleOut(
            self.vendor,
            s.scale_writers,
            s.scale_seconds,
            s.scale_latency_ms,
            indexer_poll=s.scale_indexer_poll,
            delay_writers=s.scale_delay_writers,
            delay_seconds=s.scale_delay_seconds,
        )
        rounds = scale.run()
        for done in rounds:
            single = next(r for r in rounds if r.path == done.path and r.writers == 1)
            tx = done.transactions_per_append
            conditions = {} if tx is None else {"one_transaction_per_append": round(tx, 2) <= 1.0}
            # The targets are DynamoDB's; elsewhere the figures are for information.
            target = scaleout.SCALE_TARGET if self.dynamodb and done.writers == scaleout.SCALE_WRITERS else None
            if done.path == scaleout.RAW_PATH:
                conditions, target = {}, None  # the emulator's own ceiling: for information
            self.row(
                f"W9 {done.path} {done.writers} writers",
                done.rate,
                "appends/s",
                single.rate,
                "1 writer",
                "higher",
                target,
                extra={**scaleout.row_extra(done, latency), "scale_target": target},
                conditions=conditions,
            )
        if scale.delay is not None:
            # DynamoDB: how long after its answer an append shows in read_all, the indexer keeping up with
            # a steady load; shown against the indexer's poll interval.
            delay = scale.delay
            summary = delay.summary()
            for quantile in ("p50", "p99"):
                self.row(
                    f"W9 indexer delay {quantile} (poll {delay.poll_seconds:g} s)",
                    summary[f"{quantile}_ms"],
                    "ms",
                    delay.poll_seconds * 1000,
                    "poll interval",
                    "lower",
                    None,
                    extra=summary,
                    conditions={"all_seen": delay.unseen == 0},
                )

    # W10, W11: subscriptions (bench/subscriptions.py)

    def w10_subscription_catch_up(self) -> None:
        """A worker catching a new no-op subscription up over N events, against `backend.read_all` over them:
        with the default batch_size, and with a larger one."""
        from eventstore.subscriptions import Subscription

        from . import subscriptions

        s = self.sizes
        result = subscriptions.catch_up(s.catchup_events, s.catchup_repeat, s.catchup_batch_sizes)
        baseline = statistics.median(result.baseline_seconds)
        decode = statistics.median(result.decode_seconds)
        for size, times in result.seconds.items():
            seconds = statistics.median(times)
            batch_size = size or Subscription("x", subscriptions.noop).batch_size
            every_event = all(n == s.catchup_events for n in result.delivered[size] + result.baseline_read)
            progress(
                f"{self.vendor} W10 catch-up (batch_size {batch_size}) {s.catchup_events / seconds:,.0f} events/s, "
                f"read_all {s.catchup_events / baseline:,.0f} events/s"
            )
            self.row(
                f"W10 subscription catch-up {s.catchup_events:,}" + (f" (batch_size {size})" if size else ""),
                s.catchup_events / seconds,
                "events/s",
                s.catchup_events / baseline,
                "backend.read_all",
                "higher",
                0.8,
                extra={
                    "events": s.catchup_events,
                    "runs": s.catchup_repeat,
                    "batch_size": batch_size,
                    "default_batch_size": size is None,
                    "read_all_batch_size": 1000,
                    "read_all_and_decode_events_per_s": round(s.catchup_events / decode),
                    "seconds": [round(t, 3) for t in times],
                    "baseline_seconds": [round(t, 3) for t in result.baseline_seconds],
                    "delivered": result.delivered[size],
                    "batches": -(-s.catchup_events // batch_size),
                    "statements_per_catch_up": result.statements[size],
                },
                conditions={"every_event_delivered": every_event},
            )

    def w11_commit_to_handler(self) -> None:
        """Delay from an append's return to its delivery by `run_subscriptions` (a subprocess) under a
        steady write load; shown against the worker's poll interval, which bounds it."""
        from . import subscriptions

        s = self.sizes
        for poll in s.delay_polls:
            delay = subscriptions.commit_to_handler(s.delay_rate, s.delay_seconds, poll)
            summary = delay.summary()
            all_delivered = delay.delivered == delay.appended
            progress(
                f"{self.vendor} W11 poll {delay.poll_seconds:g} s: p50 {summary['p50_ms']} ms, p99 "
                f"{summary['p99_ms']} ms, max {summary['max_ms']} ms; {delay.delivered} of {delay.appended} delivered"
            )
            extra = {
                **summary,
                "rate": s.delay_rate,
                "seconds": s.delay_seconds,
                "worker": "manage.py run_subscriptions (subprocess, bench/subscriber.py)",
                "worker_log_tail": "" if all_delivered and delay.exit_code == 0 else delay.worker_log,
            }
            conditions = {"all_delivered": all_delivered, "worker_exit_0": delay.exit_code == 0}
            for quantile in ("p50", "p99"):
                self.row(
                    f"W11 commit-to-handler {quantile} (poll {delay.poll_seconds:g} s)",
                    summary[f"{quantile}_ms"],
                    "ms",
                    delay.poll_seconds * 1000,
                    "poll interval",
                    "lower",
                    None,
                    extra=extra,
                    conditions=conditions,
                )

    @property
    def raw_name(self) -> str:
        return {"sqlite": "sqlite3", "postgresql": "psycopg", "dynamodb": "boto3"}[self.vendor]


def write_cart(events: int, chunk: int = 50) -> UUID:
    """Write a cart of `events` events through the carts repository (snapshots every 100), `chunk` per save
    (at most the backend's limit per append)."""
    chunk = ours.max_per_append(chunk)
    cart = carts.save(ours.ShoppingCart.open())
    for n in range(1, events):
        cart.add_item(item_name(n))
        if len(cart.changes) >= chunk:
            carts.save(cart)
    if cart.changes:
        carts.save(cart)
    assert cart.version == events
    return cart.uuid


def interleaved(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Return each run's median seconds, taking turns so that drift hits every side alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def consume(items: Iterable[object], *, sample: Callable[[], None] | None = None, every: int = 0) -> int:
    """Iterate to the end; call `sample()` once, after `every` items."""
    count = 0
    for _ in items:
        count += 1
        if count == every and sample is not None:
            sample()
    return count


def peaks(run: Callable[[Callable[[], None]], object]) -> tuple[int, int]:
    """Return the peak bytes traced (tracemalloc) when `run` calls its sampler, and at the end.

    A run whose memory does not grow with the events it handles has about the same peak a
    quarter of the way through as at the end.
    """
    early: list[int] = []
    tracemalloc.start()
    try:
        run(lambda: early.append(tracemalloc.get_traced_memory()[1]))
        final = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (early[0] if early else final), final


# Contention workers. Processes are forked: module state carries over, connections do not.

_peer_by_process: dict[int, Peer] = {}
_peer_lock = threading.Lock()


def worker_peer(vendor: str) -> Peer:
    """Return this process's peer applications (a forked child opens its own connections)."""
    pid = os.getpid()
    with _peer_lock:
        if pid not in _peer_by_process:
            _peer_by_process[pid] = Peer(vendor, create_tables=False)
        return _peer_by_process[pid]


def new_peer_cart(peer: Peer) -> uuid.UUID:
    from .peer import PeerCart

    cart = PeerCart()
    peer.snapshotting.save(cart)
    return cart.id


def ours_update(cart_uuid: uuid.UUID, n: int) -> int:
    """Add an item through carts.update (which retries); return how many attempts it took."""
    attempts = 0

    def add(cart: ours.ShoppingCart) -> None:
        nonlocal attempts
        attempts += 1
        cart.add_item(item_name(n))

    carts.update(cart_uuid, add, attempts=1000)
    return attempts


def contend_threads(
    workers: int, update: Callable[[int, int], int], saves: int, init: Callable[[], object] = lambda: None
) -> tuple[float, int]:
    """Run `workers` threads each doing `saves` updates; return (seconds, attempts).

    `init` runs in each worker before the clock starts; `update(worker, n)` returns its attempts.
    """
    barrier = threading.Barrier(workers + 1)
    attempts = [0] * workers
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            init()
            barrier.wait()
            for n in range(saves):
                attempts[index] += update(index, n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    return timed_threads(threads, barrier, errors), sum(attempts)


def _contend_processes(kind: str, vendor: str, cart_id: uuid.UUID, workers: int, saves: int) -> tuple[float, int]:
    from . import worker

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(target=worker.contend, args=(kind, vendor, cart_id, saves, barrier, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=120)
    except threading.BrokenBarrierError:
        raise RuntimeError(f"a contention worker failed to start: {results.get(timeout=10)}") from None
    start = time.perf_counter()
    outcomes = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join(timeout=60)
    failures = [error for _, error in outcomes if error]
    if failures:
        raise RuntimeError(f"a contention worker failed: {failures[0]}")
    return elapsed, sum(total for total, _ in outcomes)
