"""Settings of the server W7 benchmarks: the project's own, with the bench-only URLconf (bench/urls.py).

Served as `DJANGO_SETTINGS_MODULE=bench.settings`, so that the CRUD baseline endpoint never enters
the product's configuration.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
