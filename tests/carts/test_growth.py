"""What one user can make the site keep grows no further than the settings say (issue 12, part 6).

Kept Idempotency-Key responses expire (IDEMPOTENCY_KEY_TTL) and purge_idempotency_keys deletes them;
a user may have at most CARTS_MAX_OPEN_PER_USER carts open at once.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from carts.idempotency import CLAIMED, INTERRUPTED
from carts.models import IdempotentResponse
from tests.carts.test_api import add, open_cart, stored_names

TTL = 24 * 60 * 60
KEY = {"Idempotency-Key": "weekly-shop"}


@pytest.fixture(params=["as configured", "claimed first"])
def key_path(request, backend, monkeypatch, settings):
    """Run a test with the key kept in the append's transaction (the Django backend) and claimed first."""
    settings.IDEMPOTENCY_KEY_TTL = TTL
    if request.param == "claimed first":
        monkeypatch.setattr(type(backend), "commits_with_django_database", False)
    return request.param


def age(**delta) -> None:
    """Make every kept response as old as `delta`."""
    IdempotentResponse.objects.update(created_at=timezone.now() - timedelta(**delta))


# Expiry


def test_a_kept_response_is_replayed_until_it_expires(api, backend, key_path):
    cart = open_cart(api)["uuid"]
    assert add(api, cart, "apple", **KEY).status_code == 200
    age(hours=23)

    replayed = add(api, cart, "apple", **KEY)
    reused = add(api, cart, "pear", **KEY)

    assert replayed.status_code == 200 and replayed["Idempotent-Replayed"] == "true"
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert stored_names(backend, cart) == ["CartOpened", "ItemAdded"]


def test_a_key_reused_for_another_request_after_expiry_runs_it(api, backend, key_path):
    cart = open_cart(api)["uuid"]
    assert add(api, cart, "apple", **KEY).status_code == 200
    age(hours=24, seconds=1)

    pear = add(api, cart, "pear", **KEY)

    assert pear.status_code == 200, pear.content
    assert not pear.has_header("Idempotent-Replayed")
    assert [item["name"] for item in pear.json()["items"]] == ["apple", "pear"]
    assert stored_names(backend, cart) == ["CartOpened", "ItemAdded", "ItemAdded"]
    assert IdempotentResponse.objects.get().body["version"] == 3  # the new response is kept in its place


def test_the_same_request_retried_after_expiry_is_still_not_appended_twice(api, backend, key_path):
    # Its events' ids derive from the user, the key and the request: the store still refuses them.
    cart = open_cart(api)["uuid"]
    assert add(api, cart, "apple", **KEY).status_code == 200
    age(days=2)

    retried = add(api, cart, "apple", **KEY)

    assert retried.status_code == 200, retried.content
    assert retried["Idempotent-Replayed"] == "true"
    assert retried.json()["items"] == [{"name": "apple", "quantity": 1}]
    assert stored_names(backend, cart) == ["CartOpened", "ItemAdded"]


# purge_idempotency_keys


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_idempotency_keys", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def keep(user, key: str, status_code: int = 200, **delta) -> IdempotentResponse:
    """Store a response (or a claim) for `key`, as old as `delta`."""
    kept = IdempotentResponse.objects.create(user=user, key=key, fingerprint="f", status_code=status_code, body={})
    IdempotentResponse.objects.filter(pk=kept.pk).update(created_at=timezone.now() - timedelta(**delta))
    return kept


@pytest.fixture
def kept_responses(user, settings):
    settings.IDEMPOTENCY_KEY_TTL = TTL
    settings.IDEMPOTENCY_CLAIM_TIMEOUT = 60
    keep(user, "old-1", days=2)
    keep(user, "old-2", hours=25)
    keep(user, "old-claim", CLAIMED, days=3)
    keep(user, "old-interrupted", INTERRUPTED, days=3)
    keep(user, "young", hours=23)
    keep(user, "young-claim", CLAIMED, seconds=30)
    keep(user, "young-interrupted", INTERRUPTED, seconds=30)


def remaining() -> set[str]:
    return set(IdempotentResponse.objects.values_list("key", flat=True))


YOUNG = {"young", "young-claim", "young-interrupted"}


def test_purge_deletes_the_expired_and_keeps_the_rest(kept_responses):
    output = purge()

    assert remaining() == YOUNG
    assert "Deleted 4 kept responses older than" in output and "(24 h); 3 stay." in output


def test_purge_again_deletes_nothing(kept_responses):
    purge()

    assert "Deleted 0 kept responses" in purge()
    assert remaining() == YOUNG


def test_a_dry_run_counts_and_deletes_nothing(kept_responses):
    output = purge("--dry-run")

    assert "Dry run: would delete 4 kept responses" in output and "3 would stay" in output
    assert len(remaining()) == 7


def test_purge_in_small_batches_shows_progress(kept_responses):
    output = purge("--batch-size", "1", "--verbosity", "2")

    assert remaining() == YOUNG
    assert "deleted 1 so far" in output  # the first batch's progress line
    assert "Deleted 4 kept responses" in output


def test_a_shorter_age_never_takes_the_claim_of_a_request_that_may_still_run(kept_responses):
    # --older-than 10: the 23-hour-old response goes, the 30-second-old claims stay (the claim timeout is 60 s).
    purge("--older-than", "10")

    assert remaining() == {"young-claim", "young-interrupted"}


@pytest.mark.parametrize("args", [["--older-than", "0"], ["--older-than", "soon"], ["--batch-size", "0"]])
def test_purge_refuses_bad_arguments_and_deletes_nothing(kept_responses, args):
    with pytest.raises(CommandError, match="invalid"):
        purge(*args)

    assert len(remaining()) == 7


# A limit on open carts


@pytest.fixture
def limit_of_two(settings):
    settings.CARTS_MAX_OPEN_PER_USER = 2
    settings.IDEMPOTENCY_KEY_TTL = TTL


def open_count(api) -> int:
    return api.get("/api/carts/?status=open").json()["count"]


def test_one_open_cart_over_the_limit_is_refused_and_nothing_is_written(api, limit_of_two):
    open_cart(api)
    open_cart(api)

    refused = api.post("/api/carts/", {}, format="json")

    assert refused.status_code == 422, refused.content
    assert refused.json()["code"] == "too_many_open_carts"
    assert refused.json()["limit"] == 2
    assert open_count(api) == 2
    assert api.get("/api/carts/").json()["count"] == 2


def test_closing_a_cart_makes_room_for_another(api, limit_of_two):
    first = open_cart(api)
    open_cart(api)
    closed = api.post(f"/api/carts/{first['uuid']}/close/", headers={"If-Match": '"1"'})
    assert closed.status_code == 200, closed.content

    assert api.post("/api/carts/", {}, format="json").status_code == 201
    assert open_count(api) == 2


def test_the_limit_is_each_users_own(api, other_api, limit_of_two):
    open_cart(api)
    open_cart(api)

    assert other_api.post("/api/carts/", {}, format="json").status_code == 201


def test_a_retried_open_is_replayed_even_at_the_limit(api, backend, limit_of_two, key_path):
    # The open's kept response has expired, so the view itself finds the cart this key opened.
    open_cart(api)
    first = api.post("/api/carts/", {}, format="json", headers=KEY)
    assert first.status_code == 201
    age(days=2)

    retried = api.post("/api/carts/", {}, format="json", headers=KEY)

    assert retried.status_code == 201, retried.content
    assert retried["Idempotent-Replayed"] == "true"
    assert retried.json()["uuid"] == first.json()["uuid"]
    assert stored_names(backend, first.json()["uuid"]) == ["CartOpened"]


def test_no_limit_when_set_to_zero(api, settings):
    settings.CARTS_MAX_OPEN_PER_USER = 0
    for _ in range(3):
        open_cart(api)

    assert open_count(api) == 3
