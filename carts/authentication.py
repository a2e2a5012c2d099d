"""HTTP Basic for the API, switched by settings.API_BASIC_AUTH at request time (DEBUG or DJANGO_API_BASIC_AUTH=1).

Basic runs the password hasher on every request (hundreds of milliseconds of CPU): tokens are the API's
way in, Basic a convenience for local development.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BasicAuthentication
from rest_framework.request import Request


class OptionalBasicAuthentication(BasicAuthentication):
    """HTTP Basic, only when settings.API_BASIC_AUTH (DEBUG or DJANGO_API_BASIC_AUTH=1) allows it."""

    def authenticate(self, request: Request) -> Any:
        if not getattr(settings, "API_BASIC_AUTH", False):
            return None
        return super().authenticate(request)


class OptionalBasicScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """HTTP Basic in the schema: accepted only where enabled (DEBUG or DJANGO_API_BASIC_AUTH=1)."""

    target_class = "carts.authentication.OptionalBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "basic"}
