"""Idempotency-Key on POST: a retried request gets the first response back, and nothing is appended again.

With the Django backend the first successful response is stored in the same database transaction as
the events it appended, so either both are kept or neither. Two racing requests with one key: the
second's insert waits on the first's unique key, fails, and the second answers with the first's
response, its own events rolled back.

A backend that commits elsewhere (DynamoDB) cannot share that transaction, so the key is claimed
first, in a committed row of its own: a racing request with the same key finds the claim and is
told to retry (409 `idempotency_key_in_progress`, Retry-After) instead of appending again; the
claim becomes the stored response when the write succeeds and is released when it fails. A claim
left behind by a server that died mid-request is taken over after CLAIM_TIMEOUT: the one case where
a retry may append twice, since whether the dead request's events landed is unknown.

Failed requests are not stored: retrying them runs them again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from eventstore import store

from .http import ApiError, BadRequest
from .models import IdempotentResponse

HEADER = "Idempotency-Key"
VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("ETag", "Location")
CLAIMED = 0  # status_code of a claim whose request has not answered yet
CLAIM_TIMEOUT = timedelta(seconds=60)

View = Callable[..., Response]


class IdempotencyKeyReused(ApiError):
    status_code = 422
    default_detail = "This Idempotency-Key was already used for a different request."
    default_code = "idempotency_key_reused"


class IdempotencyKeyInProgress(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."
    default_code = "idempotency_key_in_progress"
    wait = 1  # DRF's exception handler turns it into Retry-After


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
        protect = in_one_transaction if store.get_backend().commits_with_django_database else claimed_first
        return protect(lambda: view(self, request, *args, **kwargs), request, key, fingerprint)

    return wrapper


def in_one_transaction(run: Callable[[], Response], request: Request, key: str, fingerprint: str) -> Response:
    """Run the request and store its response in the transaction that appends its events."""
    try:
        with transaction.atomic():
            stored = IdempotentResponse.objects.filter(user=request.user, key=key).first()
            if stored is not None:
                return replay(stored, fingerprint)
            response = run()
            if 200 <= response.status_code < 300:
                IdempotentResponse.objects.create(user=request.user, key=key, fingerprint=fingerprint, **kept(response))
            return response
    except IntegrityError:
        # Another request with this key committed first: ours was rolled back, answer with theirs.
        stored = IdempotentResponse.objects.filter(user=request.user, key=key).first()
        if stored is None:
            raise
        return replay(stored, fingerprint)


def claimed_first(run: Callable[[], Response], request: Request, key: str, fingerprint: str) -> Response:
    """Claim the key in a committed row, run the request, then keep its response or release the claim."""
    claim = claim_key(request, key, fingerprint)
    if isinstance(claim, Response):
        return claim
    held = IdempotentResponse.objects.filter(pk=claim.pk)
    try:
        response = run()
    except BaseException:
        held.delete()
        raise
    if 200 <= response.status_code < 300:
        held.update(**kept(response))
    else:
        held.delete()
    return response


def claim_key(request: Request, key: str, fingerprint: str) -> IdempotentResponse | Response:
    """Return a new claim on the key, or the stored response; 409 while another request holds the claim."""
    for _ in range(2):  # a second time when a stale claim was just removed
        try:
            with transaction.atomic():
                return IdempotentResponse.objects.create(
                    user=request.user, key=key, fingerprint=fingerprint, status_code=CLAIMED, body={}
                )
        except IntegrityError:
            stored = IdempotentResponse.objects.filter(user=request.user, key=key).first()
            if stored is None:
                continue  # released meanwhile: claim it now
            if stored.status_code != CLAIMED:
                return replay(stored, fingerprint)
            if stored.fingerprint != fingerprint:
                raise reused(stored) from None
            if stored.created_at > timezone.now() - CLAIM_TIMEOUT:
                raise IdempotencyKeyInProgress() from None
            IdempotentResponse.objects.filter(pk=stored.pk, status_code=CLAIMED).delete()
    raise IdempotencyKeyInProgress()


def kept(response: Response) -> dict[str, Any]:
    return {
        "status_code": response.status_code,
        "body": response.data,
        "headers": {name: response[name] for name in KEPT_HEADERS if response.has_header(name)},
    }


def fingerprint_of(request: Request) -> str:
    """Return a digest of what the request asks for: method, path and parsed body."""
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def reused(stored: IdempotentResponse) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        f"{HEADER} {stored.key!r} was first used for another request (a different method, path or body)."
    )


def replay(stored: IdempotentResponse, fingerprint: str) -> Response:
    """Return the stored response again, or refuse a different request sent under the same key."""
    if stored.fingerprint != fingerprint:
        raise reused(stored)
    return Response(stored.body, status=stored.status_code, headers={**stored.headers, REPLAYED_HEADER: "true"})
