"""Access to the EVENTSTORE setting, read when asked for, never at import time."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "BACKEND": "eventstore.backends.django.DjangoBackend",
    "OPTIONS": {},
}


def eventstore_settings() -> dict[str, Any]:
    """Return the EVENTSTORE setting merged over the defaults."""
    return {**DEFAULTS, **getattr(settings, "EVENTSTORE", {})}
