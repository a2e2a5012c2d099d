"""The OpenAPI contract of the carts API, in one place: what a client generated from /api/schema/ lives on.

Each operation gets an id a person would choose, public descriptions, parameters with their bounds,
every status it can answer with the headers that status carries, and error bodies a client can tell
apart: where one status has bodies of different shapes, a `oneOf` with a discriminator on `code`.
Views apply `cart_operations` and `token_operation`; nothing here runs at request time.

Statuses every operation can answer, whatever it does: 400 (a malformed header, query or body, also
from the middleware: NUL in the query, a bad Content-Length), 429 (every request is throttled), 503
(storage unreachable, from config.middleware or carts.http). Operations that need a login add 401.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)

from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import REPLAYED_HEADER
from .middleware import HEADER as REQUEST_ID_HEADER
from .serializers import (
    AddItemSerializer,
    CartExistsSerializer,
    CartNotFoundSerializer,
    CartSerializer,
    CartSummarySerializer,
    ConcurrentModificationSerializer,
    ErrorSerializer,
    EventPageSerializer,
    GoneSerializer,
    KeyInProgressSerializer,
    KeyReusedSerializer,
    OpenCartSerializer,
    TokenFormSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    TooManyOpenCartsSerializer,
    ValidationErrorSerializer,
    VersionMismatchSerializer,
    VersionNotFoundSerializer,
)

#: Largest page of a cart's history (larger page_size values are cut to it).
MAX_EVENTS_PAGE_SIZE = 500
#: Largest page of the cart list (DRF's PageNumberPagination cuts larger page_size values to it).
MAX_CARTS_PAGE_SIZE = 200
#: Largest whole number a query parameter takes (views.WHOLE_NUMBER: at most 12 digits).
MAX_WHOLE_NUMBER = 999_999_999_999


def whole_number(description: str, maximum: int = MAX_WHOLE_NUMBER) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": maximum, "description": description}


# Request parameters

CART_STATUS = {"$ref": "#/components/schemas/CartStatus"}

CART_ID = OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The cart's id.")
ITEM_NAME = OpenApiParameter(
    "name", OpenApiTypes.STR, OpenApiParameter.PATH, description="The item's name, percent-encoded."
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='Write only if the cart is at this version (its ETag, e.g. "3"; compared strongly, so a weak W/"3" '
    "never matches); else 412 and nothing is written. "
    "Without it, a write that loses a race is retried on fresh state, then answered 409.",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='304 when the cart is still at this ETag (compared weakly: W/"3" matches "3").',
)
IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern=r"^[\x21-\x7e]{1,255}$",
    description="1 to 255 visible ASCII characters. Retrying with the same key returns the first response "
    f"(with {REPLAYED_HEADER}: true) and appends nothing more.",
)
REQUEST_ID = OpenApiParameter(
    REQUEST_ID_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Correlation id stored in the metadata of the events this request appends; echoed back "
    "(a new one when absent or not 1 to 128 of A-Z a-z 0-9 . _ : @ / + = -).",
)

# Response headers: each declared on the statuses that send it (OpenApiParameter(response=[...])).

ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201, 304],
    required=True,
    description='The cart\'s version as a strong ETag, e.g. "3".',
)
LOCATION = OpenApiParameter(
    "Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[201], required=True, description="The new cart."
)
REPLAYED = OpenApiParameter(
    REPLAYED_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201],
    enum=["true"],
    description="Present when this answers a retry of a request already carried out (same Idempotency-Key).",
)
REQUEST_ID_ECHO = OpenApiParameter(
    REQUEST_ID_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=True,
    required=True,
    description="The request's correlation id: the one sent, or a new one.",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429, 503],
    required=True,
    description="Seconds to wait before retrying.",
)
RETRY_AFTER_IN_PROGRESS = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[409],
    description="With code idempotency_key_in_progress only: seconds to wait before retrying.",
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[401],
    required=True,
    description="Token: send `Authorization: Token <key>` (from POST /api/auth/token/).",
)
EVERY_RESPONSE = [REQUEST_ID, REQUEST_ID_ECHO, RETRY_AFTER, WWW_AUTHENTICATE]

# Error bodies by status

KEY_IN_PROGRESS = "idempotency_key_in_progress"
INVALID = OpenApiResponse(
    ValidationErrorSerializer,
    description="Invalid input (code invalid, with errors and error_codes by field), malformed JSON (parse_error), "
    "or a bad header or parameter (e.g. invalid_precondition, invalid_idempotency_key, invalid_version, "
    "invalid_page, invalid_page_size, invalid_status, nul_in_query).",
)
NOT_AUTHENTICATED = OpenApiResponse(
    ErrorSerializer, description="Not authenticated (codes not_authenticated, authentication_failed)."
)
FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    description="Not allowed; nothing was written: a session request without CSRF token (permission_denied), or a "
    "cart the user may see (with carts.view_any_cart) but not change (cart_read_only).",
)
CART_NOT_FOUND = OpenApiResponse(
    ErrorSerializer,
    description="No such cart, an id that is not a UUID, or a cart of another user: answered alike (cart_not_found).",
)
GONE = OpenApiResponse(
    GoneSerializer, description="The cart is closed (cart_closed); its history stays readable at `events`."
)
PRECONDITION_FAILED = OpenApiResponse(
    VersionMismatchSerializer, description="If-Match does not match the cart's version; nothing was written."
)
TOO_LARGE = OpenApiResponse(ErrorSerializer, description="Body too large (request_too_large).")
NOT_JSON = OpenApiResponse(ErrorSerializer, description="The body is not JSON (unsupported_media_type).")
THROTTLED = OpenApiResponse(
    ErrorSerializer, description="Too many requests (throttled); Retry-After says how many seconds to wait."
)
UNAVAILABLE = OpenApiResponse(
    ErrorSerializer,
    description="The event store or database cannot be reached (backend_unavailable); retry after Retry-After "
    "seconds. A write retried with the same Idempotency-Key is recorded once.",
)
WRITE_CONFLICT = OpenApiResponse(
    PolymorphicProxySerializer(
        component_name="WriteConflict",
        serializers={
            "concurrent_modification": ConcurrentModificationSerializer,
            KEY_IN_PROGRESS: KeyInProgressSerializer,
        },
        resource_type_field_name="code",
    ),
    description="Lost every retried race (concurrent_modification, with the versions), or a request with this "
    "Idempotency-Key is still running (idempotency_key_in_progress, with Retry-After); nothing was written.",
)
ALWAYS = {400: INVALID, 429: THROTTLED, 503: UNAVAILABLE}
READ_ERRORS = {**ALWAYS, 401: NOT_AUTHENTICATED}
WRITE_ERRORS = {
    **READ_ERRORS,
    403: FORBIDDEN,
    404: CART_NOT_FOUND,
    409: WRITE_CONFLICT,
    410: GONE,
    412: PRECONDITION_FAILED,
    413: TOO_LARGE,
    415: NOT_JSON,
}


KEY_REUSED = "or this Idempotency-Key was used for another request (idempotency_key_reused)"


def refused(description: str) -> OpenApiResponse:
    """Return a 422: the request was understood, and refused; nothing was written."""
    return OpenApiResponse(ErrorSerializer, description=f"Refused; nothing was written: {description}.")


cart_operations = extend_schema_view(
    list=extend_schema(
        operation_id="list_carts",
        summary="List carts",
        description="The user's carts (every cart, with carts.view_any_cart), most recently changed first, from the "
        "read model: it follows the event streams within moments of each write.",
        parameters=[
            # The enum component of the carts' own status field (ENUM_NAME_OVERRIDES), so that clients have one type.
            OpenApiParameter("status", CART_STATUS, OpenApiParameter.QUERY, description="Only carts in this status."),
            OpenApiParameter("page", whole_number("Page number, from 1."), OpenApiParameter.QUERY),
            OpenApiParameter(
                "page_size",
                whole_number(f"Carts per page: 50 unless given; at most {MAX_CARTS_PAGE_SIZE}.", MAX_CARTS_PAGE_SIZE),
                OpenApiParameter.QUERY,
            ),
            *EVERY_RESPONSE,
        ],
        responses={
            200: CartSummarySerializer(many=True),
            **READ_ERRORS,
            404: OpenApiResponse(ErrorSerializer, description="No such page (not_found)."),
        },
    ),
    create=extend_schema(
        operation_id="open_cart",
        summary="Open a cart",
        description="Open a cart owned by the user. Choose its id with `uuid`, or let the server make one (derived "
        "from the Idempotency-Key when one is sent, so a retry opens the same cart).",
        request=OpenCartSerializer,
        parameters=[IDEMPOTENCY_KEY, ETAG, LOCATION, REPLAYED, RETRY_AFTER_IN_PROGRESS, *EVERY_RESPONSE],
        responses={
            201: CartSerializer,
            **{code: WRITE_ERRORS[code] for code in (400, 401, 403, 413, 415, 429, 503)},
            409: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="OpenConflict",
                    serializers={"cart_exists": CartExistsSerializer, KEY_IN_PROGRESS: KeyInProgressSerializer},
                    resource_type_field_name="code",
                ),
                description="A cart with this uuid exists, whoever owns it (cart_exists), or a request with this "
                "Idempotency-Key is still running (idempotency_key_in_progress, with Retry-After).",
            ),
            422: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="OpenRefused",
                    serializers={
                        "too_many_open_carts": TooManyOpenCartsSerializer,
                        "idempotency_key_reused": KeyReusedSerializer,
                    },
                    resource_type_field_name="code",
                ),
                description="Refused; nothing was written: the user has the most open carts allowed "
                "(too_many_open_carts, with the limit), " + KEY_REUSED + ".",
            ),
        },
    ),
    retrieve=extend_schema(
        operation_id="get_cart",
        summary="Get a cart",
        description="The cart's state rebuilt from its events, now or as of a version. The ETag header is its "
        "version: send it back in If-Match to write, or in If-None-Match for a 304 when nothing changed.",
        parameters=[
            CART_ID,
            OpenApiParameter(
                "version",
                whole_number("The state as of this version (also for a closed cart)."),
                OpenApiParameter.QUERY,
            ),
            IF_NONE_MATCH,
            ETAG,
            *EVERY_RESPONSE,
        ],
        responses={
            200: CartSerializer,
            304: OpenApiResponse(description="Not modified: the cart is still at the If-None-Match version."),
            **READ_ERRORS,
            404: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="CartOrVersionNotFound",
                    serializers={
                        "cart_not_found": CartNotFoundSerializer,
                        "version_not_found": VersionNotFoundSerializer,
                    },
                    resource_type_field_name="code",
                ),
                description="No such cart, or a cart of another user (cart_not_found); or no such version of a cart "
                "the user may see (version_not_found, with current_version).",
            ),
            410: OpenApiResponse(
                GoneSerializer, description="The cart is closed (cart_closed); ?version= still works."
            ),
        },
    ),
    events=extend_schema(
        operation_id="list_cart_events",
        summary="List a cart's events",
        description="The cart's history as stored, oldest first, in pages; also for closed carts.",
        parameters=[
            CART_ID,
            OpenApiParameter("page", whole_number("Page number, from 1."), OpenApiParameter.QUERY),
            OpenApiParameter(
                "page_size",
                whole_number(
                    f"Events per page: 50 unless given; at most {MAX_EVENTS_PAGE_SIZE}.", MAX_EVENTS_PAGE_SIZE
                ),
                OpenApiParameter.QUERY,
            ),
            *EVERY_RESPONSE,
        ],
        responses={
            200: EventPageSerializer,
            **READ_ERRORS,
            404: OpenApiResponse(
                ErrorSerializer,
                description="No such cart, or a cart of another user (cart_not_found); or a page past the last "
                "event (invalid_page).",
            ),
        },
    ),
    items=extend_schema(
        operation_id="add_item",
        summary="Add an item",
        description="Add a quantity of an item (1 unless given). Item names are kept NFC-normalised.",
        request=AddItemSerializer,
        parameters=[CART_ID, IF_MATCH, IDEMPOTENCY_KEY, ETAG, REPLAYED, RETRY_AFTER_IN_PROGRESS, *EVERY_RESPONSE],
        responses={
            200: CartSerializer,
            **WRITE_ERRORS,
            422: refused(
                "a cart rule was broken (invalid_item_name, invalid_quantity, too_many_items, event_limit), "
                + KEY_REUSED
            ),
        },
    ),
    remove_item=extend_schema(
        operation_id="remove_item",
        summary="Remove an item",
        description="Remove an item, whatever its quantity.",
        parameters=[CART_ID, ITEM_NAME, IF_MATCH, ETAG, *EVERY_RESPONSE],
        responses={
            200: CartSerializer,
            **{code: response for code, response in WRITE_ERRORS.items() if code != 415},
            409: OpenApiResponse(
                ConcurrentModificationSerializer,
                description="Lost every retried race (concurrent_modification); nothing was written.",
            ),
            422: refused("the item is not in the cart (item_not_in_cart), or the cart is full (event_limit)"),
        },
    ),
    close=extend_schema(
        operation_id="close_cart",
        summary="Close a cart",
        description="Close the cart for good: later writes and reads of its state answer 410; its history and "
        "past versions stay readable. Takes no body.",
        request=None,
        parameters=[CART_ID, IF_MATCH, IDEMPOTENCY_KEY, ETAG, REPLAYED, RETRY_AFTER_IN_PROGRESS, *EVERY_RESPONSE],
        responses={
            200: CartSerializer,
            **WRITE_ERRORS,
            422: refused("the cart's history is full (event_limit), " + KEY_REUSED),
        },
    ),
)

token_operation = extend_schema_view(
    post=extend_schema(
        operation_id="obtain_token",
        summary="Get an API token",
        description="Exchange a username and password for the user's API token (the same token every time), to send "
        "as `Authorization: Token <key>`. Needs no login. Throttled tighter than the rest of the API.",
        # No security requirement at all: generators read `[{}]` (optional auth) as "needs an authenticated client".
        auth=[],
        request={
            "application/json": TokenRequestSerializer,
            "application/x-www-form-urlencoded": TokenFormSerializer,
        },
        parameters=[REQUEST_ID, REQUEST_ID_ECHO, RETRY_AFTER],
        responses={
            200: TokenSerializer,
            **ALWAYS,
            413: TOO_LARGE,
            415: OpenApiResponse(ErrorSerializer, description="The body is neither JSON nor a form."),
        },
    )
)
