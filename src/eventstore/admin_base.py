"""The admin's base for the event store's pages: records staff may read and nobody may edit."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest


class ImmutableAdmin(admin.ModelAdmin):
    """Let staff with the view permission read records; let nobody add, change or delete them.

    Refusing here (rather than hiding buttons) makes the admin answer a crafted POST with 403.
    """

    # Facet counts would group the whole table by each filter on every page.
    show_facets = admin.ShowFacets.NEVER

    class Media:
        css = {"all": ["eventstore/admin/history.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
