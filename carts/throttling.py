"""Authentication and throttles read from settings at request time, so tests and deployments can switch them.

DRF copies its settings into class attributes at import; these classes look them up on every request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import throttling
from rest_framework.authentication import BasicAuthentication
from rest_framework.request import Request
from rest_framework.settings import api_settings


class OptionalBasicAuthentication(BasicAuthentication):
    """HTTP Basic, only when settings.API_BASIC_AUTH (DEBUG or DJANGO_API_BASIC_AUTH=1) allows it."""

    def authenticate(self, request: Request) -> Any:
        if not getattr(settings, "API_BASIC_AUTH", False):
            return None
        return super().authenticate(request)


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


class OptionalBasicScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """HTTP Basic in the schema: accepted only where enabled (DEBUG or DJANGO_API_BASIC_AUTH=1)."""

    target_class = "carts.throttling.OptionalBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "basic"}
