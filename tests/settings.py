"""Settings of the test suite: the demo site's, plus the small domain the event store's own tests run on."""

import os

# The suite runs DynamoDB with GLOBAL_ORDER "append" (each append assigns its positions, so read models are
# current when a request returns, as the API and admin tests assume). Set in the environment, before the
# settings read it, so that the servers and workers the tests start (with config.settings) run that way too.
# The indexer's own mode, the default, is run by tests/dynamodb/test_indexer*.py and the contract suite's
# indexer class.
os.environ.setdefault("EVENTSTORE_DYNAMODB_GLOBAL_ORDER", "append")

from config.settings import *  # noqa: F403

INSTALLED_APPS += ["tests.testapp"]  # noqa: F405

# Throttling is tested by tests/carts/test_throttling.py with its own rates; nothing else is throttled.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "token": None},
}
