"""The registry of aggregate types: filled from apps' repositories.py, asked by the admin and the commands."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks

from eventstore import Aggregate, register
from eventstore.exceptions import UnknownAggregateType
from eventstore.registry import RepositoryRegistry, repositories


class Invoice(Aggregate):
    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass


def test_an_aggregate_class_registers_with_repository_options():
    registry = RepositoryRegistry()

    repository = registry.register(Invoice, snapshot_every=7)

    assert registry.get("Invoice") is repository
    assert registry.repository_for("Invoice") is repository
    assert registry.aggregate_types() == ["Invoice"]
    assert repository.snapshot_policy is not None and repository.snapshot_policy.interval == 7
    assert registry.register(Invoice) is repository  # a module imported twice registers the class again
    assert registry.register(repository) is repository


def test_asking_for_an_unregistered_type_names_the_registered_ones():
    registry = RepositoryRegistry()
    registry.register(Invoice)

    with pytest.raises(UnknownAggregateType, match=r"^Unknown aggregate type 'Receipt'; registered: Invoice\.$"):
        registry.get("Receipt")
    with pytest.raises(LookupError):
        RepositoryRegistry().get("Receipt")


def test_a_second_aggregate_under_a_taken_type_is_refused_and_reported_by_the_checks():
    class Impostor(Aggregate):
        aggregate_type = "Invoice"

    first = register(Invoice)
    refused = register(Impostor)
    try:
        assert repositories.repository_for("Invoice") is first
        assert refused is not first
        errors = [error for error in run_checks(databases=[]) if error.id == "eventstore.E003"]
        assert len(errors) == 1
        assert "Aggregate type 'Invoice' is registered twice" in errors[0].msg
        assert "Impostor" in errors[0].msg
    finally:
        repositories.conflicts.clear()
        repositories.unregister("Invoice")
    assert not [error for error in run_checks(databases=[]) if error.id == "eventstore.E003"]


def test_an_unregistered_type_can_be_registered_anew():
    first = register(Invoice)
    repositories.unregister("Invoice")
    assert repositories.repository_for("Invoice") is None
    repositories.unregister("Invoice")  # forgetting what is not there does nothing
    second = register(Invoice, snapshot_every=3)
    try:
        assert second is not first
        assert repositories.repository_for("Invoice") is second
    finally:
        repositories.unregister("Invoice")
