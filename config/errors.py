"""Error pages: JSON with a machine-readable `code` under /api/, Django's own pages elsewhere.

URLs the resolver cannot match (an item name with a newline, say) never reach DRF, so without these
an API client would get an HTML 404 or 500 where the contract promises JSON.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer 404 as JSON for API paths, else with Django's page."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"code": "not_found", "detail": "No API endpoint matches this URL."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer 500 as JSON for API paths (no traceback, ever), else with Django's page."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            {"code": "server_error", "detail": "The server failed to handle this request; it has been logged."},
            status=500,
        )
    return defaults.server_error(request)
