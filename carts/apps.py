from django.apps import AppConfig


class CartsConfig(AppConfig):
    name = "carts"
    verbose_name = "Carts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from eventstore.projections import registry

        from .projections import CartSummaryProjection

        registry.register(CartSummaryProjection(), inline=True)
