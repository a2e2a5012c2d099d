"""URLs of the carts API (mounted under /api/), its OpenAPI schema and docs, and a token endpoint."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from .views import CartViewSet, TokenView, api_not_found

router = SimpleRouter()
router.register("carts", CartViewSet, basename="cart")

urlpatterns = [
    *router.urls,
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    # Last: any other path under /api/ gets a JSON 404 with a code, like the rest of the API.
    re_path(r"^[\s\S]*$", api_not_found),
]
