"""The test domain's app: its read model's projection registers once the app registry is ready."""

from django.apps import AppConfig


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"
    verbose_name = "Event store test app"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here rather than in repositories.py, which stays free of models: the concurrency tests' spawned
        # workers import it (through the test module) before django.setup().
        from eventstore.projections import registry

        from .projections import AccountSummaryProjection

        registry.register(AccountSummaryProjection(), inline=True)
