"""cxm settings, read from the environment.

Every setting has a documented default (docs/operations.md). With no environment at all cxm runs
on its *embedded defaults*: a SQLite file, Celery's filesystem broker and the dev outbox, all under
``var/``. ``CXM_ENV=production`` switches on the hardening that ``manage.py check --deploy`` asks for
and makes ``SECRET_KEY``, ``DATABASE_URL`` and ``REDIS_URL`` mandatory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# ------------------------------------------------------------------------------------------------
# Environment
# ------------------------------------------------------------------------------------------------
CXM_ENV = env.str("CXM_ENV", default="local")
if CXM_ENV not in {"local", "test", "production"}:
    raise ImproperlyConfigured("CXM_ENV must be one of: local, test, production")
PRODUCTION = CXM_ENV == "production"

VAR_DIR = Path(env.str("CXM_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=CXM_ENV == "local")


def _secret_key() -> str:
    """Production must set SECRET_KEY; the embedded default keeps a generated one in var/."""
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when CXM_ENV=production")
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000").rstrip("/")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

# ------------------------------------------------------------------------------------------------
# Applications
# ------------------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "anymail",
    # cxm, lowest layer first: an app imports only the apps above it in this list.
    "cxm.core",
    "cxm.accounts",
    "cxm.webhooks",
    "journeys",
    "inbox",
    "surveys",
    "metrics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "cxm.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "cxm.urls"
WSGI_APPLICATION = "cxm.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cxm.accounts.context_processors.navigation",
            ],
        },
    },
]

# ------------------------------------------------------------------------------------------------
# Database — DATABASE_URL, default a SQLite file in var/
# ------------------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cxm.sqlite3'}"),
}
if PRODUCTION and DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL when CXM_ENV=production")
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL + IMMEDIATE transactions let the web process and the worker write the same file without
    # "database is locked" errors (https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-notes).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # Persistent connections with health checks: a new connection per request costs ~4x the
    # throughput (docs/performance.md).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------------------------
# Redis: broker and cache — REDIS_URL, default Celery's filesystem broker in var/
# ------------------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set when CXM_ENV=production")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="cxm"),
        }
    }
else:
    # The embedded default runs a single web process, so a process-local cache is shared by all
    # requests, which is what the rate limiter needs.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# ------------------------------------------------------------------------------------------------
# Celery (cxm/celery.py). Reliability settings verified with a real worker: ../shared/ENVIRONMENT.md
# ------------------------------------------------------------------------------------------------
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object]
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any countdown or ETA we schedule (one day), so a task is not redelivered
        # while it still waits; every task is safe to run twice anyway.
        "visibility_timeout": 26 * 3600,
        "unacked_restore_throttle": 1,
    }
else:
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    _processed_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        # kombu's default is ./control, relative to wherever the worker was started.
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
        "polling_interval": 0.5,
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# ------------------------------------------------------------------------------------------------
# Auth
# ------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if CXM_ENV == "test":
    # Hashing cost is not under test; a fast hasher keeps the suite quick.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600  # invitations use the same token, so give people a weekend
# Sign-in attempts allowed per window, per account and per client IP (cxm/accounts/views.py).
LOGIN_RATE_PER_ACCOUNT = env.str("LOGIN_RATE_PER_ACCOUNT", default="5/5m")
LOGIN_RATE_PER_IP = env.str("LOGIN_RATE_PER_IP", default="30/5m")
RATELIMIT_VIEW = "cxm.errors.ratelimited"
# Behind a proxy set TRUSTED_PROXY_COUNT so the client IP is taken from X-Forwarded-For.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
RATELIMIT_IP_META_KEY = "cxm.accounts.ratelimit.client_ip"

# ------------------------------------------------------------------------------------------------
# Internationalisation: English source, Dutch, Romanian and Frisian catalogues in locale/
# ------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("nl", _("Dutch")),
    ("ro", _("Romanian")),
    ("fy", _("Frisian")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_TZ = True

# ------------------------------------------------------------------------------------------------
# Static and media files. Front-end libraries come from registries at set-up (npm ci, pip) and
# are served by the app through WhiteNoise; nothing is loaded from a CDN at run time.
# ------------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/pico", BASE_DIR / "node_modules" / "@picocss" / "pico" / "css"),
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and CXM_ENV != "test"
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Largest request body outside file uploads. Inbound email webhooks carry whole messages with
# their attachments (Mailgun posts the MIME as a form field), so this follows their limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=25 * 1024 * 1024)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
FILE_UPLOAD_PERMISSIONS = 0o640
# Customer CSV imports are streamed from disk; this is the largest file the form accepts.
CUSTOMER_IMPORT_MAX_BYTES = env.int("CUSTOMER_IMPORT_MAX_BYTES", default=100 * 1024 * 1024)

# ------------------------------------------------------------------------------------------------
# Email. The embedded default stores outgoing mail in var/outbox (shown in the UI from the inbox
# issue on); set EMAIL_BACKEND to an Anymail ESP backend with its ANYMAIL settings in production.
# ------------------------------------------------------------------------------------------------
# The inbox sends customer email through INBOX_EMAIL_BACKEND: an Anymail ESP backend
# (anymail.backends.postmark.EmailBackend, anymail.backends.mailgun.EmailBackend, …) with its
# ANYMAIL settings, or the dev outbox. System email (invitations, password links) uses
# EMAIL_BACKEND; on the embedded default both land in the Outbox page.
INBOX_EMAIL_BACKEND = env.str("INBOX_EMAIL_BACKEND", default="inbox.outbox.EmailBackend")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="inbox.outbox.EmailBackend"
    if not PRODUCTION
    else "django.core.mail.backends.smtp.EmailBackend",
)
# The domain of our Message-IDs and of reply addresses (reply+<token>@INBOX_EMAIL_DOMAIN).
INBOX_EMAIL_DOMAIN = env.str("INBOX_EMAIL_DOMAIN", default="cxm.localhost")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cxm <cxm@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Survey invitations: the sender, and the contact rule — at most one invitation per customer in
# this many days, across all surveys and channels (a distribution can set its own).
SURVEY_FROM_EMAIL = env.str("SURVEY_FROM_EMAIL", default=DEFAULT_FROM_EMAIL)
SURVEY_CONTACT_DAYS = env.int("SURVEY_CONTACT_DAYS", default=30)
# Messages per second per SMS/WhatsApp sender without its own limit (a channel account's
# "messages per second"); Twilio allows 1 a second on a long code.
SMS_SEND_RATE = env.float("SMS_SEND_RATE", default=1.0)

# Metrics (docs/metrics.md): the customer attributes the dashboards can filter on (each adds a
# slice to every rollup, so keep them few and of few values); how many recent days beat
# recomputes every minute; how many seconds after a response its refresh runs.
METRICS_ATTRIBUTES = env.list("METRICS_ATTRIBUTES", default=["plan", "city"])
METRICS_REFRESH_DAYS = env.int("METRICS_REFRESH_DAYS", default=3)
METRICS_REFRESH_DELAY = env.int("METRICS_REFRESH_DELAY", default=5)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
ANYMAIL = {
    key: value
    for key, value in {
        "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default=""),
        "POSTMARK_SERVER_TOKEN": env.str("POSTMARK_SERVER_TOKEN", default=""),
        "POSTMARK_API_URL": env.str("POSTMARK_API_URL", default=""),
        "MAILGUN_API_KEY": env.str("MAILGUN_API_KEY", default=""),
        "MAILGUN_SENDER_DOMAIN": env.str("MAILGUN_SENDER_DOMAIN", default=""),
        "MAILGUN_API_URL": env.str("MAILGUN_API_URL", default=""),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
    }.items()
    if value
}
# Any other Anymail setting, for any ESP Anymail supports: ANYMAIL_<NAME> becomes ANYMAIL["<NAME>"]
# (e.g. ANYMAIL_SENDGRID_API_KEY, ANYMAIL_BREVO_API_KEY, ANYMAIL_AMAZON_SES_CLIENT_PARAMS).
ANYMAIL.update(
    {
        key.removeprefix("ANYMAIL_"): value
        for key, value in os.environ.items()
        if key.startswith("ANYMAIL_") and value
    }
)

if PRODUCTION and INBOX_EMAIL_BACKEND.startswith("anymail.") and not ANYMAIL.get("WEBHOOK_SECRET"):
    raise ImproperlyConfigured(
        "ANYMAIL_WEBHOOK_SECRET must be set to receive email (user:password)"
    )
# Inbound email with attachments is larger than Django's default request limit; this is the
# largest email the webhooks accept (attachments over 10 MB each are refused individually).
INBOX_MAX_EMAIL_BYTES = env.int("INBOX_MAX_EMAIL_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE)

# ------------------------------------------------------------------------------------------------
# SMS and WhatsApp (Twilio); used by the inbox channel layer.
# ------------------------------------------------------------------------------------------------
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# Only for tests and stubs: where the Twilio client sends its API calls. Under CXM_ENV=test it
# never defaults to Twilio itself, so a test can not reach the internet by mistake.
TWILIO_API_BASE_URL = env.str(
    "TWILIO_API_BASE_URL", default="http://127.0.0.1:9" if CXM_ENV == "test" else ""
)
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="NL")

# ------------------------------------------------------------------------------------------------
# Outgoing webhooks (docs/webhooks.md). Destinations must be public https URLs: a URL whose host
# resolves to a loopback, private, link-local, multicast, reserved or cloud-metadata address is
# refused when saved and again before every send.
# ------------------------------------------------------------------------------------------------
# On-premises tools on a private network: allow private and loopback addresses (and http://).
# Link-local, multicast, reserved and cloud-metadata addresses stay refused.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
# Development only: allow http:// to public addresses (a request bin). Keep it off in production:
# webhooks carry customer data.
WEBHOOKS_ALLOW_HTTP = env.bool("WEBHOOKS_ALLOW_HTTP", default=False)

# ------------------------------------------------------------------------------------------------
# REST API
# ------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cxm.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cxm.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "cxm.api.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cxm.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cxm API",
    "DESCRIPTION": "Customers, journeys, inbox, surveys and metrics. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# ------------------------------------------------------------------------------------------------
# Security. CSP on every page: only our own origin, no inline script or style.
# ------------------------------------------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 3600)
CSRF_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

SILENCED_SYSTEM_CHECKS = [
    # Django's own RedisCache supports atomic increment; django-ratelimit only lists django-redis.
    "django_ratelimit.W001",
]
if not REDIS_URL:
    # Embedded default only: one web process, so the local-memory cache is the shared cache.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# ------------------------------------------------------------------------------------------------
# Logging: dotted event keys with ids in `extra`, never message bodies, emails or phone numbers.
# ------------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "cxm.logformat.KeyValueFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
