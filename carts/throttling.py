"""Throttles that read their rates from settings at request time, so tests and deployments can switch them.

DRF copies its settings into class attributes at import; these classes look them up on every request.
"""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.settings import api_settings


class _CurrentRate:
    scope: str | None

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # type: ignore[no-any-return]


class AnonRateThrottle(_CurrentRate, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_CurrentRate, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(_CurrentRate, throttling.ScopedRateThrottle):
    pass
