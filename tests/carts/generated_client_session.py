"""Drive a cart's whole life through the client openapi-python-client generated from the API's schema.

Run by test_generated_client.py with the generated package installed in a throwaway virtualenv:
`python generated_client_session.py BASE_URL USERNAME PASSWORD`. Only the generated typed functions
are called, with raise_on_unexpected_status=True: a status the schema does not declare raises. Each
step checks the model the client parsed. Prints the functions called, as JSON, when all went well.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from carts_api_client import AuthenticatedClient, Client
from carts_api_client.api.auth import obtain_token
from carts_api_client.api.carts import (
    add_item,
    close_cart,
    get_cart,
    list_cart_events,
    list_carts,
    open_cart,
    remove_item,
)
from carts_api_client.models import (
    AddItem,
    Cart,
    CartExists,
    CartNotFound,
    CartStatus,
    Error,
    EventPage,
    Gone,
    OpenCart,
    PaginatedCartSummaryList,
    Token,
    TokenRequest,
    ValidationError,
    VersionMismatch,
    VersionNotFound,
)

called: list[str] = []


def call(module: Any, **kwargs: Any) -> Any:
    """Call a generated operation's sync_detailed, noting its name; return the whole response."""
    called.append(module.__name__.rsplit(".", 1)[-1])
    return module.sync_detailed(**kwargs)


def authenticated(base_url: str, token: str) -> AuthenticatedClient:
    return AuthenticatedClient(base_url=base_url, token=token, prefix="Token", raise_on_unexpected_status=True)


def main(base_url: str, username: str, password: str) -> None:
    # Token: anonymous, JSON.
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    answer = call(obtain_token, client=anonymous, body=TokenRequest(username=username, password=password))
    assert answer.status_code == 200 and isinstance(answer.parsed, Token), answer
    api = AuthenticatedClient(
        base_url=base_url, token=answer.parsed.token, prefix="Token", raise_on_unexpected_status=True
    )
    wrong = AuthenticatedClient(base_url=base_url, token="not-a-token", prefix="Token", raise_on_unexpected_status=True)
    refused = call(list_carts, client=wrong)
    assert refused.status_code == 401 and isinstance(refused.parsed, Error), refused
    assert refused.headers["WWW-Authenticate"] == "Token"

    # Open, with an Idempotency-Key: the retry gets the same cart back, marked replayed.
    opened = call(open_cart, client=api, body=OpenCart(), idempotency_key="open-1")
    cart = opened.parsed
    assert opened.status_code == 201 and isinstance(cart, Cart) and cart.version == 1, opened
    assert opened.headers["ETag"] == '"1"' and opened.headers["Location"].endswith(f"/api/carts/{cart.uuid}/")
    again = call(open_cart, client=api, body=OpenCart(), idempotency_key="open-1")
    assert again.status_code == 201 and again.parsed.uuid == cart.uuid
    assert again.headers["Idempotent-Replayed"] == "true"
    chosen = uuid.uuid4()
    assert call(open_cart, client=api, body=OpenCart(uuid=chosen)).parsed.uuid == chosen
    taken = call(open_cart, client=api, body=OpenCart(uuid=chosen))
    assert taken.status_code == 409 and isinstance(taken.parsed, CartExists), taken

    # Read with ETag, then 304.
    read = call(get_cart, uuid=cart.uuid, client=api)
    assert read.status_code == 200 and read.parsed.status == CartStatus.OPEN and read.headers["ETag"] == '"1"'
    unchanged = call(get_cart, uuid=cart.uuid, client=api, if_none_match=read.headers["ETag"])
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == '"1"', unchanged

    # Add with If-Match and Idempotency-Key; its retry is replayed; a stale If-Match gets 412.
    apples = AddItem(name="apples", quantity=3)
    added = call(add_item, uuid=cart.uuid, client=api, body=apples, if_match='"1"', idempotency_key="add-1")
    assert added.status_code == 200 and added.parsed.version == 2 and added.headers["ETag"] == '"2"', added
    retried = call(add_item, uuid=cart.uuid, client=api, body=apples, if_match='"1"', idempotency_key="add-1")
    assert retried.parsed.version == 2 and retried.headers["Idempotent-Replayed"] == "true"
    stale = call(add_item, uuid=cart.uuid, client=api, body=AddItem(name="pears"), if_match='"1"')
    mismatch = stale.parsed
    assert stale.status_code == 412 and isinstance(mismatch, VersionMismatch), stale
    assert (mismatch.expected_version, mismatch.actual_version) == (1, 2)
    assert [event.name for event in mismatch.unseen_events] == ["ItemAdded"]
    pears = call(add_item, uuid=cart.uuid, client=api, body=AddItem(name="pears", quantity=2), if_match='"2"')
    assert pears.parsed.total_quantity == 5 and pears.parsed.item_count == 2
    invalid = call(add_item, uuid=cart.uuid, client=api, body=AddItem(name="plums", quantity=0))
    assert invalid.status_code == 400 and isinstance(invalid.parsed, ValidationError), invalid
    assert invalid.parsed.error_codes["quantity"] == ["min_value"]

    # List pages: two carts, one a page.
    first = call(list_carts, client=api, page_size=1)
    assert isinstance(first.parsed, PaginatedCartSummaryList) and first.parsed.count == 2, first
    assert first.parsed.next_ is not None and first.parsed.previous is None
    second = call(list_carts, client=api, page_size=1, page=2)
    assert second.parsed.next_ is None and second.parsed.previous is not None
    assert {first.parsed.results[0].uuid, second.parsed.results[0].uuid} == {cart.uuid, chosen}

    # History pages.
    events = call(list_cart_events, uuid=cart.uuid, client=api, page_size=2)
    assert isinstance(events.parsed, EventPage) and events.parsed.count == 3 and events.parsed.next_ is not None
    last = call(list_cart_events, uuid=cart.uuid, client=api, page_size=2, page=2)
    assert [event.name for event in last.parsed.results] == ["ItemAdded"] and last.parsed.next_ is None

    # Remove, close, then 410 with the history's link; past versions stay readable.
    removed = call(remove_item, uuid=cart.uuid, name="apples", client=api, if_match='"3"')
    assert removed.status_code == 200 and [item.name for item in removed.parsed.items] == ["pears"], removed
    closed = call(close_cart, uuid=cart.uuid, client=api, if_match='"4"', idempotency_key="close-1")
    assert closed.status_code == 200 and closed.parsed.status == CartStatus.CLOSED, closed
    gone = call(get_cart, uuid=cart.uuid, client=api)
    assert gone.status_code == 410 and isinstance(gone.parsed, Gone) and gone.parsed.version == 5, gone
    assert gone.parsed.events.endswith(f"/api/carts/{cart.uuid}/events/")
    after_close = call(add_item, uuid=cart.uuid, client=api, body=AddItem(name="figs"))
    assert after_close.status_code == 410 and isinstance(after_close.parsed, Gone), after_close
    assert call(get_cart, uuid=cart.uuid, client=api, version=2).parsed.total_quantity == 3
    closed_carts = call(list_carts, client=api, status=CartStatus.CLOSED).parsed
    assert [line.uuid for line in closed_carts.results] == [cart.uuid], closed_carts
    future = call(get_cart, uuid=cart.uuid, client=api, version=9)
    assert future.status_code == 404 and isinstance(future.parsed, VersionNotFound), future
    assert future.parsed.current_version == 5
    missing = call(get_cart, uuid=uuid.uuid4(), client=api)
    assert missing.status_code == 404 and isinstance(missing.parsed, CartNotFound), missing

    print(json.dumps({"functions": sorted(set(called)), "calls": len(called)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
