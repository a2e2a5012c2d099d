"""The carts API: thin views over the carts repository, the CartSummary read model and the store."""

from __future__ import annotations

import re
from contextlib import ExitStack
from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import status as http_status
from rest_framework import viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.utils.urls import remove_query_param, replace_query_param

from eventstore import store
from eventstore.context import event_context
from eventstore.exceptions import ConcurrencyError

from .access import owner_id, sees_every_cart, visible_cart, visible_history
from .domain import ShoppingCart
from .http import BadRequest, NotFound, etag, if_match, if_none_match
from .idempotency import derived_cart_uuid, idempotent, mark_replayed, opened_by_this_request
from .limits import check_may_open_cart
from .models import CartSummary
from .openapi import MAX_CARTS_PAGE_SIZE, MAX_EVENTS_PAGE_SIZE, cart_operations, token_operation
from .parsers import SafeJSONParser
from .repository import carts
from .serializers import (
    AddItemSerializer,
    CartSerializer,
    CartSummarySerializer,
    EventSerializer,
    OpenCartSerializer,
)
from .throttling import AnonRateThrottle, ScopedRateThrottle
from .writes import current_state, run_command

WHOLE_NUMBER = re.compile(r"^[0-9]{1,12}$")


class CartPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_CARTS_PAGE_SIZE

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        # Every page carries all four keys (next and previous are null at the ends), as the events page does.
        page = super().get_paginated_response_schema(schema)
        return {**page, "required": ["count", "next", "previous", "results"]}


# The OpenAPI description of every action (operation ids, parameters, statuses, headers) is in carts.openapi.
@cart_operations
class CartViewSet(viewsets.GenericViewSet):
    """Shopping carts, each an event stream.

    Generic only for the list (the CartSummary read model, paginated); the other actions load carts
    from the repository.
    """

    queryset = CartSummary.objects.order_by("-updated_at", "-uuid")
    serializer_class = CartSummarySerializer
    pagination_class = CartPagination

    lookup_field = "uuid"
    # Any text reaches the view, so that a malformed id gets a JSON 404 with a code; the schema says what to
    # send: a UUID (carts.openapi.CART_ID).
    lookup_value_regex = "[^/]+"
    # Authentication from settings (Token first: an anonymous request's 401 says `WWW-Authenticate: Token`).
    parser_classes = [SafeJSONParser]

    # Request context: who and what caused the events appended while handling the request.

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with ExitStack() as self._context:
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self._context.enter_context(
            event_context(
                correlation_id=getattr(request._request, "request_id", None),
                actor=request.user.get_username() if request.user.is_authenticated else None,
            )
        )

    # Reading

    def get_queryset(self) -> QuerySet[CartSummary]:
        """Return the summaries of the carts the user may see: their own, or all with the permission."""
        summaries = super().get_queryset()
        user = self.request.user
        if sees_every_cart(user):
            return summaries
        if not user.is_authenticated:
            return summaries.none()
        return summaries.filter(owner_id=owner_id(user))

    def list(self, request: Request) -> Response:
        summaries = self.get_queryset()
        wanted = request.query_params.get("status")
        if wanted is not None:
            if wanted not in {CartSummary.OPEN, CartSummary.CLOSED}:
                raise BadRequest(f"status must be open or closed, not {wanted[:50]!r}.", code="invalid_status")
            summaries = summaries.filter(status=wanted)
        page = self.paginate_queryset(summaries)
        return self.get_paginated_response(CartSummarySerializer(page, many=True).data)

    def retrieve(self, request: Request, uuid: str) -> Response:
        cart_uuid = parse_uuid(uuid)
        version = parse_version(request.query_params.get("version"))
        cart = visible_cart(request.user, cart_uuid, version)
        known = if_none_match(request)
        if version is None and known is not None and cart.version in known:
            return Response(status=http_status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(cart.version)})
        return cart_response(cart)

    @action(detail=True, methods=["get"])
    def events(self, request: Request, uuid: str) -> Response:
        cart_uuid = parse_uuid(uuid)
        count = visible_history(request.user, cart_uuid)
        page = positive_int(request.query_params.get("page"), "page", default=1)
        size = min(positive_int(request.query_params.get("page_size"), "page_size", default=50), MAX_EVENTS_PAGE_SIZE)
        first = (page - 1) * size + 1
        if first > count:
            raise NotFound(f"Page {page} is past the last event (version {count}).", code="invalid_page")
        # Versions are contiguous from 1, so a page is a version range: no offset scan.
        events = store.get_backend().read_stream(cart_uuid, from_version=first, to_version=first + size - 1)
        url = request.build_absolute_uri()
        return Response(
            {
                "count": count,
                "next": replace_query_param(url, "page", page + 1) if first + size <= count else None,
                "previous": (
                    None
                    if page == 1
                    else remove_query_param(url, "page")
                    if page == 2
                    else replace_query_param(url, "page", page - 1)
                ),
                "results": EventSerializer(events, many=True).data,
            }
        )

    # Writing

    @idempotent
    def create(self, request: Request) -> Response:
        serializer = OpenCartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cart_uuid = serializer.validated_data.get("uuid") or derived_cart_uuid()
        if cart_uuid is not None and carts.exists(cart_uuid):
            first = next(iter(store.get_backend().read_stream(cart_uuid, to_version=1)))
            if not opened_by_this_request(first.event_uuid, cart_uuid):
                raise cart_exists(cart_uuid)
            mark_replayed()  # an earlier attempt with this Idempotency-Key opened it
            cart = current_state(cart_uuid)
        else:
            check_may_open_cart(request.user)  # after the replay branch: a retry of an open still replays
            opened = ShoppingCart.open(cart_uuid, owner=owner_id(request.user))
            try:
                cart = carts.save(opened)
            except ConcurrencyError:
                # Opened meanwhile, by anyone: not a Conflict, whose body would list the cart's events.
                raise cart_exists(opened.uuid) from None
        location = reverse("cart-detail", kwargs={"uuid": cart.uuid}, request=request)
        return cart_response(cart, http_status.HTTP_201_CREATED, Location=location)

    @action(detail=True, methods=["post"])
    @idempotent
    def items(self, request: Request, uuid: str) -> Response:
        cart_uuid = parse_uuid(uuid)
        serializer = AddItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name, quantity = serializer.validated_data["name"], serializer.validated_data["quantity"]
        cart = run_command(
            cart_uuid, lambda cart: cart.add_item(name, quantity), if_match=if_match(request), user=request.user
        )
        return cart_response(cart)

    @action(detail=True, methods=["delete"], url_path=r"items/(?P<name>[\s\S]+)", url_name="item")
    def remove_item(self, request: Request, uuid: str, name: str) -> Response:
        cart_uuid = parse_uuid(uuid)
        cart = run_command(
            cart_uuid, lambda cart: cart.remove_item(name), if_match=if_match(request), user=request.user
        )
        return cart_response(cart)

    @action(detail=True, methods=["post"])
    @idempotent
    def close(self, request: Request, uuid: str) -> Response:
        cart_uuid = parse_uuid(uuid)
        if request.data:
            raise BadRequest("Closing a cart takes no body.", code="unexpected_body")
        cart = run_command(cart_uuid, lambda cart: cart.close(), if_match=if_match(request), user=request.user)
        return cart_response(cart)


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([AllowAny])
def api_not_found(request: Request) -> Response:
    """Answer a path the API does not have."""
    raise NotFound(f"No API endpoint at {request.path[:200]!r}.", code="not_found")


@token_operation
class TokenView(ObtainAuthToken):
    """DRF's token endpoint, taking JSON (or a form) from anyone; throttled tighter (scope `token`)."""

    # No multipart (DRF's default here): one schema per media type, so that a generated client can tell them apart.
    parser_classes = [SafeJSONParser, FormParser]
    # Anonymous by design: it is how a client gets its credentials, and a stale token sent along must not get a 401.
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    # ObtainAuthToken turns throttling off; here it is the anonymous rate and the tighter `token` scope.
    throttle_classes = [AnonRateThrottle, ScopedRateThrottle]
    throttle_scope = "token"


class CartExists(BadRequest):
    status_code = http_status.HTTP_409_CONFLICT
    default_code = "cart_exists"


def cart_exists(cart_uuid: UUID) -> CartExists:
    """Return the answer for a uuid already taken, whoever owns the cart: nothing about it beyond that."""
    return CartExists(f"Cart {cart_uuid} already exists.")


def cart_response(cart: ShoppingCart, status: int = http_status.HTTP_200_OK, **headers: str) -> Response:
    """Return the cart's state with its version as ETag."""
    return Response(CartSerializer(cart).data, status=status, headers={"ETag": etag(cart.version), **headers})


def parse_uuid(text: str) -> UUID:
    """Return the cart id in the URL, or answer 404 when it is not a UUID."""
    try:
        return UUID(text)
    except ValueError:
        raise NotFound(f"{text[:50]!r} is not a cart id (a UUID).", code="cart_not_found") from None


def parse_version(text: str | None) -> int | None:
    """Return the ?version= asked for, or None."""
    if text is None:
        return None
    return positive_int(text, "version", default=None)


def positive_int(text: str | None, name: str, default: Any) -> Any:
    """Return a query parameter as a whole number of at least 1 (the default when absent)."""
    if text is None:
        return default
    if not WHOLE_NUMBER.match(text) or int(text) < 1:
        raise BadRequest(f"{name} must be a whole number from 1, not {text[:50]!r}.", code=f"invalid_{name}")
    return int(text)
