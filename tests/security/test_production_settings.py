"""Production settings, checked in fresh processes: DEBUG off unless asked for, no start without a
SECRET_KEY (the development key only with DEBUG), X-Forwarded-Proto trusted only when a proxy is declared,
`check --deploy` clean with the documented environment, request size limits."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.reliability.live import BASE_DIR, SCRUBBED_ENV, free_port

pytestmark = pytest.mark.security

# The production environment the README documents (with a made-up database and host).
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "k7Q2vX9pL4mN8rT1wY6zB3cF5hJ0dG2sA9eK4uP7qR1tV8xZ3nM6bC0",
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://shop.example.com",
    "DATABASE_URL": "postgres://shop:secret@db.example.internal:5432/shop",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_HSTS_SECONDS": "31536000",
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_HSTS_PRELOAD": "1",
    # The documented deployment: behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    "DJANGO_TRUSTED_PROXY_SSL_HEADER": "1",
}


def run_python(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the project's Python in a fresh process with only `env` on top of a scrubbed environment."""
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV and not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def loaded_setting(name: str, env: dict[str, str]) -> str:
    result = run_python(["-c", f"from django.conf import settings; print(settings.{name})"], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "False"),
        ("", "False"),
        ("off", "False"),
        ("1", "True"),
    ],
)
def test_debug_is_off_unless_asked_for(value, expected):
    env = {"DJANGO_SECRET_KEY": PRODUCTION_ENV["DJANGO_SECRET_KEY"]}
    if value is not None:
        env["DJANGO_DEBUG"] = value

    assert loaded_setting("DEBUG", env) == expected


def test_settings_refuse_to_load_without_a_secret_key_when_debug_is_off():
    result = run_python(["manage.py", "check"], {})

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_secret_key_comes_from_the_environment():
    assert loaded_setting("SECRET_KEY", PRODUCTION_ENV) == PRODUCTION_ENV["DJANGO_SECRET_KEY"]


def test_gunicorn_refuses_to_start_without_a_secret_key():
    port = free_port()
    result = run_python(
        ["-m", "gunicorn", "config.wsgi:application", f"--bind=127.0.0.1:{port}", "--workers=1"], {}, timeout=90
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stdout + result.stderr


def test_check_deploy_passes_with_the_documented_production_environment():
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        ({"DJANGO_SECRET_KEY": "short"}, "security.W009"),
        ({"DJANGO_DEBUG": "1"}, "security.W018"),
        ({"DJANGO_HSTS_SECONDS": "0"}, "security.W004"),
        ({"DJANGO_SECURE_COOKIES": "0"}, "security.W012"),
    ],
)
def test_check_deploy_fails_when_the_production_environment_is_weakened(change, warning):
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], {**PRODUCTION_ENV, **change})

    assert result.returncode != 0
    assert warning in result.stderr + result.stdout


@pytest.mark.parametrize("secret_key", ["", PRODUCTION_ENV["DJANGO_SECRET_KEY"]])
@pytest.mark.parametrize("command", [["manage.py", "check"], ["manage.py", "check", "--deploy"]])
def test_the_development_key_opt_in_is_refused_unless_debug(secret_key, command):
    result = run_python(command, {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret_key, "DJANGO_INSECURE_DEV_KEY": "1"})

    assert result.returncode != 0
    assert "DJANGO_INSECURE_DEV_KEY is refused unless DJANGO_DEBUG=1" in result.stderr


def test_debug_alone_gives_the_development_key():
    for env in ({"DJANGO_DEBUG": "1"}, {"DJANGO_DEBUG": "1", "DJANGO_INSECURE_DEV_KEY": "1"}):
        assert loaded_setting("SECRET_KEY", env).startswith("django-insecure-")


def is_secure_with_forwarded_https(env: dict[str, str]) -> str:
    """Return whether a request saying `X-Forwarded-Proto: https` over plain HTTP counts as secure."""
    script = (
        "import django; django.setup(); from django.test import RequestFactory; "
        "print(RequestFactory().get('/', HTTP_X_FORWARDED_PROTO='https').is_secure())"
    )
    result = run_python(["-c", script], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("value", [None, "", "0", "off"])
def test_x_forwarded_proto_is_ignored_unless_a_trusted_proxy_is_declared(value):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_TRUSTED_PROXY_SSL_HEADER"}
    if value is not None:
        env["DJANGO_TRUSTED_PROXY_SSL_HEADER"] = value

    assert loaded_setting("SECURE_PROXY_SSL_HEADER", env) == "None"
    assert is_secure_with_forwarded_https(env) == "False"


def test_x_forwarded_proto_is_trusted_when_the_proxy_is_declared():
    assert loaded_setting("SECURE_PROXY_SSL_HEADER", PRODUCTION_ENV) == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert is_secure_with_forwarded_https(PRODUCTION_ENV) == "True"


def test_x_forwarded_proto_is_ignored_in_debug_too():
    assert is_secure_with_forwarded_https({"DJANGO_DEBUG": "1"}) == "False"


def test_request_size_limits_are_set():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None
    assert 0 < settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS is not None
    assert "config.middleware.RequestSizeLimitMiddleware" in settings.MIDDLEWARE
