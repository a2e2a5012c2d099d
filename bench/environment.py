"""Point Django at a fresh benchmark database of one kind and set it up."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# BENCH_VAR_DIR and BENCH_PG_DB keep two runs on one machine apart (each deletes its files and database).
VAR = Path(os.environ.get("BENCH_VAR_DIR") or BASE_DIR / "var" / "bench")
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("BENCH_PG_PORT", "5432")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "bench")
BACKENDS = ("sqlite", "postgresql")


def sqlite_path(name: str) -> Path:
    """Return the path of a benchmark SQLite file, deleting any left by an earlier run."""
    VAR.mkdir(parents=True, exist_ok=True)
    path = VAR / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def pg_conninfo(dbname: str) -> str:
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={dbname}"


def recreate_pg_database(dbname: str) -> None:
    """Drop and create a PostgreSQL database for one run."""
    import psycopg

    with psycopg.connect(pg_conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')


def configure(backend: str) -> None:
    """Set up Django on a fresh database of the given kind (sqlite or postgresql), migrated."""
    if backend not in BACKENDS:
        raise SystemExit(f"Unknown backend {backend!r}; choose from {', '.join(BACKENDS)}.")
    # Production-like settings: DEBUG off (no query log), the project's own settings module.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.pop("EVENTSTORE_BACKEND", None)
    if backend == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{sqlite_path('eventstore')}"
    else:
        recreate_pg_database(PG_DB)
        os.environ["DATABASE_URL"] = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
