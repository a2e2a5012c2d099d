"""Delete the kept Idempotency-Key responses that have expired: they are no longer replayed, only stored."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from carts.idempotency import CLAIMED, INTERRUPTED, claim_timeout, key_ttl
from carts.models import IdempotentResponse
from eventstore.management.commands._base import EventStoreCommand, batch_size, positive_int


class Command(EventStoreCommand):
    help = (
        "Delete kept Idempotency-Key responses older than IDEMPOTENCY_KEY_TTL (or --older-than). "
        "Claims of requests that may still be running are kept. Safe to run again, and from cron."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--older-than",
            type=positive_int,
            metavar="SECONDS",
            help=f"Delete those older than this (default IDEMPOTENCY_KEY_TTL, now {int(key_ttl().total_seconds())}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument(
            "--batch-size", type=batch_size, default=1000, help="Rows deleted per statement (default 1000)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        age = timedelta(seconds=options["older_than"]) if options["older_than"] else key_ttl()
        cutoff = now - age
        # A claim belongs to a request that may still be running (or whose retry takes it over): it goes
        # only once it is older than the claim timeout too, whatever --older-than says.
        claims_cutoff = min(cutoff, now - claim_timeout())
        expired = IdempotentResponse.objects.filter(
            Q(created_at__lt=cutoff) & (~Q(status_code__in=(CLAIMED, INTERRUPTED)) | Q(created_at__lt=claims_cutoff))
        )
        described = f"older than {cutoff:%Y-%m-%d %H:%M:%S} UTC ({describe(age)})"
        if options["dry_run"]:
            count = expired.count()
            kept = IdempotentResponse.objects.count() - count
            self.stdout.write(f"Dry run: would delete {count} kept responses {described}; {kept} would stay.")
            return
        deleted = 0
        while pks := list(expired.order_by("created_at").values_list("pk", flat=True)[: options["batch_size"]]):
            # Deleted by primary key, each batch re-checked against the cutoff: a row a request renewed
            # meanwhile is not taken.
            deleted += expired.filter(pk__in=pks).delete()[0]
            self.progress(f"  deleted {deleted} so far")
        kept = IdempotentResponse.objects.count()
        self.progress(f"Deleted {deleted} kept responses {described}; {kept} stay.", final=True)


def describe(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"
