"""The project's URLs plus W7's baseline: a plain DRF endpoint that updates one row of an ordinary model.

POST /bench/summaries/{uuid}/items/ takes the body the carts API's add-item takes, validated by the
same serializer, through the same authentication, permission and parser classes; it adds the item to
one CartSummary row (SELECT ... FOR UPDATE, then save, in one transaction) and answers the row. No
events, no snapshots, no read model: what the same request costs an ordinary CRUD app.
"""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.urls import path
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from carts.models import CartSummary
from carts.projections import summary_of
from carts.serializers import AddItemSerializer, CartSummarySerializer
from carts.views import CartViewSet
from config.urls import handler404, handler500
from config.urls import urlpatterns as project_urlpatterns

__all__ = ["handler404", "handler500", "urlpatterns"]


class AddToSummaryView(APIView):
    """Add an item to one CartSummary row: read it locked, change it, save it."""

    authentication_classes = CartViewSet.authentication_classes
    permission_classes = CartViewSet.permission_classes
    parser_classes = CartViewSet.parser_classes

    def post(self, request: Request, uuid: UUID) -> Response:
        serializer = AddItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name, quantity = serializer.validated_data["name"], serializer.validated_data["quantity"]
        with transaction.atomic():
            row = CartSummary.objects.select_for_update().get(pk=uuid)
            items = {**row.items, name: row.items.get(name, 0) + quantity}
            for field, value in summary_of(items).items():
                setattr(row, field, value)
            row.version += 1
            row.updated_at = timezone.now()
            row.save()
        data = CartSummarySerializer(row).data
        data["items"] = [{"name": item, "quantity": count} for item, count in sorted(row.items.items())]
        return Response(data, headers={"ETag": f'"{row.version}"'})


urlpatterns = [
    path("bench/summaries/<uuid:uuid>/items/", AddToSummaryView.as_view(), name="bench-summary-items"),
    *project_urlpatterns,
]
