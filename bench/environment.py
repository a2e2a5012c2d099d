"""Point Django at a fresh benchmark database of one kind and set it up.

dynamodb: the event store on DynamoDB (EVENTSTORE_BACKEND=dynamodb) at AWS_ENDPOINT_URL_DYNAMODB, in
tables of a fresh prefix (bench<pid>_) created here and deleted at the end; Django's own database
(users, read models, checkpoints) is a fresh SQLite file, as for sqlite.
"""

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
BACKENDS = ("sqlite", "postgresql", "dynamodb")
DYNAMODB_ENDPOINT = "AWS_ENDPOINT_URL_DYNAMODB"
NO_DYNAMODB_ENDPOINT = (
    f"The dynamodb backend needs {DYNAMODB_ENDPOINT} (e.g. the URL `bin/dynamodb local` prints); it is not set."
)


def default_backends() -> list[str]:
    """sqlite and postgresql, and dynamodb when an endpoint is configured."""
    return ["sqlite", "postgresql"] + (["dynamodb"] if os.environ.get(DYNAMODB_ENDPOINT) else [])


def dynamodb_environment() -> None:
    """Check the endpoint is set; default boto3's credentials and region for a local endpoint."""
    if not os.environ.get(DYNAMODB_ENDPOINT):
        raise SystemExit(NO_DYNAMODB_ENDPOINT)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        if not os.environ.get(name):
            os.environ[name] = value


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
    """Set up Django on a fresh database of the given kind, migrated (and DynamoDB's tables created)."""
    if backend not in BACKENDS:
        raise SystemExit(f"Unknown backend {backend!r}; choose from {', '.join(BACKENDS)}.")
    # Production-like settings: DEBUG off (no query log), the project's own settings module.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.pop("EVENTSTORE_BACKEND", None)
    if backend == "dynamodb":
        dynamodb_environment()
        os.environ["EVENTSTORE_BACKEND"] = "dynamodb"
        os.environ["EVENTSTORE_DYNAMODB_TABLE_PREFIX"] = f"bench{os.getpid()}_"
        # W1-W8, W10 and W11 read the global order and the inline read model right after writing, which the
        # indexer gives only after its delay: they run with positions assigned at append. W9 measures the
        # default, the indexer, on a backend of its own (bench/scaleout.py).
        os.environ["EVENTSTORE_DYNAMODB_GLOBAL_ORDER"] = "append"
    if backend in ("sqlite", "dynamodb"):
        os.environ["DATABASE_URL"] = f"sqlite:///{sqlite_path('eventstore')}"
    else:
        recreate_pg_database(PG_DB)
        os.environ["DATABASE_URL"] = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}"

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    if backend == "dynamodb":
        from eventstore import store

        # What `manage.py create_dynamodb_tables` does: create the prefix's tables, wait until active.
        store.get_backend().create_tables()


def teardown(backend: str) -> None:
    """Delete what configure() made that outlives the process: DynamoDB's tables of this run's prefix."""
    if backend != "dynamodb":
        return
    from eventstore import store

    client = store.get_backend().client
    prefix = os.environ["EVENTSTORE_DYNAMODB_TABLE_PREFIX"]
    # Table names are listed in order: this run's come right after its prefix.
    listed = client.list_tables(ExclusiveStartTableName=prefix, Limit=100)["TableNames"]
    names = [name for name in listed if name.startswith(prefix)]
    for name in names:
        client.delete_table(TableName=name)
    for name in names:
        client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
