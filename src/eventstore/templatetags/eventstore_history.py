"""Template filters of the stream pages: event payloads and state values as text (escaped by the template)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

from ..history import format_value, pretty_json, summarize

register = template.Library()


@register.filter
def es_value(value: Any) -> str:
    """Return a state value as text."""
    return format_value(value)


@register.filter
def es_json(value: Any) -> str:
    """Return a payload as indented JSON."""
    return pretty_json(value)


@register.filter
def es_fields(payload: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Return a payload's top-level fields as (key, text) pairs."""
    return summarize(payload or {})
