"""Project-wide guards: refuse oversized bodies and NUL bytes up front, answer 503 when storage is unreachable."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from eventstore.exceptions import BackendUnavailable

logger = logging.getLogger(__name__)

#: Seconds a client is told to wait before retrying when the database cannot be reached.
DEFAULT_RETRY_AFTER = 5


class RequestSizeLimitMiddleware:
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with 413 before anything reads it.

    Django checks that limit only for form data and `request.body`; DRF's parsers read the raw
    stream, so without this a JSON body of any size would be read into memory.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            return JsonResponse(
                {"code": "invalid_content_length", "detail": f"Content-Length {raw_length[:40]!r} is not a size."},
                status=400,
            )
        if limit is not None and length > limit:
            return JsonResponse(
                {
                    "code": "request_too_large",
                    "detail": f"The request body has {length} bytes; the limit is {limit}.",
                },
                status=413,
            )
        return self.get_response(request)


class NulByteMiddleware:
    """Refuse a query string carrying a NUL byte with 400.

    PostgreSQL text cannot hold NUL, so such a value reaching a query (an admin search, a filter)
    would end in a 500; no legitimate parameter carries one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            return JsonResponse(
                {"code": "nul_in_query", "detail": "The query string contains a NUL byte (%00)."}, status=400
            )
        return self.get_response(request)


class ServiceUnavailableMiddleware:
    """Turn an unreachable database or event store into 503 with Retry-After, never a 500.

    The event store raises BackendUnavailable whatever its backend. OperationalError and InterfaceError
    still come from the rest of the site's Django database: sessions, users, tokens, the read model.
    Put it last in MIDDLEWARE so that it sees the view's exception first.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, BackendUnavailable | OperationalError | InterfaceError):
            return None
        logger.error("Storage unavailable for %s %s: %s", request.method, request.path, exception, exc_info=exception)
        retry_after = getattr(settings, "SERVICE_UNAVAILABLE_RETRY_AFTER", DEFAULT_RETRY_AFTER)
        response = JsonResponse(
            {
                "code": "backend_unavailable",
                "detail": "The database cannot be reached right now. Retry later; a write retried with the same "
                "Idempotency-Key is recorded once.",
            },
            status=503,
        )
        response["Retry-After"] = str(retry_after)
        return response
