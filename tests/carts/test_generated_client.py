"""A client generated from the served schema, as an integrating team would make one, drives a cart's whole life.

openapi-python-client (pinned in requirements-dev.txt) generates a package from /api/schema/ as a live
server serves it; the package is installed, offline, into a throwaway virtualenv, whose interpreter
runs generated_client_session.py against the server. The virtualenv has no pip of its own and sees the
project's site-packages through a .pth file, for the generated package's dependencies (httpx, attrs,
python-dateutil, pinned too) and for pip and setuptools to install it: nothing is downloaded.

The server is pytest-django's live_server, in this process on the test database: it serves every backend
the suite runs on (SQLite, PostgreSQL, DynamoDB), so this test runs in each of CI's suites.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

SESSION = Path(__file__).with_name("generated_client_session.py")
BIN = Path(sys.executable).parent
GENERATOR_CONFIG = "project_name_override: carts-api-client\npackage_name_override: carts_api_client\n"
OPERATIONS = [
    "add_item",
    "close_cart",
    "get_cart",
    "list_cart_events",
    "list_carts",
    "obtain_token",
    "open_cart",
    "remove_item",
]


def run(command: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}{result.stderr[-6000:]}"
    )
    return result


def served_schema(base_url: str, token: str) -> bytes:
    request = urllib.request.Request(
        f"{base_url}/api/schema/", headers={"Authorization": f"Token {token}", "Accept": "application/vnd.oai.openapi"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def throwaway_virtualenv(where: Path) -> Path:
    """Return the python of a new virtualenv that imports the project's packages but installs into its own."""
    run([sys.executable, "-m", "venv", "--without-pip", where])
    python = where / "bin" / "python"
    own = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(own, "project-site-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.slow
def test_a_generated_client_drives_a_cart_through_its_whole_life(live_server, tx_backend, tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_user("integrator", password="integrator-password")
    admin = User.objects.create_user("schema-reader")
    schema = tmp_path / "schema.yaml"
    schema.write_bytes(served_schema(live_server.url, Token.objects.create(user=admin).key))
    (tmp_path / "generator.yaml").write_text(GENERATOR_CONFIG)

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # the generator runs ruff
    generate = [BIN / "openapi-python-client", "generate", "--path", schema, "--output-path", tmp_path / "client"]
    generated = run([*generate, "--meta", "setup", "--config", tmp_path / "generator.yaml"], env=env, cwd=tmp_path)
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr
    python = throwaway_virtualenv(tmp_path / "venv")
    run([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", tmp_path / "client"])
    session = run([python, SESSION, live_server.url, "integrator", "integrator-password"], cwd=tmp_path)

    summary = json.loads(session.stdout.strip().splitlines()[-1])
    assert summary["functions"] == OPERATIONS
    print(f"\ngenerated client: {summary['calls']} calls through {', '.join(summary['functions'])}")
