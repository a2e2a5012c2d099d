"""Tables of the Django backend: events, stream heads and snapshots."""

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
