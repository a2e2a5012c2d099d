"""Every URL the project serves, made concrete: walk the resolver and fill each pattern's arguments."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from django.contrib import admin
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

SAMPLE_UUID = "00000000-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class Route:
    """A served URL pattern and one concrete path for it."""

    name: str
    path: str


def _walk(patterns: Sequence[URLPattern | URLResolver], namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            inner = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(entry.url_patterns, inner)
        elif entry.name:
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), entry


def _candidates(argument: str, samples: Mapping[str, Sequence[str]]) -> Sequence[str]:
    if argument in samples:
        return samples[argument]
    if argument == "app_label":
        return sorted({model._meta.app_label for model in admin.site._registry})
    return [SAMPLE_UUID, "1", "x"]


def served_routes(samples: Mapping[str, Sequence[str]] | None = None) -> list[Route]:
    """Return one concrete path for every named URL pattern that reverses with sample arguments.

    `samples` maps argument names to values to try first (real object ids make deeper pages reachable).
    """
    samples = samples or {}
    routes: dict[str, Route] = {}
    for name, pattern in _walk(get_resolver().url_patterns):
        arguments = list(pattern.pattern.regex.groupindex)
        for values in itertools.product(*(_candidates(a, samples) for a in arguments)):
            try:
                path = reverse(name, kwargs=dict(zip(arguments, values, strict=True)))
            except NoReverseMatch:
                continue
            routes.setdefault(path, Route(name, path))
            if "app_label" not in arguments:
                break
    return sorted(routes.values(), key=lambda route: route.path)
