"""The event store's own suite (tests/eventstore, tests/admin) on SQLite, once per supported Python/Django pair.

    .venv/bin/nox -l                                     # the sessions
    .venv/bin/nox -s "tests(django-6.1-py3.13)"          # newest Python, newest Django
    .venv/bin/nox -R -s "tests(django-6.1-py3.13)" -- -x # again, reusing its virtualenv; pytest options after --

The oldest pair (Python 3.11, Django 5.2 LTS) is what .venv and bin/test's main suites run; bin/test runs
the newest pair here as its `django-6.1-py3.13` suite. Each session installs the package (from a copy of
the checkout: building in place would write build/ and src/*.egg-info into the shared tree), the demo
site's runtime (requirements.txt, which tests.settings needs) with the session's Django instead of the
pinned one, and the test tools pinned in requirements-dev.txt. Dependencies are reinstalled only when
those inputs change, so `-R` reuses the virtualenv yet always tests the current code.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
#: (Python, Django): the oldest and the newest supported pair (pyproject.toml's classifiers).
PAIRS = [("3.11", "5.2"), ("3.13", "6.1")]
#: What the eventstore suite needs from requirements-dev.txt, at the versions pinned there.
TEST_TOOLS = {"pytest", "pytest-django", "factory-boy", "hypothesis"}
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "node_modules", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", "test-artifacts", "*.sqlite3*",
)  # fmt: skip

nox.options.sessions = ["tests"]
# Under var/ (ignored by git, as .nox is not) with the project's other local state.
nox.options.envdir = str(ROOT / "var" / "nox")


def works(command: str) -> bool:
    try:
        return subprocess.run([command, "-c", ""], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def pyenv_python(version: str) -> Path | None:
    """Return pyenv's newest installed interpreter of `version` (such as "3.13"), if any."""
    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = [path for path in versions.glob(f"{version}.*") if re.fullmatch(rf"{re.escape(version)}\.\d+", path.name)]
    for path in sorted(found, key=lambda path: int(path.name.rsplit(".", 1)[1]), reverse=True):
        if works(str(path / "bin" / f"python{version}")):
            return path / "bin" / f"python{version}"
    return None


# pyenv's shims answer only for its selected versions: a pythonX.Y they cannot run is looked for among
# pyenv's installed versions, whose folder then goes first on PATH, where nox looks for interpreters.
for _python, _ in PAIRS:
    if not works(f"python{_python}") and (_found := pyenv_python(_python)):
        os.environ["PATH"] = f"{_found.parent}{os.pathsep}{os.environ['PATH']}"


def interpreter(version: str) -> str | None:
    """Return the pythonX.Y a session of `version` runs on: the first on PATH that works, else pyenv's; or None."""
    found = shutil.which(f"python{version}")
    if found and works(found):
        return found
    installed = pyenv_python(version)
    return str(installed) if installed else None


def requirement_name(line: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[=<>!~;]", line, maxsplit=1)[0]).lower()


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split(" #", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def pip(session: nox.Session, *args: str) -> None:
    """Run pip in the session's virtualenv; print its output without this machine's index-folder warnings."""
    command = ["python", "-m", "pip", "install", "--no-input", "--disable-pip-version-check", *args]
    output = session.run(*command, silent=True)
    noise = re.compile(r"^WARNING: Location .* is ignored")
    kept = [line for line in str(output or "").splitlines() if line.strip() and not noise.match(line)]
    if kept:
        print("\n".join(kept))


@nox.session
@nox.parametrize(("python", "django"), PAIRS, ids=[f"django-{django}-py{python}" for python, django in PAIRS])
def tests(session: nox.Session, django: str) -> None:
    """The reusable app's tests on SQLite, with one supported Python and Django."""
    runtime = [line for line in requirement_lines(ROOT / "requirements.txt") if requirement_name(line) != "django"]
    tools = [line for line in requirement_lines(ROOT / "requirements-dev.txt") if requirement_name(line) in TEST_TOOLS]
    requirements = [*runtime, *tools, f"Django=={django}.*"]

    package = Path(session.create_tmp()) / "django-eventstore"
    shutil.rmtree(package, ignore_errors=True)
    shutil.copytree(ROOT, package, ignore=NOT_COPIED, symlinks=True)

    stamp = Path(session.virtualenv.location) / ".installed-requirements"
    wanted = hashlib.sha256("\n".join([*requirements, (ROOT / "pyproject.toml").read_text()]).encode()).hexdigest()
    if not stamp.is_file() or stamp.read_text() != wanted:
        # The package with everything else in one resolution: pip refuses a Django outside its range.
        pip(session, "--quiet", str(package), *requirements)
        stamp.write_text(wanted)
    else:
        pip(session, "--quiet", "--no-deps", "--force-reinstall", str(package))
    session.run(
        "python", "-c", "import django, eventstore, sys; "
        "print(f'Python {sys.version.split()[0]}, Django {django.__version__}, eventstore from {eventstore.__file__}')",
    )  # fmt: skip

    session.run(
        "pytest",
        "tests/eventstore",
        "tests/admin",
        *session.posargs,
        env={
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "test-only-secret-key-not-for-production",
            "PYTHONDONTWRITEBYTECODE": "1",
            # SQLite and the Django backend, in a test database of its own (other runs may share var/).
            "DATABASE_URL": None,
            "EVENTSTORE_BACKEND": None,
            "TEST_DB_SUFFIX": f"-nox-py{session.python}-django{django}",
        },
    )


if __name__ == "__main__":
    # `python noxfile.py 3.13` prints the interpreter that version's session would use, or exits 1 (bin/test asks).
    found = interpreter(sys.argv[1])
    print(
        found or f"no working python{sys.argv[1]} on PATH nor among pyenv's versions",
        file=sys.stdout if found else sys.stderr,
    )
    sys.exit(0 if found else 1)
