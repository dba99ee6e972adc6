"""Settings, read from the environment (12-factor).

Every variable is optional in development; with ``DEBUG=0`` (the default) a
``SECRET_KEY`` is required and the process refuses to start without one.
A ``.env`` file beside ``manage.py`` is read when present (``make run`` creates
one from ``.env.example``); real environment variables win over it.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

# Pure and free of Django: safe to import while settings load.
from engagement.rules import Limits, LimitsSettings, StartSettings, initial_state

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Development only: DEBUG is on, so this process never serves production.
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)

# models.W040: SQLite ignores an index's INCLUDE columns (the leaderboards'
# histogram index); the index still works there, it only reads the table for
# the included column. On PostgreSQL the include makes the sums index-only.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

INSTALLED_APPS = [
    # django.contrib.admin, with the project's admin site (backoffice.sites).
    "backoffice.apps.AdminSiteConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # Refresh tokens: recorded when issued, revoked on rotation and sign-out.
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    # Django's Tasks API (the backport until Django 6) and its database backend.
    "django_tasks",
    "django_tasks_db",
    "base",
    "users",
    "engagement",
    "idempotency",
    "rewards",
    "checkins",
    # After rewards: its after-change step runs after the unlock step.
    "events",
    # The boards' step reads only the change's own steps: any place after engagement.
    "leaderboards",
    # After events: its listener enqueues deliveries for the events just written.
    "webhooks",
    "privacy",
    "scheduler",
    "throttles",
    "backoffice",
]

MIDDLEWARE = [
    "base.middleware.RequestIdMiddleware",
    "base.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Django's three, skipped for the JSON API (base/site_middleware.py).
    "base.site_middleware.SiteSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "base.site_middleware.SiteAuthenticationMiddleware",
    "base.site_middleware.SiteMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Before the request's transaction: it records a write once committed.
    "base.replica.ReplicaWritesMiddleware",
    "idempotency.middleware.IdempotencyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -----------------------------------------------------------------
# DATABASE_URL unset -> an SQLite file. SQLite ignores SELECT ... FOR UPDATE, so
# every transaction is opened with BEGIN IMMEDIATE: it takes the write lock up
# front and concurrent writers queue (busy timeout) instead of failing mid-way.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
            ),
        }
    )
    # Tests run threads against the database, which needs a file, not :memory:.
    _db_file = Path(_db["NAME"])
    _db["TEST"] = {"NAME": str(_db_file.with_name(f".test-{_db_file.name}"))}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Every process borrows connections from its own bounded pool (Django's
    # psycopg pool) and gives them back when a request ends, so a process never
    # holds more than DB_POOL_MAX connections however many threads its server
    # starts or abandons: the cluster-wide count is processes x DB_POOL_MAX.
    # A request that finds the pool empty waits up to DB_POOL_TIMEOUT seconds,
    # then gets a 503 problem (as when the database is unreachable).
    _db["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
    _db["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
    _db.setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=5),
            "pool": {
                "min_size": env.int("DB_POOL_MIN", default=1),
                "max_size": env.int("DB_POOL_MAX", default=10),
                "timeout": env.float("DB_POOL_TIMEOUT", default=2.0),
                # Idle connections beyond min_size are closed after this long.
                "max_idle": env.float("DB_POOL_MAX_IDLE", default=300.0),
                "name": "default",
            },
        }
    )
    if _db["OPTIONS"]["pool"]["max_size"] < _db["OPTIONS"]["pool"]["min_size"]:
        raise ImproperlyConfigured("DB_POOL_MAX must be at least DB_POOL_MIN.")
    # Behind PgBouncer in transaction pooling (docs/SCALING.md, "PgBouncer"):
    # each transaction may run on another server connection, so nothing may
    # outlive one. Django's server-side cursors (QuerySet.iterator() outside a
    # transaction declares them WITH HOLD) would, and so would prepared
    # statements (off with it, below).
    _transaction_pooling = env.bool("DB_TRANSACTION_POOLING", default=False)
    if _transaction_pooling:
        _db["DISABLE_SERVER_SIDE_CURSORS"] = True
    # Prepared statements (docs/PERFORMANCE.md, "Prepared statements"): values
    # bound by the server, and a statement a connection has run
    # DB_PREPARE_THRESHOLD times is prepared there, so PostgreSQL parses and
    # plans it once per connection instead of on every run. The check-in's one
    # write statement costs more to plan than to execute: prepared, its
    # transaction's pgbench ceiling roughly doubles. PgBouncer before 1.21
    # cannot carry a prepared statement from one transaction to the next, so
    # behind it in transaction pooling they are off (binding stays on the client).
    if env.bool("DB_PREPARED_STATEMENTS", default=not _transaction_pooling):
        if _transaction_pooling:
            raise ImproperlyConfigured(
                "DB_PREPARED_STATEMENTS cannot be on with DB_TRANSACTION_POOLING: "
                "PgBouncer would run a statement on a connection that never prepared it."
            )
        _db["OPTIONS"].update(
            {
                "server_side_binding": True,
                "prepare_threshold": env.int("DB_PREPARE_THRESHOLD", default=2),
            }
        )
else:
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL or SQLite.")

# --- Read replica (docs/SCALING.md, "Read replica") ---------------------------------
# DATABASE_REPLICA_URL: a streaming standby of the primary. Catalog, history,
# leaderboard and event-feed reads go there while it is up and less than
# REPLICA_MAX_LAG_SECONDS behind, except a user's reads until the replica has
# their last write (base.replica). Unset: everything on the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL.")
    _replica = env.db("DATABASE_REPLICA_URL")
    if _replica["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must point at PostgreSQL.")
    _replica["CONN_MAX_AGE"] = 0
    _replica["CONN_HEALTH_CHECKS"] = False
    # Its own bounded pool per process (the cluster-wide count on the replica is
    # processes x DB_REPLICA_POOL_MAX). Short waits: a replica that does not
    # answer quickly is skipped, its reads go to the primary.
    _replica.setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": env.int("DATABASE_REPLICA_CONNECT_TIMEOUT", default=2),
            "pool": {
                "min_size": env.int("DB_REPLICA_POOL_MIN", default=1),
                "max_size": env.int("DB_REPLICA_POOL_MAX", default=10),
                "timeout": env.float("DB_REPLICA_POOL_TIMEOUT", default=1.0),
                "max_idle": env.float("DB_POOL_MAX_IDLE", default=300.0),
                "name": "replica",
            },
        }
    )
    if _replica["OPTIONS"]["pool"]["max_size"] < _replica["OPTIONS"]["pool"]["min_size"]:
        raise ImproperlyConfigured("DB_REPLICA_POOL_MAX must be at least DB_REPLICA_POOL_MIN.")
    # The suite's test database is created on the primary and reaches the
    # standby by streaming replication (CREATE DATABASE is replicated): the
    # alias keeps its host and takes the test database's name.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
REPLICA = {
    "ALIAS": "replica" if DATABASE_REPLICA_URL else None,
    # Reads leave the replica when its last confirmed catch-up is older than this.
    "MAX_LAG_SECONDS": env.float("REPLICA_MAX_LAG_SECONDS", default=2.0),
    # How often each process measures the lag (two tiny queries).
    "CHECK_SECONDS": env.float("REPLICA_CHECK_SECONDS", default=0.5),
    # How long an unreachable replica is left alone.
    "RETRY_SECONDS": env.float("REPLICA_RETRY_SECONDS", default=10.0),
    # How far the app servers' clocks may disagree (read-your-writes).
    "CLOCK_SKEW_SECONDS": env.float("REPLICA_CLOCK_SKEW_SECONDS", default=0.5),
}
for _name in ("MAX_LAG_SECONDS", "CHECK_SECONDS", "RETRY_SECONDS", "CLOCK_SKEW_SECONDS"):
    if REPLICA[_name] < 0:
        raise ImproperlyConfigured(f"REPLICA_{_name} must be 0 or more.")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

# --- Cache --------------------------------------------------------------------
# Throttle counters must be shared by every worker process: Redis when
# REDIS_URL is set, else the database (the cache table, made by
# `createcachetable`, and the throttles app's counter table beside it).
# A per-process local-memory cache would multiply every rate by the workers.
# The short socket timeouts keep a dead Redis cheap: the throttles then count
# in each process (login, register) or let requests through (per user).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Each refresh answers a new refresh token and revokes the one used
    # (users.tokens.token_refresh does it, with the blacklist's row as the lock).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # simplejwt's own login view is not used: users.services.user_login
    # records last_login, once per login.
    "UPDATE_LAST_LOGIN": False,
}

# Password reset: Django's token generator; a link is good for this many
# seconds, once, and not after the password changed or the user logged in.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60)
# Where the e-mailed link points, e.g. a page of the web client that posts to
# auth/password/reset/confirm: "https://app.example.com/reset?uid={uid}&token={token}".
# Unset: the e-mail gives uid and token to post there (an API-only service).
PASSWORD_RESET_URL = env.str("PASSWORD_RESET_URL", default="")
if PASSWORD_RESET_URL and not ("{uid}" in PASSWORD_RESET_URL and "{token}" in PASSWORD_RESET_URL):
    raise ImproperlyConfigured("PASSWORD_RESET_URL must contain {uid} and {token}.")

# --- E-mail -------------------------------------------------------------------
# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587 (STARTTLS),
# smtp+ssl://...:465 (TLS), consolemail:// (printed), dummymail:// (dropped).
# Without it, Django's usual settings from the environment (EMAIL_HOST, ...):
# SMTP, to localhost:25 unless told otherwise; in development (DEBUG) without
# EMAIL_HOST, the console.
if env.str("EMAIL_URL", default=""):
    _email = env.email_url("EMAIL_URL")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
    EMAIL_PORT = _email["EMAIL_PORT"] or 25
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
    EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
    EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
    if _email["EMAIL_FILE_PATH"]:
        EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
elif env.str("EMAIL_HOST", default="") or not DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
if EMAIL_BACKEND.endswith(".smtp.EmailBackend") and EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL exclude each other.")
# Seconds an SMTP connection may block the (background) sender.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# --- REST framework -------------------------------------------------------------
THROTTLE_USER = env.str("THROTTLE_USER", default="600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "users.authentication.BearerTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["base.parsers.BoundedJSONParser"],
    # THROTTLE_USER=off drops the per-user limit (one counter round trip per
    # request) where a gateway in front already rate-limits, and in `make bench`.
    "DEFAULT_THROTTLE_CLASSES": (
        [] if THROTTLE_USER.lower() == "off" else ["throttles.throttling.UserRateThrottle"]
    ),
    "DEFAULT_THROTTLE_RATES": {
        "user": THROTTLE_USER if THROTTLE_USER.lower() != "off" else "1/s",
        "register": env.str("THROTTLE_REGISTER", default="5/min"),
        "anon": env.str("THROTTLE_ANON", default="600/min"),
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "login_ip": env.str("THROTTLE_LOGIN_IP", default="30/min"),
        "password_reset": env.str("THROTTLE_PASSWORD_RESET", default="20/hour"),
        "password_reset_email": env.str("THROTTLE_PASSWORD_RESET_EMAIL", default="3/hour"),
    },
    # The shared headers and problems of every operation (base.openapi).
    "DEFAULT_SCHEMA_CLASS": "config.schema.ApiSchema",
    "EXCEPTION_HANDLER": "base.errors.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Client IPs for the per-IP throttles: REMOTE_ADDR unless told how many
    # trusted proxies append to X-Forwarded-For (a client could forge it).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Stateful Engagement Backend API",
    "DESCRIPTION": (
        "Daily check-ins, streaks, per-user state, rewards and a tool shop. "
        "Errors are RFC 9457 problem details (application/problem+json)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: Swagger UI would fetch it from its public validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "StreakStatusEnum": "engagement.rules.STREAK_STATUSES",
        "TimezoneEnum": "users.timezones.TIMEZONE_NAMES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "base.openapi.describe_strict_requests",
        "config.api.link_operations",
    ],
}


# --- Engagement rules (the one place their constants live) ------------------------
class EngagementSettings(LimitsSettings, StartSettings):
    """The shape of ``ENGAGEMENT``: the rules' limits, and the rest."""

    TIMEZONE_CHANGE_COOLDOWN_HOURS: int
    INVENTORY_CAPACITY: int


ENGAGEMENT: EngagementSettings = {
    "MAX_FREEZES": 2,
    "ENERGY_MAX": 100,
    "FATIGUE_MAX": 100,
    "LOYALTY_MULTIPLIER_STEP": "0.05",
    "LOYALTY_MULTIPLIER_CAP": "1.5",
    "CHECKIN_ENERGY": 20,
    "CHECKIN_FATIGUE": 10,
    "CHECKIN_LOYALTY": 5,
    "TIMEZONE_CHANGE_COOLDOWN_HOURS": 24,
    "INVENTORY_CAPACITY": 5,
    # What a new user starts with (docs/OPERATIONS.md, "The meters"). Fixed for
    # the life of a database: the ledger replays from them, so changing one
    # later makes every existing user's replay disagree by the change.
    "START_LEVEL": 1,
    "START_ENERGY": 50,
    "START_FATIGUE": 0,
    "START_LOYALTY": 0,
    "START_STREAK_FREEZES": 0,
}
try:
    initial_state(ENGAGEMENT, Limits.from_settings(ENGAGEMENT))
except ValueError as exc:
    raise ImproperlyConfigured(f"ENGAGEMENT: {exc}") from None

# A streak_repair tool restores a lost streak up to this many local days after
# the day it was lost on (0: only on that day; a reset check-in comes a day
# later at the earliest, so 0 disables the tool).
REPAIR_WINDOW_DAYS = env.int("REPAIR_WINDOW_DAYS", default=2)
if REPAIR_WINDOW_DAYS < 0:
    raise ImproperlyConfigured("REPAIR_WINDOW_DAYS must be 0 or more.")

# --- Background work and webhooks (docs/ARCHITECTURE.md, docs/OPERATIONS.md) --------
# Tasks are rows in the project's own database: enqueueing joins the business
# transaction, and workers (`manage.py worker`) take them with SKIP LOCKED.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Periodic jobs (`manage.py scheduler`): each enqueued once per period, on its
# boundaries, with the slot it runs for. Streak reminders run every quarter of
# an hour because some zones are offset by :30 or :45.
SCHEDULE = {
    "webhook-sweep": {"task": "webhooks.tasks.sweep", "every": 60},
    "streak-reminders": {"task": "events.tasks.streak_tick", "every": 15 * 60},
    "leaderboard-fold": {"task": "leaderboards.tasks.fold", "every": 60},
}
# `streak.at_risk` goes out at this local hour in each user's own zone.
REMINDER_LOCAL_HOUR = env.int("REMINDER_LOCAL_HOUR", default=20)
if not 0 <= REMINDER_LOCAL_HOUR <= 23:
    raise ImproperlyConfigured("REMINDER_LOCAL_HOUR must be an hour of the day, 0 to 23.")
# Hosts a webhook may target over plain http or at a private, loopback or
# link-local address (e.g. "localhost", "127.0.0.1", "receiver.internal").
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Retried with exponential backoff and jitter for this long, then dead.
WEBHOOK_RETRY_HOURS = env.int("WEBHOOK_RETRY_HOURS", default=24)
WEBHOOK_BACKOFF_SECONDS = env.float("WEBHOOK_BACKOFF_SECONDS", default=10.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env.float("WEBHOOK_BACKOFF_MAX_SECONDS", default=2 * 3600.0)
# An endpoint whose deliveries have failed this long is disabled with a reason.
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", default=5)
# A delivery due this long with no attempt in flight (its worker was killed)
# is re-enqueued by the periodic sweep; an attempt's lease lasts the timeout
# plus this long.
WEBHOOK_STALL_SECONDS = env.float("WEBHOOK_STALL_SECONDS", default=120.0)

# --- HTTP and security ---------------------------------------------------------------
# Bodies over this many bytes are refused with 413 before anything parses them.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=100 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Idempotent-Replayed"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
]

# Without DEBUG the service speaks HTTPS only; each switch can be turned off
# from the environment (e.g. behind a proxy that already redirects).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Only behind a proxy that sets (and strips client-sent) X-Forwarded-Proto.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# A CSRF refusal is a 403 problem like every other error, never an HTML page.
CSRF_FAILURE_VIEW = "base.errors.csrf_failure"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Logging ----------------------------------------------------------------------
# One JSON object per line, each with the request id. Bodies, headers and
# query strings are never logged, so neither are passwords nor tokens.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
# One line per request from the application (path only: never a query string,
# which could carry a token). Off in the test suite.
ACCESS_LOG = env.bool("ACCESS_LOG", default=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "base.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "base.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django logs every 4xx as a warning; the server's access log already has
    # them, so by default only 5xx (with their traceback) are logged here.
    "loggers": {
        "django.request": {"level": env.str("LOG_LEVEL_REQUESTS", default="ERROR")},
    },
}
