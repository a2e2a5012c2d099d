"""Idempotency-Key on POST: a retried request gets the first response back, and nothing is appended again.

Two layers. Underneath, the events a keyed request saves get ids derived from (user, key, stream,
index) (eventstore's deterministic_event_ids): whatever happened to the first attempt's answer, the
store's event-uuid guard refuses its events a second time, and the retry is answered from the cart's
current state with `Idempotent-Replayed: true`. On top, the first response is kept and replayed.

With the Django backend the first successful response is stored in the same database transaction as
the events it appended, so either both are kept or neither. Two racing requests with one key: the
second's insert waits on the first's unique key, fails, and the second answers with the first's
response, its own events rolled back.

A backend that commits elsewhere (DynamoDB) cannot share that transaction, so the key is claimed
first, in a committed row of its own: a racing request with the same key finds the claim and is
told to retry (409 `idempotency_key_in_progress`, Retry-After) instead of running again. The claim
becomes the stored response when the write succeeds. When the request fails it is released only if
nothing can have been appended (a 4xx); otherwise it is kept as interrupted, and the next retry takes
it over at once: the derived event ids make that safe. A claim left by a server that died
mid-request is taken over after claim_timeout(), just as safely.

Failed requests are not stored: retrying them runs them again.

Kept responses expire after key_ttl() (IDEMPOTENCY_KEY_TTL, a day by default): an older one is not
replayed, and `manage.py purge_idempotency_keys` deletes them. The derived event ids outlive it, though,
since the seed is the user, the key and the request's fingerprint: the very same request retried after
expiry still finds its events stored and is answered as a replay, while a new request under a reused
key derives new ids and runs.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from uuid import UUID, uuid5

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from eventstore import store
from eventstore.context import EVENT_ID_NAMESPACE, deterministic_event_ids, event_id_seed, event_uuid_for
from eventstore.exceptions import BackendUnavailable

from .http import ApiError, BadRequest, translate
from .models import IdempotentResponse

HEADER = "Idempotency-Key"
VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("ETag", "Location")
CLAIMED = 0  # status_code of a claim whose request has not answered yet
INTERRUPTED = 1  # status_code of a claim whose request failed after its events may have landed
DEFAULT_CLAIM_TIMEOUT = 60  # seconds; settings.IDEMPOTENCY_CLAIM_TIMEOUT overrides it
DEFAULT_KEY_TTL = 24 * 60 * 60  # seconds; settings.IDEMPOTENCY_KEY_TTL overrides it

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
        fingerprint = fingerprint_of(request, kwargs.get("uuid"))
        protect = in_one_transaction if store.get_backend().commits_with_django_database else claimed_first

        def run() -> Response:
            token = _replayed.set(False)
            try:
                response = view(self, request, *args, **kwargs)
                if _replayed.get():
                    response[REPLAYED_HEADER] = "true"
                return response
            finally:
                _replayed.reset(token)

        # The fingerprint in the seed: a key reused for another request after its response expired derives
        # other ids, instead of being taken for a retry of the first.
        with deterministic_event_ids(f"{request.user.pk}:{key}:{fingerprint}"):
            return protect(run, request, key, fingerprint)

    return wrapper


# The retry of a request whose events are stored, found by their derived ids


_replayed: contextvars.ContextVar[bool] = contextvars.ContextVar("carts_idempotent_replayed", default=False)


def mark_replayed() -> None:
    """Say that this request's events were already stored by an earlier attempt: its answer is a replay."""
    _replayed.set(True)


def is_retry_of_stored_write() -> bool:
    """Return whether a DuplicateEventError now means "an earlier attempt with this key stored these events"."""
    return event_id_seed() is not None


def derived_cart_uuid() -> UUID | None:
    """Return the uuid a keyed request opening a cart without one gives it (the same on every retry), or None."""
    seed = event_id_seed()
    return uuid5(EVENT_ID_NAMESPACE, f"{seed}|new-stream") if seed is not None else None


def opened_by_this_request(first_event_uuid: UUID, cart_uuid: UUID) -> bool:
    """Return whether the stream's first event is the one this keyed request (an earlier attempt) saved."""
    return event_id_seed() is not None and first_event_uuid == event_uuid_for(cart_uuid, 0)


def in_one_transaction(run: Callable[[], Response], request: Request, key: str, fingerprint: str) -> Response:
    """Run the request and store its response in the transaction that appends its events."""
    try:
        with transaction.atomic():
            stored = IdempotentResponse.objects.filter(user=request.user, key=key).first()
            if stored is not None and expired(stored):
                stored.delete()
            elif stored is not None:
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
    except BaseException as exc:
        if nothing_written(exc):
            held.delete()
        else:
            # Its events may be stored: keep the key, and let the next retry take it over at once (the
            # derived event ids make a second append impossible).
            held.update(status_code=INTERRUPTED)
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
            if expired(stored):
                IdempotentResponse.objects.filter(pk=stored.pk, created_at=stored.created_at).delete()
                continue
            if stored.status_code not in (CLAIMED, INTERRUPTED):
                return replay(stored, fingerprint)
            if stored.fingerprint != fingerprint:
                raise reused(stored) from None
            if stored.status_code == CLAIMED and stored.created_at > timezone.now() - claim_timeout():
                raise IdempotencyKeyInProgress() from None
            IdempotentResponse.objects.filter(pk=stored.pk, status_code=stored.status_code).delete()
    raise IdempotencyKeyInProgress()


def claim_timeout() -> timedelta:
    """Return how long a claim of a request that never answered (its server died) holds the key."""
    return timedelta(seconds=getattr(settings, "IDEMPOTENCY_CLAIM_TIMEOUT", DEFAULT_CLAIM_TIMEOUT))


def key_ttl() -> timedelta:
    """Return how long a kept response is replayed to the key's retries."""
    return timedelta(seconds=getattr(settings, "IDEMPOTENCY_KEY_TTL", DEFAULT_KEY_TTL))


def expired(stored: IdempotentResponse) -> bool:
    """Return whether a kept response (or a claim) is past key_ttl(): its key is free again."""
    return stored.created_at < timezone.now() - key_ttl()


def nothing_written(exc: BaseException) -> bool:
    """Return whether a failed request is known to have appended nothing: a 4xx answer, not an outage."""
    if not isinstance(exc, Exception) or isinstance(exc, BackendUnavailable):
        return False
    answer = translate(exc)
    return isinstance(answer, APIException) and answer.status_code < 500


def kept(response: Response) -> dict[str, Any]:
    return {
        "status_code": response.status_code,
        "body": response.data,
        "headers": {name: response[name] for name in KEPT_HEADERS if response.has_header(name)},
    }


def fingerprint_of(request: Request, cart_id: str | None = None) -> str:
    """Return a digest of what the request asks for: method, path and parsed body.

    `cart_id` is the cart id as the path spells it; the path counts with the canonical uuid in its
    place, so that `/api/carts/3F2B…/items/` asks for what `/api/carts/3f2b…/items/` does.
    """
    path = request.path
    if cart_id is not None:
        try:
            canonical = str(UUID(cart_id))
        except ValueError:
            pass  # not a cart id: the view answers 404, and nothing is kept
        else:
            path = path.replace(f"/{cart_id}/", f"/{canonical}/", 1)
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {path}\n{body}".encode()).hexdigest()


def reused(stored: IdempotentResponse) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        f"{HEADER} {stored.key!r} was first used for another request (a different method, path or body)."
    )


def replay(stored: IdempotentResponse, fingerprint: str) -> Response:
    """Return the stored response again, or refuse a different request sent under the same key."""
    if stored.fingerprint != fingerprint:
        raise reused(stored)
    return Response(stored.body, status=stored.status_code, headers={**stored.headers, REPLAYED_HEADER: "true"})
