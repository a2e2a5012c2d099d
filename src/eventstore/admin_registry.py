"""Which repository rebuilds each aggregate type, so that the admin can show a stream's state.

Apps register their repositories from their own admin module (`carts/admin.py`); the admin never
guesses a domain class from a stored type name.
"""

from __future__ import annotations

from typing import Any

from .repository import Repository

_repositories: dict[str, Repository[Any]] = {}


def register_repository(repository: Repository[Any]) -> Repository[Any]:
    """Let the admin rehydrate streams of the repository's aggregate type with it; return it."""
    aggregate_type = repository.aggregate_class.aggregate_type
    existing = _repositories.get(aggregate_type)
    if existing is not None and existing is not repository:
        raise ValueError(f"A repository is already registered for aggregate type {aggregate_type!r}.")
    _repositories[aggregate_type] = repository
    return repository


def unregister_repository(aggregate_type: str) -> None:
    """Forget the repository registered for `aggregate_type` (nothing happens when there is none)."""
    _repositories.pop(aggregate_type, None)


def repository_for(aggregate_type: str) -> Repository[Any] | None:
    """Return the repository registered for `aggregate_type`, or None."""
    return _repositories.get(aggregate_type)
