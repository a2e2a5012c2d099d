from django.contrib import admin
from django.urls import include, path

from .views import home

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    path("api/", include("carts.urls")),
]

# JSON errors with a `code` for API paths the resolver cannot match; Django's pages elsewhere.
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
