"""Idempotency-Key on POST: a retried request gets the first response back, and nothing is appended again.

The first successful response is stored in the same database transaction as the events it appended
(with the Django backend), so either both are kept or neither. Two racing requests with one key:
the second's insert waits on the first's unique key, fails, and the second answers with the first's
response, its own events rolled back. Failed requests are not stored: retrying them runs them again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from .http import ApiError, BadRequest
from .models import IdempotentResponse

HEADER = "Idempotency-Key"
VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("ETag", "Location")

View = Callable[..., Response]


class IdempotencyKeyReused(ApiError):
    status_code = 422
    default_detail = "This Idempotency-Key was already used for a different request."
    default_code = "idempotency_key_reused"


def idempotent(view: View) -> View:
    """Make a POST action honour the Idempotency-Key header."""

    @wraps(view)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return view(self, request, *args, **kwargs)
        if not VALID_KEY.match(key):
            raise BadRequest(f"{HEADER} must be 1 to 255 visible ASCII characters.", code="invalid_idempotency_key")
        fingerprint = fingerprint_of(request)
        try:
            with transaction.atomic():
                stored = IdempotentResponse.objects.filter(user=request.user, key=key).first()
                if stored is not None:
                    return replay(stored, fingerprint)
                response = view(self, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    IdempotentResponse.objects.create(
                        user=request.user,
                        key=key,
                        fingerprint=fingerprint,
                        status_code=response.status_code,
                        body=response.data,
                        headers={name: response[name] for name in KEPT_HEADERS if response.has_header(name)},
                    )
                return response
        except IntegrityError:
            # Another request with this key committed first: ours was rolled back, answer with theirs.
            stored = IdempotentResponse.objects.filter(user=request.user, key=key).first()
            if stored is None:
                raise
            return replay(stored, fingerprint)

    return wrapper


def fingerprint_of(request: Request) -> str:
    """Return a digest of what the request asks for: method, path and parsed body."""
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def replay(stored: IdempotentResponse, fingerprint: str) -> Response:
    """Return the stored response again, or refuse a different request sent under the same key."""
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"{HEADER} {stored.key!r} was first used for another request (a different method, path or body)."
        )
    return Response(stored.body, status=stored.status_code, headers={**stored.headers, REPLAYED_HEADER: "true"})
