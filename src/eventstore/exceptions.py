"""Errors raised by the event store. Callers never see a driver's exception."""

from __future__ import annotations

from uuid import UUID


class EventStoreError(Exception):
    """Base class of every event store error."""


class ConcurrencyError(EventStoreError):
    """The stream was not at the version the writer expected; nothing was written."""

    def __init__(self, aggregate_uuid: UUID, expected_version: int, actual_version: int) -> None:
        self.aggregate_uuid = aggregate_uuid
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"Stream {aggregate_uuid} is at version {actual_version}, "
            f"not the expected version {expected_version}; nothing was written."
        )


class DuplicateEventError(EventStoreError):
    """An event with this uuid is already stored (a retried append that had landed)."""

    def __init__(self, aggregate_uuid: UUID, event_uuids: list[UUID]) -> None:
        self.aggregate_uuid = aggregate_uuid
        self.event_uuids = event_uuids
        super().__init__(f"Stream {aggregate_uuid}: event(s) {', '.join(map(str, event_uuids))} are already stored.")


class AggregateNotFound(EventStoreError):
    """The stream has no events."""

    def __init__(self, aggregate_uuid: UUID, aggregate_type: str = "") -> None:
        self.aggregate_uuid = aggregate_uuid
        self.aggregate_type = aggregate_type
        label = f"{aggregate_type} " if aggregate_type else ""
        super().__init__(f"{label}{aggregate_uuid} not found: the stream has no events.")


class AggregateClosed(EventStoreError):
    """The aggregate was closed by its tombstone event; its history stays readable."""

    def __init__(self, aggregate_uuid: UUID, version: int, aggregate: object = None) -> None:
        self.aggregate_uuid = aggregate_uuid
        self.version = version
        self.aggregate = aggregate
        super().__init__(f"{aggregate_uuid} was closed at version {version}.")


class VersionNotFound(EventStoreError):
    """Time travel asked for a version the stream has not reached."""

    def __init__(self, aggregate_uuid: UUID, version: int, current_version: int) -> None:
        self.aggregate_uuid = aggregate_uuid
        self.version = version
        self.current_version = current_version
        super().__init__(f"Stream {aggregate_uuid} has no version {version}: it is at version {current_version}.")


class UnknownEventError(EventStoreError):
    """A stored event's name is not registered, so it cannot be read."""

    def __init__(self, name: str, aggregate_uuid: UUID | None = None, version: int | None = None) -> None:
        self.name = name
        self.aggregate_uuid = aggregate_uuid
        self.version = version
        where = f" (stream {aggregate_uuid}, version {version})" if aggregate_uuid else ""
        super().__init__(f"Unknown event {name!r}{where}: no event class is registered under that name.")


class EventDecodeError(EventStoreError):
    """A stored payload could not be upcast or turned into its event class."""

    def __init__(
        self,
        name: str,
        schema_version: int,
        reason: str,
        aggregate_uuid: UUID | None = None,
        version: int | None = None,
    ) -> None:
        self.name = name
        self.schema_version = schema_version
        self.aggregate_uuid = aggregate_uuid
        self.version = version
        where = f" in stream {aggregate_uuid} at version {version}" if aggregate_uuid else ""
        super().__init__(f"Cannot decode event {name!r} (schema {schema_version}){where}: {reason}")


class EventLimitError(EventStoreError):
    """An append exceeds a limit of the backend (events per append, bytes per event)."""

    def __init__(self, aggregate_uuid: UUID, message: str) -> None:
        self.aggregate_uuid = aggregate_uuid
        super().__init__(f"Stream {aggregate_uuid}: {message}")


class BackendUnavailable(EventStoreError):
    """The storage behind the event store cannot be reached right now; try again later."""


class UnknownAggregateType(EventStoreError, LookupError):
    """No repository is registered for this aggregate type."""

    def __init__(self, aggregate_type: str, registered: list[str]) -> None:
        self.aggregate_type = aggregate_type
        self.registered = registered
        known = ", ".join(registered) if registered else "none (register them in your apps' repositories.py)"
        super().__init__(f"Unknown aggregate type {aggregate_type!r}; registered: {known}.")


class UnknownSubscription(EventStoreError, LookupError):
    """No subscription is registered under that name."""

    def __init__(self, name: str, registered: list[str]) -> None:
        self.name = name
        self.registered = registered
        super().__init__(f"Unknown subscription {name!r}; registered: {', '.join(registered) or 'none'}.")


class LeaseLost(EventStoreError):
    """Another worker holds the subscription's lease now; this one must not move its checkpoint."""

    def __init__(self, subscription: str, owner: str) -> None:
        self.subscription = subscription
        self.owner = owner
        super().__init__(f"Worker {owner} no longer holds the lease of subscription {subscription}.")


class IndexerLeaseLost(EventStoreError):
    """Another indexer holds the lease on the DynamoDB log head; this one must not write the index."""
