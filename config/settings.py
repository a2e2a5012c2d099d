"""Settings for the demo project, read from the environment.

SQLite in a local file is the embedded default; set DATABASE_URL for PostgreSQL.
EVENTSTORE_BACKEND=dynamodb switches the event store to DynamoDB (boto3 reads its own environment).
"""

import os
from pathlib import Path

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", False)
# The development key is for DEBUG only: an opt-in to it without DEBUG is refused, never honoured.
if env_bool("DJANGO_INSECURE_DEV_KEY", False) and not DEBUG:
    raise ImproperlyConfigured(
        "DJANGO_INSECURE_DEV_KEY is refused unless DJANGO_DEBUG=1: with DEBUG off, set DJANGO_SECRET_KEY."
    )
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is not set. Set it, or set DJANGO_DEBUG=1 for local development.")
    SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "eventstore",
    "carts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "carts.middleware.RequestIdMiddleware",
    "config.middleware.RequestSizeLimitMiddleware",
    "config.middleware.NulByteMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it sees a view's database errors first: 503 with Retry-After, never a 500.
    "config.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# SQLite: BEGIN IMMEDIATE takes the write lock up front so that racing read-then-write
# transactions queue on busy_timeout instead of failing with "database is locked" at upgrade time;
# WAL lets readers proceed while one writer writes.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# Lets several test runs on one machine keep apart (each its own test database).
_test_db_suffix = os.environ.get("TEST_DB_SUFFIX", "")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
    # A file, not :memory:, so that threads in concurrency tests share one test database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-db{_test_db_suffix}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}{_test_db_suffix}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The event store's backends by alias (see eventstore.conf): "django" and "dynamodb" name each store, so that
# `copy_events --from django --to dynamodb` can move events; "default", the store the app uses, is one of them,
# chosen by EVENTSTORE_BACKEND.
_EVENTSTORE_BACKENDS = {
    "django": {"BACKEND": "eventstore.backends.django.DjangoBackend", "OPTIONS": {}},
    "dynamodb": {
        "BACKEND": "eventstore.backends.dynamodb.DynamoDBBackend",
        "OPTIONS": {
            "TABLE_PREFIX": os.environ.get("EVENTSTORE_DYNAMODB_TABLE_PREFIX", "eventstore_"),
            # "indexer": appends share no item and `index_events` assigns the global order after them (read
            # models follow it asynchronously); "append": each append assigns its own positions, one at a time.
            "GLOBAL_ORDER": os.environ.get("EVENTSTORE_DYNAMODB_GLOBAL_ORDER", "indexer"),
        },
    },
}
_backend_name = os.environ.get("EVENTSTORE_BACKEND", "django")
if _backend_name not in _EVENTSTORE_BACKENDS:
    raise ImproperlyConfigured(f"EVENTSTORE_BACKEND={_backend_name!r} is not one of {', '.join(_EVENTSTORE_BACKENDS)}.")
EVENTSTORE = {
    "BACKENDS": {"default": _EVENTSTORE_BACKENDS[_backend_name], **_EVENTSTORE_BACKENDS},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

LOGIN_URL = "admin:login"

# Email: the receipts of closed carts (carts.receipts). Printed to the console unless EMAIL_BACKEND says
# otherwise: django.core.mail.backends.filebased.EmailBackend writes one file per message to
# EMAIL_FILE_PATH; django.core.mail.backends.smtp.EmailBackend sends through EMAIL_HOST:EMAIL_PORT. The SMTP
# timeout (EMAIL_TIMEOUT) stays well below the subscription lease (30 s), or a hung mail server would let
# another worker take the receipts over while this one still holds the message.
_email_backend = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
_email_options: dict[str, object] = {}
if _email_backend.endswith(".filebased.EmailBackend"):
    _email_options = {"file_path": os.environ.get("EMAIL_FILE_PATH") or str(BASE_DIR / "var" / "mail")}
elif _email_backend.endswith(".smtp.EmailBackend"):
    _email_options = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT", "25")),
        "timeout": int(os.environ.get("EMAIL_TIMEOUT", "10")),
    }
if django.VERSION >= (6, 1):
    # Django 6.1 replaces EMAIL_BACKEND and the EMAIL_* settings with MAILERS (the old ones warn).
    MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}
else:
    EMAIL_BACKEND = _email_backend
    EMAIL_FILE_PATH = _email_options.get("file_path")
    EMAIL_HOST = _email_options.get("host", "localhost")
    EMAIL_PORT = _email_options.get("port", 25)
    EMAIL_TIMEOUT = _email_options.get("timeout")
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "shop@localhost")

# Request size limits: an event store takes small commands, never uploads.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# Seconds a key claimed by a request that never answered (its server died) blocks its retries (carts.idempotency).
IDEMPOTENCY_CLAIM_TIMEOUT = int(os.environ.get("IDEMPOTENCY_CLAIM_TIMEOUT", "60"))
# Seconds a kept Idempotency-Key response is replayed; `manage.py purge_idempotency_keys` deletes older ones.
IDEMPOTENCY_KEY_TTL = int(os.environ.get("IDEMPOTENCY_KEY_TTL", str(24 * 60 * 60)))
# Most carts one user may have open at once (0: no limit); one more is answered 422 too_many_open_carts.
CARTS_MAX_OPEN_PER_USER = int(os.environ.get("CARTS_MAX_OPEN_PER_USER", "100"))

# HTTP Basic runs the password hasher on every request (hundreds of ms of CPU, for unknown users too):
# only with DEBUG or DJANGO_API_BASIC_AUTH=1. Token first, so an anonymous request's 401 says
# `WWW-Authenticate: Token`.
API_BASIC_AUTH = env_bool("DJANGO_API_BASIC_AUTH", DEBUG)
# Throttle counters live in Django's default cache. LocMemCache would be per process, so each gunicorn
# worker would admit the full rate; a file cache under var/ is shared by every worker on the host without
# another service (several hosts need a shared cache such as Redis: set it in CACHES).
THROTTLE_RATES = {
    "anon": os.environ.get("DJANGO_THROTTLE_ANON", "60/min"),
    "user": os.environ.get("DJANGO_THROTTLE_USER", "1200/min"),
    "token": os.environ.get("DJANGO_THROTTLE_TOKEN", "10/min"),
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ.get("DJANGO_CACHE_DIR") or str(BASE_DIR / "var" / "cache"),
        # One entry per throttled client and scope. At the default 300 Django culls a third of them at
        # random on the next write, and those clients' rate limits start again from nothing.
        "OPTIONS": {"MAX_ENTRIES": int(os.environ.get("DJANGO_CACHE_MAX_ENTRIES", "100000"))},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "carts.authentication.OptionalBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "carts.throttling.AnonRateThrottle",
        "carts.throttling.UserRateThrottle",
        "carts.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": THROTTLE_RATES,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "carts.http.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Carts API",
    "DESCRIPTION": "Shopping carts kept as event streams in the eventstore app.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Anonymous users reach nothing but the login pages: the schema and docs need a login too.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Enums become components named here: the cart's status, and the `code` of each error body that a
    # discriminator tells apart (one code each).
    "ENUM_NAME_OVERRIDES": {
        "CartStatus": "carts.models.CartSummary.STATUSES",
        "VersionMismatchCode": ["version_mismatch"],
        "ConcurrentModificationCode": ["concurrent_modification"],
        "KeyInProgressCode": ["idempotency_key_in_progress"],
        "CartExistsCode": ["cart_exists"],
        "CartNotFoundCode": ["cart_not_found"],
        "VersionNotFoundCode": ["version_not_found"],
        "GoneCode": ["cart_closed"],
        "TooManyOpenCartsCode": ["too_many_open_carts"],
        "KeyReusedCode": ["idempotency_key_reused"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "carts.openapi.declare_basic_auth_only_where_enabled",
    ],
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)

# Trust X-Forwarded-Proto only when told that a proxy in front sets it (and overwrites what clients send):
# otherwise any client could make a plain-HTTP request count as HTTPS.
if env_bool("DJANGO_TRUSTED_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}
