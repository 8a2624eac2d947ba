"""Settings for every process of the portal.

The environment is read here and nowhere else. With no configuration the portal runs on its
embedded components (see ``portal.embedded``); each ``*_URL`` setting switches one of them to a
real server.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from pathlib import Path

import dj_database_url
import django
from django.core.exceptions import ImproperlyConfigured

from portal import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent
TESTING = "pytest" in sys.modules or os.environ.get("PORTAL_TESTING") == "1"
# Each test run gets its own embedded servers and data, so it never touches a running portal
# or another test run; tests/conftest.py stops them and removes the folder at the end.
VAR_DIR = Path(
    os.environ.get(
        "PORTAL_VAR_DIR",
        BASE_DIR / "var" / "test" / str(os.getpid()) if TESTING else BASE_DIR / "var",
    )
).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)
PRODUCTION = os.environ.get("PORTAL_ENV", "development") == "production"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(item, strict=False) for item in _env_list(name, [])]
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{name} must list networks such as 10.0.0.0/8,fd00::/8; {exc}"
        ) from exc


def _dev_secret_key() -> str:
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY: production has no default secret key.")
    SECRET_KEY = _dev_secret_key()

DEBUG = _env_bool("DJANGO_DEBUG", default=not PRODUCTION and not TESTING)

# Tenants are served on <slug>.<PORTAL_BASE_DOMAIN>; the public site on the base domain.
PORTAL_BASE_DOMAIN = os.environ.get("PORTAL_BASE_DOMAIN", "localhost")
ALLOWED_HOSTS = _env_list(
    "PORTAL_ALLOWED_HOSTS",
    [PORTAL_BASE_DOMAIN, f".{PORTAL_BASE_DOMAIN}", "127.0.0.1", "testserver"],
)
PORTAL_PUBLIC_HOSTS = [PORTAL_BASE_DOMAIN, "127.0.0.1"]
PORTAL_PORT = int(os.environ.get("PORT", "8000"))
# script/server creates the demo tenant and indexes the demo codebase unless this is false.
PORTAL_SEED_DEMO = _env_bool("PORTAL_SEED_DEMO", default=True)

# ---------------------------------------------------------------------------- apps

SHARED_APPS = [
    "django_tenants",
    "tenants",
    "capacity",
    "billing",
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "tenants.accounts",
    "search",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "portal.urls_public"
ROOT_URLCONF = "portal.urls_tenant"
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False

MIDDLEWARE = [
    # Probes answer for any host (pods are probed by IP), before tenant resolution.
    "portal.middleware.ProbeMiddleware",
    "portal.middleware.RequestContextMiddleware",
    "portal.security.ClientAddressMiddleware",
    "portal.security.RequestSizeLimitMiddleware",
    "portal.middleware.TenantHostMiddleware",
    "portal.middleware.TenantLogContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # JSON 404 for unrouted /api/ paths with DEBUG on too; inside CommonMiddleware (slashes).
    "portal.not_found.ApiNotFoundMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Reads the tenant and the signed-in user, so it comes after both.
    "portal.ratelimit.middleware.RateLimitMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"

# ---------------------------------------------------------------------------- database

DATABASE_URL = os.environ.get("DATABASE_URL") or embedded.ensure_postgres(VAR_DIR)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---------------------------------------------------------------------------- redis, cache

REDIS_URL = os.environ.get("REDIS_URL") or embedded.ensure_redis(VAR_DIR)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Tenant-aware keys: every product key carries the schema name (case C03).
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }
}

# ---------------------------------------------------------------------------- celery

CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", default=TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A long index job must never be redelivered while it still runs (case C22): the visibility
# timeout is longer than the hard time limit of any task.
CELERY_TASK_TIME_LIMIT = 3 * 3600
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 300
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 3600}
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_DEFAULT_QUEUE = "default"
# Capacity measurements: minute counters go from Redis to PostgreSQL rollups every minute.
CELERY_BEAT_SCHEDULE = {
    "capacity-flush-metrics": {"task": "capacity.tasks.flush_capacity_metrics", "schedule": 60.0},
    "capacity-sample-storage": {
        "task": "capacity.tasks.sample_capacity_storage",
        "schedule": 3600.0,
    },
    # Re-runs each tenant's popular queries once its index version changed.
    "search-warm-caches": {"task": "search.tasks.warm_all_search_caches", "schedule": 300.0},
    # Jobs whose worker died (or whose message was lost) are sent again.
    "search-recover-jobs": {
        "task": "search.tasks.recover_stalled_index_jobs",
        "schedule": 60.0,
    },
}

# ---------------------------------------------------------------------------- vectors

QDRANT_URL = os.environ.get("QDRANT_URL") or None
QDRANT_API_KEY = os.environ.get("QDRANT_API_KEY") or None
QDRANT_TIMEOUT_SECONDS = float(os.environ.get("QDRANT_TIMEOUT_SECONDS", "10"))
VECTOR_STORE_PATH = Path(os.environ.get("VECTOR_STORE_PATH", VAR_DIR / "qdrant"))
VECTOR_STORE_SOCKET = Path(os.environ.get("VECTOR_STORE_SOCKET", VAR_DIR / "run" / "vectors.sock"))
# Set by script/server for its children: reach the embedded engine only through its owner.
VECTOR_STORE_REMOTE_ONLY = _env_bool("VECTOR_STORE_REMOTE_ONLY", default=False)

# ---------------------------------------------------------------------------- search

SEARCH = {
    "EMBEDDING_MODEL": os.environ.get("EMBEDDING_MODEL", "minilm-l6-int8-128"),
    "MODEL_CACHE_DIR": VAR_DIR / "models",
    # Local directories a tenant may register must live under one of these roots. The default
    # allows the folder script/server drops sources into and the installed Django package,
    # which the demo tenant indexes.
    "REPOSITORY_ROOTS": [
        Path(p).resolve()
        for p in _env_list(
            "REPOSITORY_ALLOWED_ROOTS",
            [str(VAR_DIR / "sources"), str(Path(django.__file__).resolve().parent)],
        )
    ],
    "UPLOAD_DIR": VAR_DIR / "uploads",
    # The default allowed root for local directories; exists from the first start.
    "SOURCES_DIR": VAR_DIR / "sources",
    "CHECKOUT_DIR": VAR_DIR / "checkouts",
    "MAX_UPLOAD_BYTES": int(os.environ.get("MAX_UPLOAD_BYTES", str(100 * 1024 * 1024))),
    "MAX_FILE_BYTES": int(os.environ.get("MAX_FILE_BYTES", str(1024 * 1024))),
    "EMBED_BATCH_SIZE": 32,
}

SEARCH["SOURCES_DIR"].mkdir(exist_ok=True)

# ---------------------------------------------------------------------------- kubernetes

KUBECONFIG = os.environ.get("KUBECONFIG") or None
KUBERNETES_IN_CLUSTER = _env_bool("KUBERNETES_IN_CLUSTER", default=False)
KUBERNETES_PLATFORM_NAMESPACE = os.environ.get("KUBERNETES_PLATFORM_NAMESPACE", "codesearch")
PORTAL_REGION = os.environ.get("PORTAL_REGION", "local")

# ---------------------------------------------------------------------------- auth, api

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Argon2 is deliberately slow; tests create many users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
# Rate limits (portal.ratelimit.policies has the names and defaults, e.g. "5/15m"). The suite
# runs with them off so tests share tenants freely; tests/security switches them on.
RATE_LIMITS = {"ENABLED": _env_bool("PORTAL_RATE_LIMITS_ENABLED", default=not TESTING), "RATES": {}}
# Proxies whose X-Forwarded-For is believed (comma-separated networks). Empty: REMOTE_ADDR is
# the client, whatever headers say.
TRUSTED_PROXIES = _env_networks("PORTAL_TRUSTED_PROXIES")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "search:home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    # Counters in Redis (portal.ratelimit); views add their own (search: per tenant, signup:
    # per address). DRF's rate settings are unused.
    "DEFAULT_THROTTLE_CLASSES": ["portal.ratelimit.throttles.ApiTokenThrottle"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Code search portal API",
    "DESCRIPTION": "Semantic code search for your repositories. Authenticate with "
    "`Authorization: Bearer <token>` on your tenant's domain.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from the installed sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ---------------------------------------------------------------------------- web

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG or TESTING
STATICFILES_DIRS = [BASE_DIR / "static"]
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Forms on a tenant's site may be posted from the public site and vice versa.
_SCHEME = "https" if PRODUCTION else "http"
_ORIGIN_PORT = "" if PRODUCTION or PORTAL_PORT in (80, 443) else f":{PORTAL_PORT}"
CSRF_TRUSTED_ORIGINS = [
    f"{_SCHEME}://{PORTAL_BASE_DOMAIN}{_ORIGIN_PORT}",
    f"{_SCHEME}://*.{PORTAL_BASE_DOMAIN}{_ORIGIN_PORT}",
]
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # TLS ends at the ingress, which sets X-Forwarded-Proto; probes call /health and /ready
    # over plain HTTP inside the cluster and must not be redirected.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", default=True)

# ---------------------------------------------------------------------------- logging

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.logging.ContextFilter"}},
    "formatters": {"plain": {"()": "portal.logging.ContextFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
    },
}
