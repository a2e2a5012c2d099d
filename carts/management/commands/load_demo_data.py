"""Load demo data: a superuser demo/demo and a handful of carts with history, owned by demo. Safe to run again."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from carts.access import owner_id
from carts.domain import ShoppingCart
from carts.repository import carts
from eventstore.context import event_context

# Fixed ids, so that running again finds the carts it made and the README's examples keep working.
NAMESPACE = uuid.UUID("6f1c1d3e-2b7a-4c55-9a51-0d5e3c2a9b10")
LONG_CART_EVENTS = 320


def demo_uuid(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def weekly_groceries(cart: ShoppingCart) -> None:
    for name, quantity in [("apples", 6), ("bread", 1), ("milk", 2), ("coffee", 1), ("eggs", 12)]:
        cart.add_item(name, quantity)
    cart.remove_item("coffee")
    cart.add_item("milk", 1)


def birthday_party(cart: ShoppingCart) -> None:
    for name, quantity in [("balloons", 20), ("candles", 12), ("cake", 1), ("lemonade", 6)]:
        cart.add_item(name, quantity)
    cart.remove_item("lemonade")
    cart.close()


def hardware_store(cart: ShoppingCart) -> None:
    for name, quantity in [("screws 4x40", 100), ("wall plugs", 100), ("drill bit 6mm", 1)]:
        cart.add_item(name, quantity)


def empty(cart: ShoppingCart) -> None:
    pass


def office_supplies(cart: ShoppingCart) -> None:
    """Grow a long history (snapshots every 100 events) by restocking and returning items."""
    items = [f"pens box {n}" for n in range(1, 11)]
    while cart.version < LONG_CART_EVENTS:
        name = items[cart.version % len(items)]
        if name in cart.items and cart.version % 3 == 0:
            cart.remove_item(name)
        else:
            cart.add_item(name, 1 + cart.version % 4)
        if len(cart.changes) == 40:  # within every backend's events-per-append limit
            # Saved in slices, as real traffic would, so the repository's snapshot policy takes snapshots.
            carts.save(cart)


DEMO_CARTS: list[tuple[str, Callable[[ShoppingCart], None]]] = [
    ("weekly groceries", weekly_groceries),
    ("birthday party", birthday_party),
    ("hardware store", hardware_store),
    ("empty", empty),
    ("office supplies", office_supplies),
]


class Command(BaseCommand):
    help = "Create the demo superuser (demo / demo) and a handful of carts it owns, with history; skips what exists."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--username", default="demo", help="Demo superuser's name (default demo).")
        parser.add_argument("--password", default="demo", help="Its password when created (default demo).")
        parser.add_argument(
            "--site-url",
            default="http://127.0.0.1:8000",
            help="Where the site is served, for the closing hint (bin/run passes its own address).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        max_length = getattr(get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD), "max_length", 150)
        if not username or len(username) > max_length or not options["password"]:
            raise CommandError(f"--username needs 1 to {max_length} characters and --password at least one.")
        user = self.demo_user(username, options["password"])
        token, _ = Token.objects.get_or_create(user=user)
        with event_context(actor=username, correlation_id="load_demo_data"):
            for name, fill in DEMO_CARTS:
                self.demo_cart(name, fill, owner=owner_id(user))
        site = options["site_url"].rstrip("/")
        self.stdout.write(
            f"Open {site}/ and log in as {username} / {options['password']}; "
            f"API: curl -H 'Authorization: Token {token.key}' {site}/api/carts/"
        )

    def demo_user(self, username: str, password: str) -> Any:
        users = get_user_model()
        user = users.objects.filter(username=username).first()
        if user is not None:
            self.stdout.write(f"User {username} exists; left as it is.")
            return user
        user = users.objects.create_superuser(username, email=f"{username}@example.com", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created superuser {username}."))
        return user

    def demo_cart(self, name: str, fill: Callable[[ShoppingCart], None], owner: str) -> None:
        cart_uuid = demo_uuid(name)
        if carts.exists(cart_uuid):
            self.stdout.write(f"Cart {name!r} ({cart_uuid}) exists; skipped.")
            return
        cart = carts.save(ShoppingCart.open(cart_uuid, owner=owner))
        fill(cart)
        carts.save(cart)
        snapshots = len(carts.backend.list_snapshots(cart_uuid))
        state = "closed" if cart.closed else "open"
        self.stdout.write(
            self.style.SUCCESS(f"Created cart {name!r} ({cart_uuid}): {cart.version} events, {state}")
            + (f", {snapshots} snapshot(s)" if snapshots else "")
        )
