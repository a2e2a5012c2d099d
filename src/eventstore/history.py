"""A stream's history for people: state at a version, what each event changed, and blame.

Everything here reads through a Repository and the backend interface, never the ORM, so it works
on every backend. States are compared as flat maps from a path (("items", "apple")) to a leaf value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload
from uuid import UUID

from .aggregates import Aggregate
from .backends.base import EventStoreBackend, StoredEvent
from .exceptions import EventStoreError, VersionNotFound
from .repository import Repository
from .snapshots import is_usable, restore

Path = tuple[str, ...]
FlatState = dict[Path, Any]

PATH_SEPARATOR = " \u203a "  # a single right-pointing angle quote


def flatten(state: Mapping[str, Any], prefix: Path = ()) -> FlatState:
    """Return the state's leaves by path; lists and empty mappings are leaves."""
    flat: FlatState = {}
    for key, value in state.items():
        path = (*prefix, str(key))
        # dict, not Mapping: states are JSON-ready, and an ABC check per leaf doubles a replay's cost.
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def path_label(path: Path) -> str:
    """Return a path as people read it, the parts joined by an angle quote."""
    return PATH_SEPARATOR.join(path)


def format_value(value: Any) -> str:
    """Return a leaf value as text: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list) and not value:
        return "(empty)"
    return json.dumps(value, ensure_ascii=False, default=str)


def pretty_json(value: Any) -> str:
    """Return a payload as indented JSON, keeping non-ASCII text readable."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def summarize(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return a payload's top-level fields as (key, text) pairs for a one-line summary."""
    return [(str(key), format_value(value)) for key, value in payload.items()]


# Diffs


@dataclass(frozen=True)
class Change:
    """One part of the state that an event added, removed or changed."""

    path: Path
    kind: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None

    @property
    def label(self) -> str:
        return path_label(self.path)


def diff_flat(before: Mapping[Path, Any], after: Mapping[Path, Any]) -> list[Change]:
    """Return every leaf that differs between two flat states, in the order of `after` then `before`."""
    changes = [
        Change(path, "added", after=value) if path not in before else Change(path, "changed", before[path], value)
        for path, value in after.items()
        if path not in before or before[path] != value
    ]
    changes.extend(Change(path, "removed", before=value) for path, value in before.items() if path not in after)
    return changes


_MISSING = object()
_CONTAINERS = (dict, list)


def detached(state: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a JSON-ready state that shares no dict or list with it, so that comparing it
    with the aggregate's next state works even when get_state() hands out its own containers."""
    return {key: _detached(value) if isinstance(value, _CONTAINERS) else value for key, value in state.items()}


def _detached(value: Any) -> Any:
    if isinstance(value, dict):
        return detached(value)
    return [_detached(item) if isinstance(item, _CONTAINERS) else item for item in value]


def changed_leaves(
    before: Mapping[str, Any], after: Mapping[str, Any], prefix: Path = ()
) -> Iterator[tuple[Path, bool]]:
    """Yield (path, present) for every leaf that differs between two nested states, as diff_flat of
    their flattened forms would (present is False for a removed leaf), descending only into the
    parts that differ: blame runs this once per replayed event, and most of a state stays the same."""
    try:
        # C-speed set difference when the values are hashable (the usual leaves: str, int, ...).
        keys = {key for key, _ in after.items() ^ before.items()}
    except TypeError:
        keys = {key for key in after.keys() | before.keys() if before.get(key, _MISSING) != after.get(key, _MISSING)}
    for key in keys:
        path = (*prefix, str(key))
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        old_nested = isinstance(old, dict) and bool(old)
        new_nested = isinstance(new, dict) and bool(new)
        if old_nested and new_nested:
            yield from changed_leaves(old, new, path)
            continue
        if old_nested:
            yield from ((leaf, False) for leaf in flatten(old, path))
        elif old is not _MISSING and (new is _MISSING or new_nested):
            yield path, False  # a leaf gone, or become a mapping
        if new_nested:
            yield from ((leaf, True) for leaf in flatten(new, path))
        elif new is not _MISSING:
            yield path, True


def diff_states(before: Mapping[Path, Any], after: Mapping[Path, Any]) -> list[Change]:
    """Return the changes people care about: without an empty container filling up or emptying.

    Adding the first item turns the leaf `items: {}` into `items > apple`; reporting the empty
    mapping as removed would be noise, and likewise its reappearance when the last item goes.
    """
    changes = diff_flat(before, after)
    added = [c.path for c in changes if c.kind == "added"]
    removed = [c.path for c in changes if c.kind == "removed"]
    return [change for change in changes if not _is_container_noise(change, added, removed)]


def _is_container_noise(change: Change, added: Sequence[Path], removed: Sequence[Path]) -> bool:
    if change.kind == "removed" and _is_empty_container(change.before):
        return any(_is_under(path, change.path) for path in added)
    if change.kind == "added" and _is_empty_container(change.after):
        return any(_is_under(path, change.path) for path in removed)
    return False


def _is_empty_container(value: Any) -> bool:
    return isinstance(value, Mapping) and not value


def _is_under(path: Path, prefix: Path) -> bool:
    return len(path) > len(prefix) and path[: len(prefix)] == prefix


# Time travel with blame


@dataclass(frozen=True)
class StatePart:
    """One leaf of the state and the event that last changed it (None: not within the replayed window)."""

    path: Path
    value: Any
    changed_by: StoredEvent | None

    @property
    def label(self) -> str:
        return path_label(self.path)


@dataclass(frozen=True)
class VersionState:
    """The state at a version, the event that made it, what that event changed, and blame."""

    aggregate: Aggregate
    event: StoredEvent
    state: dict[str, Any]
    parts: list[StatePart]
    changes: list[Change]
    #: The version the replay started from (0: the stream's start, so blame is complete).
    replayed_from: int
    #: How many events the replay applied.
    replayed: int

    @property
    def version(self) -> int:
        return self.event.version

    @property
    def blame_complete(self) -> bool:
        return self.replayed_from == 0


def state_at(
    repository: Repository[Any], aggregate_uuid: UUID, version: int, *, blame_window: int | None = None
) -> VersionState:
    """Return the state at `version`, what its event changed, and which event last changed each part.

    Rehydrates once, applying events one at a time and comparing states as it goes: it starts from
    the latest usable snapshot at or below `version - blame_window` (from the stream's start when
    `blame_window` is None or no snapshot is that old). Parts unchanged within that window are
    blamed on nobody. Raise VersionNotFound when the stream has not reached `version`.
    """
    if version < 1:
        raise ValueError(f"Versions start at 1; {version} was asked for.")
    if blame_window is not None and blame_window < 1:
        raise ValueError(f"A blame window holds at least one event, not {blame_window}.")
    backend = repository.backend
    aggregate, previous = _starting_point(repository, backend, aggregate_uuid, version, blame_window)
    replayed_from = aggregate.version
    blame: dict[Path, StoredEvent] = {}
    before, previous = previous, previous
    event: StoredEvent | None = None
    for stored in backend.read_stream(aggregate_uuid, from_version=replayed_from + 1, to_version=version):
        _apply(repository, aggregate, stored)
        current = detached(aggregate.get_state())
        for path, present in changed_leaves(previous, current):
            if present:
                blame[path] = stored
            else:
                blame.pop(path, None)
        before, previous, event = previous, current, stored
    if event is None or aggregate.version < version:
        raise VersionNotFound(aggregate_uuid, version, aggregate.version)
    flat_before, flat_now = flatten(before), flatten(previous)
    return VersionState(
        aggregate=aggregate,
        event=event,
        state=aggregate.get_state(),
        parts=[StatePart(path, value, blame.get(path)) for path, value in flat_now.items()],
        changes=diff_states(flat_before, flat_now),
        replayed_from=replayed_from,
        replayed=version - replayed_from,
    )


def _starting_point(
    repository: Repository[Any],
    backend: EventStoreBackend,
    aggregate_uuid: UUID,
    version: int,
    blame_window: int | None,
) -> tuple[Aggregate, dict[str, Any]]:
    if blame_window is not None and version - blame_window >= 1:
        snapshot = backend.get_snapshot(aggregate_uuid, max_version=version - blame_window)
        if snapshot is not None and is_usable(snapshot, repository.aggregate_class):
            aggregate = restore(snapshot, repository.aggregate_class)
            return aggregate, detached(aggregate.get_state())
    # Before its first event an aggregate has no state at all, whatever its constructor sets.
    return repository.aggregate_class(aggregate_uuid), {}


def _apply(repository: Repository[Any], aggregate: Aggregate, stored: StoredEvent) -> None:
    if stored.version != aggregate.version + 1:
        raise EventStoreError(
            f"Stream {stored.aggregate_uuid} is broken: version {stored.version} ({stored.name}) "
            f"follows version {aggregate.version}."
        )
    aggregate.apply(
        repository.events.decode(stored.name, stored.schema_version, stored.data, stored.aggregate_uuid, stored.version)
    )


# Paginating a stream's events


class StreamHistory(Sequence[StoredEvent]):
    """A stream's events newest first, read a slice (a version range) at a time: for a Paginator."""

    def __init__(self, backend: EventStoreBackend, aggregate_uuid: UUID, current_version: int) -> None:
        self.backend = backend
        self.aggregate_uuid = aggregate_uuid
        self.current_version = current_version

    def __len__(self) -> int:
        return self.current_version

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...
    @overload
    def __getitem__(self, index: slice) -> list[StoredEvent]: ...
    def __getitem__(self, index: int | slice) -> StoredEvent | list[StoredEvent]:
        if isinstance(index, int):
            events = self[index : index + 1] if index >= 0 else self[len(self) + index : len(self) + index + 1]
            if not events:
                raise IndexError(index)
            return events[0]
        start, stop, step = index.indices(len(self))
        if step != 1 or stop <= start:
            return []
        # Position i from the newest is version current - i.
        newest, oldest = self.current_version - start, self.current_version - stop + 1
        events = list(self.backend.read_stream(self.aggregate_uuid, from_version=oldest, to_version=newest))
        return events[::-1]

    def __iter__(self) -> Iterator[StoredEvent]:
        return iter(self[:])

    def page_of(self, version: int, per_page: int) -> int:
        """Return the number of the page (1-based) that shows `version`."""
        return (self.current_version - version) // per_page + 1
