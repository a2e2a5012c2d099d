"""Adoption: a new project installs the built wheel and uses the event store, far from this checkout.

Exactly what a new user does, in a temporary folder: build the wheel, install it (no extras) in a
fresh virtualenv, `django-admin startproject`, add `eventstore` and an app of its own (ledger, an
Account aggregate: tests/adoption/project/), then migrate, check, save and load through the
registered repository, verify_eventstore, take_snapshots and read the stream's admin page.

Each step prints its command, its time and its output (visible with -s, and in the report when it
fails); a failing step is named with its stdout and stderr. Run it alone:
    .venv/bin/pytest -s -m adoption tests/adoption
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

pytestmark = [pytest.mark.adoption, pytest.mark.slow]

CHECKOUT = Path(__file__).resolve().parents[2]
PROJECT_FILES = Path(__file__).resolve().parent / "project"

# Copied to build from: everything but local state, so the wheel's contents prove what the packaging
# configuration includes and excludes (carts, config, bench and tests are all in the copy). Building in
# the checkout itself would write build/ and src/*.egg-info into a tree other work shares.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "node_modules", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", "test-artifacts", "*.sqlite3*",
)  # fmt: skip
# The environment a new user's shell would have: nothing of this project's settings or virtualenv.
FOREIGN_ENV_PREFIXES = ("DJANGO_", "EVENTSTORE_", "AWS_", "DATABASE_URL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
PIP = ["-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
SUPERUSER = {
    "DJANGO_SUPERUSER_USERNAME": "admin",
    "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
    "DJANGO_SUPERUSER_PASSWORD": "adoption-test-password-8431",
}
OWNER, BALANCE, VERSION = "Ada Lovelace", 4266, 12
MAX_LINES_SHOWN = 30


def noise(line: str) -> bool:
    """Return whether a line of output is this machine's pip noise (index folders it lacks)."""
    return line.startswith("WARNING: Location") and "is ignored" in line


def clean(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not noise(line)).strip()


def shown(text: str, limit: int = MAX_LINES_SHOWN) -> str:
    lines = [line for line in clean(text).splitlines() if line.strip()]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more lines)"]
    return "\n".join(f"    {line}" for line in lines)


class Steps:
    """Run each step's command, print it concisely, and fail naming the step with its whole output."""

    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.env = env
        self.root = root
        self.number = 0

    def run(
        self,
        step: str,
        args: Sequence[str | Path],
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        expect_failure: bool = False,
        show: bool = True,
        timeout: float = 300,
        label: str | None = None,
    ) -> str:
        """Run a command; return its stdout (pip noise removed). Fail unless it exits 0 (or, if asked, non-zero).

        `label` is how the command is printed when its arguments are too long to read (a script's text).
        """
        self.number += 1
        command = label or " ".join(str(arg) for arg in args)
        started = time.monotonic()
        try:
            done = subprocess.run(
                [str(arg) for arg in args],
                cwd=cwd,
                env={**self.env, **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as timed_out:
            pytest.fail(
                f"Step {self.number} ({step}) timed out after {timeout:.0f} s: $ {command}\n"
                f"--- stdout ---\n{clean(_text(timed_out.stdout))}\n--- stderr ---\n{clean(_text(timed_out.stderr))}",
                pytrace=False,
            )
        seconds = time.monotonic() - started
        stdout, stderr = clean(done.stdout), clean(done.stderr)
        short = command.replace(str(self.root), "<tmp>")
        print(f"[{self.number}] {step}: $ {short}  ({seconds:.1f} s, exit {done.returncode})", flush=True)
        if show and (stdout or stderr):
            print(shown("\n".join(part for part in (stdout, stderr) if part)), flush=True)
        if (done.returncode != 0) != expect_failure:
            expected = "a failure" if expect_failure else "exit 0"
            pytest.fail(
                f"Step {self.number} ({step}) exited {done.returncode}, expected {expected}: $ {command}\n"
                f"(in {cwd})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                pytrace=False,
            )
        return stdout

    def check(self, step: str, condition: bool, message: str, output: str) -> None:
        """Fail naming the step when its output is not what the step promises."""
        if not condition:
            pytest.fail(f"Step {self.number} ({step}): {message}\n--- output ---\n{output}", pytrace=False)


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def last_json_line(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_a_new_project_installs_the_wheel_and_uses_the_event_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("adoption")
    env = {key: value for key, value in os.environ.items() if not key.startswith(FOREIGN_ENV_PREFIXES)}
    steps = Steps(env, root)

    # 1. The wheel, built from (a copy of) the checkout as a release would be.
    source, dist = root / "source", root / "dist"
    shutil.copytree(CHECKOUT, source, ignore=NOT_COPIED, symlinks=True)
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", dist, source]
    out = steps.run("build the wheel", build, cwd=root, show=False)
    print(shown("\n".join(line for line in out.splitlines() if line.startswith("Successfully built"))), flush=True)
    wheels = sorted(dist.glob("django_eventstore-*.whl"))
    steps.check("build the wheel", len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}", out)
    wheel = wheels[0]
    names = zipfile.ZipFile(wheel).namelist()
    print(f"Wheel {wheel.name}: {len(names)} files", flush=True)
    print("\n".join(f"    {name}" for name in names), flush=True)
    dist_info = wheel.name.split("-py3")[0] + ".dist-info/"
    strays = [name for name in names if not name.startswith(("eventstore/", dist_info))]
    assert not strays, f"The wheel holds files outside eventstore/ and {dist_info}: {strays}"
    top_levels = {name.split("/", 1)[0] for name in names}
    assert not top_levels & {"carts", "config", "bench", "tests"}, f"The demo site leaked into the wheel: {top_levels}"
    for required in (
        "eventstore/py.typed",
        "eventstore/migrations/0001_initial.py",
        "eventstore/templates/admin/eventstore/stream/stream.html",
        "eventstore/static/eventstore/admin/history.css",
        "eventstore/management/commands/verify_eventstore.py",
        "eventstore/management/commands/take_snapshots.py",
    ):
        assert required in names, f"The wheel lacks {required}"

    # 2. A fresh virtualenv with the wheel and nothing else asked for: no extras, so no boto3.
    venv = root / "venv"
    steps.run("create a virtualenv", [sys.executable, "-m", "venv", venv], cwd=root)
    python = venv / "bin" / "python"
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    out = steps.run("pip install the wheel", [python, *PIP, wheel], cwd=root, show=False)
    installed = [line for line in out.splitlines() if line.startswith("Successfully installed")]
    print("\n".join(f"    {line}" for line in installed), flush=True)
    steps.check("pip install the wheel", bool(installed), "pip did not say what it installed", out)
    steps.check("pip install the wheel", "boto3" not in out and "psycopg" not in out, "an extra was installed", out)
    steps.run("boto3 is not installed", [python, "-c", "import boto3"], cwd=root, expect_failure=True)

    # 3. A new project, and an app of its own that registers an aggregate.
    site = root / "site"
    site.mkdir()
    steps.run("startproject", [venv / "bin" / "django-admin", "startproject", "mysite", "."], cwd=site)
    steps.run("startapp", [python, "manage.py", "startapp", "ledger"], cwd=site)
    for name in ("domain.py", "repositories.py"):
        shutil.copy(PROJECT_FILES / "ledger" / name, site / "ledger" / name)
    with (site / "mysite" / "settings.py").open("a") as settings:
        settings.write("\n\n" + (PROJECT_FILES / "settings_eventstore.py").read_text())

    # 4. The project's commands.
    out = steps.run("migrate", [python, "manage.py", "migrate", "--no-input"], cwd=site)
    steps.check("migrate", "Applying eventstore.0001_initial... OK" in out, "eventstore's migrations did not run", out)

    out = steps.run("check", [python, "manage.py", "check"], cwd=site)
    steps.check("check", "System check identified no issues (0 silenced)." in out, "the checks found issues", out)

    out = steps.run(
        "save and load an account",
        [python, "manage.py", "shell", "-c", (PROJECT_FILES / "save_and_load.py").read_text()],
        cwd=site,
        label="python manage.py shell -c <tests/adoption/project/save_and_load.py>",
    )
    saved = last_json_line(out)
    steps.check(
        "save and load an account",
        Path(saved["eventstore"]).is_relative_to(venv),
        "eventstore was not imported from the new virtualenv",
        out,
    )
    assert saved["version"] == VERSION, saved
    assert saved["state"] == {"owner": OWNER, "balance": BALANCE}, saved
    assert saved["replayed_state"] == saved["state"], saved
    assert saved["snapshot_version"] == 10, f"snapshot_every=5 should have snapshotted v5 and v10: {saved}"

    out = steps.run("verify_eventstore", [python, "manage.py", "verify_eventstore"], cwd=site)
    steps.check("verify_eventstore", "no faults" in out, "the store was not reported sound", out)
    steps.check("verify_eventstore", f"1 stream(s), {VERSION} event(s)" in out, "it did not check the stream", out)

    out = steps.run("take_snapshots --all", [python, "manage.py", "take_snapshots", "--all"], cwd=site)
    steps.check("take_snapshots --all", "Snapshotted 1 of 1 stream(s)" in out, "the stream was not snapshotted", out)

    steps.run("createsuperuser", [python, "manage.py", "createsuperuser", "--noinput"], cwd=site, env=SUPERUSER)

    out = steps.run(
        "the stream's admin page",
        [python, "manage.py", "shell", "-c", (PROJECT_FILES / "admin_page.py").read_text()],
        cwd=site,
        env={**SUPERUSER, "ACCOUNT_UUID": saved["uuid"]},
        label=f"ACCOUNT_UUID={saved['uuid']} python manage.py shell -c <tests/adoption/project/admin_page.py>",
    )
    page = last_json_line(out)
    assert page["anonymous_status"] == 302 and "/admin/login/" in page["anonymous_redirect"], page
    assert page["logged_in"] is True, page
    assert page["status"] == 200, page
    assert f"at version {VERSION}" in page["title"], page
    assert page["state"] == {"owner": OWNER, "balance": str(BALANCE)}, page
    assert page["changes"] == {"balance": f"5500 → {BALANCE}"}, page

    print(f"Adoption: {steps.number} steps passed in {time.monotonic() - started:.1f} s", flush=True)
