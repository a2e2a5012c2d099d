"""The demo site's front page: where to go next, for a signed-in user."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Show the admin, the API docs and the first API calls; anonymous users sign in first."""
    return TemplateResponse(request, "home.html", {"site_url": request.build_absolute_uri("/").rstrip("/")})
