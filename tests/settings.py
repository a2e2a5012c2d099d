"""Settings of the test suite: the demo site's, plus the small domain the event store's own tests run on."""

from config.settings import *  # noqa: F403

INSTALLED_APPS += ["tests.testapp"]  # noqa: F405
