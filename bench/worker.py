"""A contention worker process (W5: ours, the peer's or on DynamoDB boto3's), started with "spawn": it
sets Django up from the environment the parent left (the same database), so no lock or connection
crosses a fork."""

from __future__ import annotations

import uuid
from typing import Any


def contend(kind: str, vendor: str, cart_id: uuid.UUID, saves: int, barrier: Any, results: Any) -> None:
    """Do `saves` load-modify-save updates of one cart, ours or the peer's; report the attempts."""
    try:
        import django

        django.setup()
        from django.db import connections

        from .common import item_name

        if kind == "ours":
            from .workloads import ours_update

            def update(n: int) -> int:
                return ours_update(cart_id, n)
        elif kind == "raw":  # DynamoDB's baseline: boto3 on the raw table the parent created
            from .common import item_payload
            from .raw import RawDynamoDB, raw_dynamodb_table

            raw = RawDynamoDB(raw_dynamodb_table(), create=False)

            def update(n: int) -> int:
                return raw.update(cart_id, item_payload(n))
        else:
            from .peer import Peer

            peer = Peer(vendor, create_tables=False, pool_size=1)

            def update(n: int) -> int:
                return peer.update(cart_id, item_name(n))

        with_projections_off = kind == "ours"
        if with_projections_off:
            from . import ours

            context = ours.inline_projections_off()
            context.__enter__()
        barrier.wait()
        total = sum(update(n) for n in range(saves))
        results.put((total, None))
        connections.close_all()
    except BaseException as exc:
        results.put((0, repr(exc)))
        barrier.abort()  # let the parent stop waiting and report the error
