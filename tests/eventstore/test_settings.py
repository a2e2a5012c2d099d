"""The EVENTSTORE setting: defaults, backend aliases, and the system checks that catch misconfiguration."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from eventstore import conf, store
from eventstore.backends.django import DjangoBackend
from eventstore.events import Event, EventRegistry

DJANGO = {"BACKEND": "eventstore.backends.django.DjangoBackend"}


def check_ids() -> list[str]:
    return [message.id for message in run_checks(databases=[]) if message.id and message.id.startswith("eventstore.")]


def test_a_project_without_the_setting_gets_every_default():
    with override_settings(EVENTSTORE=None):
        config = conf.eventstore_settings()
        assert config["BACKENDS"] == {"default": {"BACKEND": conf.DJANGO_BACKEND, "OPTIONS": {}}}
        assert config["SNAPSHOT_EVERY"] is None
        assert config["PROJECTION_BATCH_SIZE"] == 1000
        assert config["AUTODISCOVER"] is True
        assert isinstance(store.get_backend(), DjangoBackend)
        assert check_ids() == []


def test_named_aliases_sit_beside_default_and_options_default_to_empty():
    with override_settings(EVENTSTORE={"BACKENDS": {"archive": DJANGO}, "PROJECTION_BATCH_SIZE": 50}):
        assert conf.backend_aliases() == ["default", "archive"]
        assert conf.backend_config("archive") == {**DJANGO, "OPTIONS": {}}
        assert conf.get("PROJECTION_BATCH_SIZE") == 50
        assert store.get_backend("archive") is store.get_backend("archive")
        assert store.build_backend("archive") is not store.get_backend("archive")


def test_an_unknown_alias_is_named_with_the_configured_ones():
    with (
        override_settings(EVENTSTORE={"BACKENDS": {"archive": DJANGO}}),
        pytest.raises(ImproperlyConfigured, match=r"configured as 'cassandra'; configured: default, archive\.$"),
    ):
        store.build_backend("cassandra")


def test_changing_the_setting_forgets_the_backends_built_from_it():
    before = store.get_backend()
    with override_settings(EVENTSTORE={"BACKENDS": {"default": DJANGO}}):
        assert store.get_backend() is not before


@pytest.mark.parametrize(
    ("setting", "check_id"),
    [
        ({"BACKENDS": {"default": {"BACKEND": "eventstore.backends.nosuch.Backend"}}}, "eventstore.E001"),
        ({"BACKENDS": {"default": {"BACKEND": "eventstore.conf.get"}}}, "eventstore.E001"),
        ({"BACKENDS": {"default": {"OPTIONS": {}}}}, "eventstore.E005"),
        ({"BACKENDS": {"default": DJANGO, "other": "eventstore.backends.django.DjangoBackend"}}, "eventstore.E005"),
        ({"PROJECTION_BATCH_SIZE": 0}, "eventstore.E005"),
        ({"SNAPSHOT_EVERY": "often"}, "eventstore.E005"),
    ],
)
def test_the_checks_report_a_misconfigured_setting(setting, check_id):
    with override_settings(EVENTSTORE=setting):
        assert check_ids() == [check_id]


def test_the_dynamodb_backend_without_boto3_is_reported_with_the_extra_to_install(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "eventstore.backends.dynamodb", raising=False)
    monkeypatch.setitem(sys.modules, "boto3", None)  # what an import of a missing package meets
    with override_settings(
        EVENTSTORE={"BACKENDS": {"default": DJANGO, "dynamodb": {"BACKEND": conf.DYNAMODB_BACKEND}}}
    ):
        messages = [message for message in run_checks(databases=[]) if message.id == "eventstore.E002"]
    assert len(messages) == 1
    assert "boto3 is not installed" in messages[0].msg
    assert messages[0].hint == "pip install 'django-eventstore[dynamodb]'"


def test_two_event_classes_under_one_name_are_refused_and_reported(monkeypatch):
    from eventstore import events

    isolated = EventRegistry()
    monkeypatch.setattr(events, "registry", isolated)

    @events.event("Deposited")
    class Deposited(Event):
        amount: int

    class Other:
        @events.event("Deposited")
        class Deposited(Event):
            cents: int

    assert isolated.get("Deposited") is Deposited
    messages = [message for message in run_checks(databases=[]) if message.id == "eventstore.E004"]
    assert len(messages) == 1
    assert "Event name 'Deposited' is registered twice" in messages[0].msg


def test_importing_the_django_backend_never_imports_boto3():
    import os
    import subprocess
    import sys

    code = (
        "import sys, django; django.setup(); import eventstore, eventstore.backends.django, eventstore.testing;"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('boto3', 'botocore')))"
    )
    # A project of the app's own: the Django backend, nothing that needs boto3 (the demo's settings have both).
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    settings_code = code.replace(
        "django.setup();",
        "from django.conf import settings; settings.configure(INSTALLED_APPS=['eventstore']); django.setup();",
    )
    result = subprocess.run([sys.executable, "-c", settings_code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
