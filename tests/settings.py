"""Settings of the test suite: the demo site's, plus the small domain the event store's own tests run on."""

from config.settings import *  # noqa: F403

INSTALLED_APPS += ["tests.testapp"]  # noqa: F405

# Throttling is tested by tests/carts/test_throttling.py with its own rates; nothing else is throttled.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "token": None},
}
