"""The registry of aggregate types and the repositories that load and save them.

Registered once, from each installed app's `repositories` module (imported at startup, as the admin
imports `admin`), and asked by everyone: the admin's stream pages, `take_snapshots`,
`verify_eventstore`, `replay_projections`. So a repository's snapshot policy, event registry and
backend apply wherever its streams are rebuilt.

    # myapp/repositories.py
    import eventstore
    from .domain import Account

    accounts = eventstore.register(Account, snapshot_every=100)
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar, overload

from .aggregates import Aggregate
from .exceptions import UnknownAggregateType
from .repository import Repository

A = TypeVar("A", bound=Aggregate)


class RepositoryRegistry:
    """Aggregate types by name, each with the one repository that rebuilds its streams."""

    def __init__(self) -> None:
        self._repositories: dict[str, Repository[Any]] = {}
        # (aggregate type, class already registered, class refused): reported by the system checks.
        self.conflicts: list[tuple[str, type[Aggregate], type[Aggregate]]] = []
        self._lock = threading.Lock()

    @overload
    def register(self, target: Repository[A]) -> Repository[A]: ...

    @overload
    def register(self, target: type[A], **repository_options: Any) -> Repository[A]: ...

    def register(self, target: Repository[A] | type[A], **repository_options: Any) -> Repository[A]:
        """Register a repository, or an aggregate class with Repository options; return the repository.

        Registering the same repository again returns it. A second repository for a type already taken
        is refused, not raised: the system check eventstore.E003 names both classes.
        """
        if isinstance(target, Repository):
            if repository_options:
                raise TypeError("Repository options go to Repository(...), not to register(repository).")
            repository = target
        else:
            repository = Repository(target, **repository_options)
        aggregate_type = repository.aggregate_class.aggregate_type
        with self._lock:
            existing = self._repositories.get(aggregate_type)
            if existing is None:
                self._repositories[aggregate_type] = repository
                return repository
            if existing is repository:
                return repository
            if existing.aggregate_class is repository.aggregate_class and not isinstance(target, Repository):
                # An app module imported twice (autodiscovery, then a test's import) registers the class again.
                return existing
            self.conflicts.append((aggregate_type, existing.aggregate_class, repository.aggregate_class))
        return repository

    def unregister(self, aggregate_type: str) -> None:
        """Forget the repository of `aggregate_type` (nothing happens when there is none)."""
        with self._lock:
            self._repositories.pop(aggregate_type, None)

    def get(self, aggregate_type: str) -> Repository[Any]:
        """Return the repository of `aggregate_type`; raise UnknownAggregateType naming the registered ones."""
        repository = self._repositories.get(aggregate_type)
        if repository is None:
            raise UnknownAggregateType(aggregate_type, self.aggregate_types())
        return repository

    def repository_for(self, aggregate_type: str) -> Repository[Any] | None:
        """Return the repository of `aggregate_type`, or None."""
        return self._repositories.get(aggregate_type)

    def aggregate_types(self) -> list[str]:
        """Return the registered aggregate types, sorted."""
        return sorted(self._repositories)

    def repositories(self) -> list[Repository[Any]]:
        """Return the registered repositories, by aggregate type."""
        return [self._repositories[name] for name in self.aggregate_types()]

    def __contains__(self, aggregate_type: object) -> bool:
        return aggregate_type in self._repositories


#: The project's registry: what `eventstore.register` fills and every consumer asks.
repositories = RepositoryRegistry()


def register(target: Any, **repository_options: Any) -> Repository[Any]:
    """Register an aggregate's repository in the project's registry; return the repository."""
    return repositories.register(target, **repository_options)


def autodiscover() -> None:
    """Import every installed app's `repositories` module, where apps register their aggregates."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("repositories")


def register_projection(projection: Any, *, inline: bool = True) -> Any:
    """Register a projection (read model); an inline one is applied inside every append's transaction."""
    from .projections import registry as projections  # models: only once the app registry is ready

    return projections.register(projection, inline=inline)


def register_subscription(name: Any, handler: Any = None, **options: Any) -> Any:
    """Register a subscription (events delivered by `manage.py run_subscriptions`); see eventstore.subscriptions.

    `register_subscription(Subscription(...))`, `register_subscription("name", handler, **options)`, or as a
    decorator: `@register_subscription("name", events=[OrderPlaced])`.
    """
    from .subscriptions import register_subscription as register_in_registry

    return register_in_registry(name, handler, **options)
