from django.apps import AppConfig


class EventStoreConfig(AppConfig):
    name = "eventstore"
    verbose_name = "Event store"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, store  # noqa: F401 - importing checks registers them
        from .conf import get
        from .registry import autodiscover

        store.connect_setting_changed()
        if get("AUTODISCOVER"):
            autodiscover()
