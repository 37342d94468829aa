"""Settings of the paas controller, read from the environment (see the README for each one)."""

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from paas.datadir import data_dir, kept_secret

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir()


def _database(url: str | None, data_dir: Path) -> dict:
    """A Django DATABASES entry from DATABASE_URL; SQLite in WAL mode under DATA_DIR by default."""
    if not url:
        url = f"sqlite:///{data_dir / 'paas.sqlite3'}"
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parsed.path),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if parsed.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
        }
    raise ValueError(f"DATABASE_URL scheme {parsed.scheme!r} is not supported; use sqlite:// or postgres://")


# Both are made by `paas up` and manage.py (paas.datadir.data_dir_prepare) before Django starts:
# importing the settings writes no files.
SECRET_KEY = os.environ.get("PAAS_SECRET_KEY") or kept_secret("secret.key")
DEBUG = os.environ.get("PAAS_DEBUG") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "paas.admin_site.PaasAdminConfig",  # django.contrib.admin, as the paas console
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps",
    "artifacts",
    "releases",
    "formations",
    "hosts",
    "scheduler",
    "buildpacks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "paas.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "paas" / "templates"],  # the console's pages
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
ASGI_APPLICATION = "paas.asgi.application"
DATABASES = {"default": _database(os.environ.get("DATABASE_URL"), DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "paas.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": ["paas.parsers.PaasJSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "paas.schema.PaasAutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "paas API",
    "DESCRIPTION": "The REST API of paas, a self-hosted platform as a service. Authenticate with "
    '`Authorization: Token YOUR_TOKEN`; every refusal is a JSON body `{"error": "..."}`.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "JobStateEnum": "scheduler.models.JobState",
        "BuildStateEnum": "buildpacks.models.BuildState",
        "HostStateEnum": "hosts.models.HostState",
        "RolloutStateEnum": "scheduler.selectors.ROLLOUT_STATES",
    },
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"paas": {"handlers": ["console"], "level": os.environ.get("PAAS_LOG_LEVEL", "INFO")}},
}

# The platform's own settings.
PAAS_DOMAIN = os.environ.get("PAAS_DOMAIN", "localhost")
PAAS_BIND = os.environ.get("PAAS_BIND", "0.0.0.0")
PAAS_API_PORT = int(os.environ.get("PAAS_API_PORT", "8000"))
PAAS_SSH_PORT = int(os.environ.get("PAAS_SSH_PORT", "2222"))
PAAS_ROUTER_PORT = int(os.environ.get("PAAS_ROUTER_PORT", "8080"))
# "caddy" drives a real Caddy; "memory" keeps the route table in memory, for unit tests only.
PAAS_ROUTER = os.environ.get("PAAS_ROUTER", "caddy")
PAAS_ROUTER_ADMIN = os.environ.get("PAAS_ROUTER_ADMIN", "localhost:2019")
# Labels this platform's containers, so that two platforms on one Docker engine never adopt each other's.
PAAS_INSTANCE = os.environ.get("PAAS_INSTANCE") or kept_secret("instance.id")
PAAS_HOST_DRIVER = os.environ.get("PAAS_HOST_DRIVER", "docker")
PAAS_HOST_NAME = os.environ.get("PAAS_HOST_NAME", "local")
PAAS_HOST_ADDRESS = os.environ.get("PAAS_HOST_ADDRESS", "127.0.0.1")
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
PAAS_STACK_MIRROR = os.environ.get("PAAS_STACK_MIRROR", "http://deb.debian.org/debian")
PAAS_SCHEDULER_INTERVAL = float(os.environ.get("PAAS_SCHEDULER_INTERVAL", "2"))
PAAS_STOP_GRACE = float(os.environ.get("PAAS_STOP_GRACE", "10"))
PAAS_BUILD_TIMEOUT = float(os.environ.get("PAAS_BUILD_TIMEOUT", "900"))
PAAS_DEPLOY_TIMEOUT = float(os.environ.get("PAAS_DEPLOY_TIMEOUT", "120"))
_DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PAAS_BUILD_CA_BUNDLE = os.environ.get(
    "PAAS_BUILD_CA_BUNDLE", _DEFAULT_CA_BUNDLE if os.path.exists(_DEFAULT_CA_BUNDLE) else ""
)
