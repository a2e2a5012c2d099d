"""Tables of the Django backend (events, stream heads, snapshots), of checkpoints and of subscriptions."""

from django.db import models


class EventRecord(models.Model):
    """One recorded event. `id` is its global position: the order of the whole store."""

    id = models.BigAutoField(primary_key=True, verbose_name="position")
    event_uuid = models.UUIDField(unique=True)
    aggregate_uuid = models.UUIDField()
    aggregate_type = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    schema_version = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField()
    metadata = models.JSONField(default=dict)
    recorded_at = models.DateTimeField()

    class Meta:
        db_table = "eventstore_event"
        verbose_name = "event"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["aggregate_uuid", "version"], name="eventstore_event_stream_version"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="eventstore_event_version_positive"),
        ]
        indexes = [
            models.Index(fields=["aggregate_type", "id"], name="eventstore_event_type_pos"),
            models.Index(fields=["name"], name="eventstore_event_name"),
            models.Index(fields=["recorded_at"], name="eventstore_event_recorded"),
        ]

    def __str__(self) -> str:
        return f"{self.aggregate_type} {self.aggregate_uuid} v{self.version} {self.name}"


class Stream(models.Model):
    """The head of one stream, so that listing and current versions never scan events."""

    aggregate_uuid = models.UUIDField(primary_key=True)
    aggregate_type = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    closed = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "eventstore_stream"
        ordering = ["-updated_at", "-aggregate_uuid"]
        indexes = [
            models.Index(fields=["-updated_at", "-aggregate_uuid"], name="eventstore_stream_recent"),
            models.Index(
                fields=["aggregate_type", "-updated_at", "-aggregate_uuid"], name="eventstore_stream_type_recent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.aggregate_type} {self.aggregate_uuid}"


class Snapshot(models.Model):
    """An aggregate's state at a version, saved so that loading need not replay everything."""

    aggregate_uuid = models.UUIDField()
    aggregate_type = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    state = models.JSONField()
    schema_version = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "eventstore_snapshot"
        ordering = ["aggregate_uuid", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["aggregate_uuid", "version"], name="eventstore_snapshot_stream_version"),
        ]

    def __str__(self) -> str:
        return f"{self.aggregate_type} {self.aggregate_uuid} @ v{self.version}"


class Checkpoint(models.Model):
    """How far a projection has got through the store: the global position it has handled."""

    LIVE = "live"
    REPLAYING = "replaying"
    STOPPED = "stopped"
    STATUSES = [
        (LIVE, "live: kept up to date as events are appended"),
        (REPLAYING, "replaying: being rebuilt from the event log"),
        (STOPPED, "stopped: an event failed; resume once fixed"),
    ]

    name = models.CharField(max_length=100, primary_key=True)
    position = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=STATUSES, default=LIVE)
    error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "eventstore_checkpoint"

    def __str__(self) -> str:
        return f"{self.name} @ {self.position} ({self.status})"


class ProjectionCheckpoint(Checkpoint):
    """A projection as the admin lists it: its checkpoint, status and error."""

    class Meta:
        proxy = True
        verbose_name = "projection"


class SubscriptionState(models.Model):
    """Where a subscription has got (its checkpoint), whether it may run, and which worker holds its lease.

    Workers take and renew the lease with a conditional UPDATE, so one worker at a time handles the
    subscription, whatever the event backend; a lease not renewed by `lease_expires_at` is free to take.
    """

    ACTIVE = "active"
    STOPPED = "stopped"
    STATUSES = [
        (ACTIVE, "active: delivered to by the worker holding the lease"),
        (STOPPED, "stopped: an event failed every attempt; resume once fixed"),
    ]

    name = models.CharField(max_length=100, primary_key=True)
    position = models.BigIntegerField(default=0, help_text="Global position of the last event handled.")
    position_recorded_at = models.DateTimeField(null=True, blank=True, help_text="When that event was recorded.")
    status = models.CharField(max_length=10, choices=STATUSES, default=ACTIVE)
    paused = models.BooleanField(default=False, help_text="Paused subscriptions are left alone by every worker.")
    lease_owner = models.CharField(max_length=200, blank=True, default="", help_text="The worker holding the lease.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When the lease was last renewed.")
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "eventstore_subscription"
        verbose_name = "subscription"
        ordering = ["name"]
        permissions = [("pause_subscription", "Can pause and resume subscriptions")]

    def __str__(self) -> str:
        return f"{self.name} @ {self.position} ({'paused' if self.paused else self.status})"


class ParkedEvent(models.Model):
    """An event a subscription's handler failed on every attempt, set aside so that the others go on.

    Never the payload: the event is read from the store when it is delivered again.
    """

    PARKED = "parked"
    RETRY = "retry"
    DELIVERED = "delivered"
    SKIPPED = "skipped"
    STATUSES = [
        (PARKED, "parked: waiting for a person to retry or skip it"),
        (RETRY, "retry: to be delivered again by the subscription's worker"),
        (DELIVERED, "delivered: a retry succeeded"),
        (SKIPPED, "skipped: a person chose not to deliver it"),
    ]

    subscription = models.CharField(max_length=100)
    position = models.BigIntegerField()
    event_uuid = models.UUIDField()
    aggregate_uuid = models.UUIDField(verbose_name="stream")
    aggregate_type = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    event_name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=STATUSES, default=PARKED)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    retried_by = models.CharField(max_length=150, blank=True, default="")
    retried_at = models.DateTimeField(null=True, blank=True)
    skipped_by = models.CharField(max_length=150, blank=True, default="")
    skipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "eventstore_parked_event"
        verbose_name = "parked event"
        ordering = ["subscription", "position"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "position"], name="eventstore_parked_subscription_pos"),
        ]
        indexes = [models.Index(fields=["subscription", "status", "position"], name="eventstore_parked_status")]
        permissions = [("resolve_parkedevent", "Can retry or skip parked events")]

    def __str__(self) -> str:
        return f"{self.subscription}: {self.event_name} at position {self.position} ({self.status})"
