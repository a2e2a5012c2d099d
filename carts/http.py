"""The HTTP contract of the carts API: ETags, preconditions, and how every error becomes a response.

Every 4xx body is `{"code": ..., "detail": ...}` plus data the client can act on; invalid input adds
`errors` (messages by field). `exception_handler` is the one place domain and store errors are
mapped to statuses; DRF has no 409, 410, 412 or 413 classes, so they are here.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import exception_handler as drf_exception_handler

from eventstore import store
from eventstore.exceptions import (
    AggregateClosed,
    AggregateNotFound,
    BackendUnavailable,
    ConcurrencyError,
    EventLimitError,
    VersionNotFound,
)

from .exceptions import CartRuleViolation

#: Most unseen events listed in a 409 or 412 body; `unseen_events_truncated` says when there were more.
MAX_UNSEEN_EVENTS = 100


class ApiError(APIException):
    """An API error with extra body fields beside `code` and `detail`."""

    def __init__(self, detail: str | None = None, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, code)
        self.code = code or self.default_code
        self.extra = extra


class BadRequest(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request is not valid."
    default_code = "bad_request"


class Forbidden(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "You may not do this."
    default_code = "permission_denied"


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."
    default_code = "not_found"


def cart_not_found(cart_uuid: UUID) -> NotFound:
    """Return the answer for a cart that does not exist, or that the user may not see: the same one."""
    return NotFound(f"Cart {cart_uuid} does not exist.", code="cart_not_found")


class Gone(ApiError):
    status_code = status.HTTP_410_GONE
    default_detail = "The cart is closed; its history stays readable."
    default_code = "cart_closed"


class RequestTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class RuleViolated(ApiError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The command breaks a rule of the cart; nothing was recorded."
    default_code = "cart_rule_violation"


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The event store cannot be reached right now; try again later."
    default_code = "backend_unavailable"


class VersionMismatch(ApiError):
    """The cart is not at the version the client wrote against; nothing was written."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "concurrent_modification"

    def __init__(self, cart_uuid: UUID, expected_version: int, actual_version: int, detail: str) -> None:
        unseen = unseen_events(cart_uuid, expected_version)
        super().__init__(
            detail,
            expected_version=expected_version,
            actual_version=actual_version,
            unseen_events=unseen[:MAX_UNSEEN_EVENTS],
            unseen_events_truncated=len(unseen) > MAX_UNSEEN_EVENTS,
        )


class Conflict(VersionMismatch):
    """Writes kept losing races against other writers, every attempt retried from fresh state."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "concurrent_modification"

    def __init__(self, cart_uuid: UUID, expected_version: int, actual_version: int) -> None:
        super().__init__(
            cart_uuid,
            expected_version,
            actual_version,
            f"Cart {cart_uuid} kept changing while this request was retried (now at version {actual_version}); "
            "nothing was written. Send it again.",
        )


class PreconditionFailed(VersionMismatch):
    """The If-Match version is not the cart's version."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "version_mismatch"

    def __init__(self, cart_uuid: UUID, expected_version: int, actual_version: int) -> None:
        # expected_version 0: If-Match named no strong ETag, so the client has seen no version of the cart.
        super().__init__(
            cart_uuid,
            expected_version,
            actual_version,
            (
                f"If-Match expects version {expected_version} but cart {cart_uuid} is at version {actual_version}; "
                if expected_version
                else f'If-Match names no strong ETag (a weak one, like W/"{actual_version}", never matches); '
            )
            + "nothing was written.",
        )


def unseen_events(cart_uuid: UUID, after_version: int) -> list[dict[str, Any]]:
    """Return version and name of the cart's events after `after_version` (one more than listed, at most)."""
    events = store.get_backend().read_stream(
        cart_uuid, from_version=after_version + 1, to_version=after_version + MAX_UNSEEN_EVENTS + 1
    )
    return [{"version": event.version, "name": event.name} for event in events]


# ETags


def etag(version: int) -> str:
    """Return the strong ETag of a cart at `version`."""
    return f'"{version}"'


def parse_versions(header: str | None, name: str, *, weak: bool) -> set[int] | None:
    """Return the versions an If-Match / If-None-Match header matches (None when absent or `*`).

    `weak` chooses RFC 9110's comparison: the weak one (If-None-Match) lets `W/"3"` match version 3,
    the strong one (If-Match) never matches a weak tag, so a header of weak tags only matches nothing.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        text = tag.strip()
        is_weak = text.startswith("W/")
        text = text.removeprefix("W/").strip('"')
        if not re.fullmatch(r"[0-9]{1,12}", text):
            raise BadRequest(
                f'{name} must list cart versions as ETags, like {name}: "3"; got {header[:100]!r}.',
                code="invalid_precondition",
            )
        if weak or not is_weak:
            versions.add(int(text))
    return versions


def if_match(request: Request) -> set[int] | None:
    """Return the versions the client's If-Match accepts (strong comparison), None when it sets no precondition."""
    return parse_versions(request.headers.get("If-Match"), "If-Match", weak=False)


def if_none_match(request: Request) -> set[int] | None:
    """Return the versions the client's If-None-Match names (weak comparison), None when it sets none."""
    return parse_versions(request.headers.get("If-None-Match"), "If-None-Match", weak=True)


# Errors to responses


def translate(exc: Exception) -> Exception:
    """Return the API error for a domain or store error (other exceptions unchanged)."""
    if isinstance(exc, AggregateClosed):
        return Gone(
            f"Cart {exc.aggregate_uuid} was closed at version {exc.version}; its history stays readable.",
            version=exc.version,
            cart_uuid=exc.aggregate_uuid,
        )
    if isinstance(exc, VersionNotFound):
        return NotFound(str(exc), code="version_not_found", current_version=exc.current_version)
    if isinstance(exc, AggregateNotFound):
        return cart_not_found(exc.aggregate_uuid)
    if isinstance(exc, ConcurrencyError):
        return Conflict(exc.aggregate_uuid, exc.expected_version, exc.actual_version)
    if isinstance(exc, CartRuleViolation):
        return RuleViolated(str(exc), code=exc.code)
    if isinstance(exc, EventLimitError):
        return RuleViolated(str(exc), code="event_limit")
    if isinstance(exc, BackendUnavailable):
        return ServiceUnavailable()
    if isinstance(exc, (RequestDataTooBig, TooManyFieldsSent)):
        return RequestTooLarge(str(exc))
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer every API error with `{"code", "detail", ...}`; unknown exceptions stay 500s."""
    exc = translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, APIException)
    if isinstance(exc, ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "The request is not valid.",
            "errors": _by_field(exc.detail),
            "error_codes": _by_field(exc.get_codes()),
        }
        return response
    codes = exc.get_codes()
    extra = dict(getattr(exc, "extra", {}))
    if isinstance(exc, Gone) and "cart_uuid" in extra:
        extra["events"] = reverse(
            "cart-events", kwargs={"uuid": extra.pop("cart_uuid")}, request=context.get("request")
        )
    response.data = {
        "code": getattr(exc, "code", None) or (codes if isinstance(codes, str) else exc.default_code),
        "detail": str(exc.detail),
        **extra,
    }
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = "5"
    return response


def _by_field(detail: Any) -> Any:
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return detail
