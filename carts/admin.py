"""Carts in the admin: the event store's stream pages rebuild carts with the carts repository."""

from eventstore.admin_registry import register_repository

from .repository import carts

register_repository(carts)
