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


def _allowed_hosts(bind: str, extra: str) -> list[str]:
    """Loopback's names, PAAS_BIND's address unless it is every address, and the names in PAAS_ALLOWED_HOSTS."""
    names = ["localhost", "127.0.0.1", "[::1]"]
    if bind not in ("", "0.0.0.0", "::"):
        names.append(f"[{bind}]" if ":" in bind else bind)
    names += [name.strip() for name in extra.split(",") if name.strip()]
    return list(dict.fromkeys(names))


# Both are made by `paas up` and manage.py (paas.datadir.data_dir_prepare) before Django starts:
# importing the settings writes no files.
SECRET_KEY = os.environ.get("PAAS_SECRET_KEY") or kept_secret("secret.key")
DEBUG = os.environ.get("PAAS_DEBUG") == "1"
# The host names the API and console answer to (a request naming another is refused with 400): this machine's
# loopback names, the address in PAAS_BIND when it is one, and PAAS_ALLOWED_HOSTS (comma-separated names such as
# paas.example.com, under which other machines reach the API).
ALLOWED_HOSTS = _allowed_hosts(os.environ.get("PAAS_BIND", "127.0.0.1"), os.environ.get("PAAS_ALLOWED_HOSTS", ""))

INSTALLED_APPS = [
    "paas.admin_site.PaasAdminConfig",  # django.contrib.admin, as the paas console
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps",
    "artifacts",
    "releases",
    "formations",
    "hosts",
    "scheduler",
    "buildpacks",
    "addons",
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
        "paas.auth.ApiTokenAuthentication",
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
        "HookEventEnum": "apps.models.HookEvent",
        "AddonKindEnum": "addons.models.AddonKind",
        "AddonStateEnum": "addons.models.AddonState",
        "RolloutStateEnum": "scheduler.selectors.ROLLOUT_STATES",
    },
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the platform's logging, as configured below
CELERY_TASK_SERIALIZER = "json"  # and nothing else is taken: a message can never be code (pickle)
CELERY_ACCEPT_CONTENT = ["json"]
# Builds go to the `builds` queue (an embedded worker in `paas up`, `paas builder` workers in a cluster); each host's
# agent consumes its own queue, `host.NAME` (hosts.agent).
# Add-ons are made where builds run: that worker is there in every shape of the platform.
CELERY_TASK_ROUTES = {"buildpacks.build_run": {"queue": "builds"}, "addons.provision": {"queue": "builds"}}
if CELERY_BROKER_URL.startswith("memory://"):
    # The in-process broker is polled (once a second by default): a build would wait up to that long to start.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.05}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "paas": {"handlers": ["console"], "level": os.environ.get("PAAS_LOG_LEVEL", "INFO")},
        # An unexpected error answered with a 500 leaves its traceback in the platform's log.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# The platform's own settings.
PAAS_DOMAIN = os.environ.get("PAAS_DOMAIN", "localhost")
# The API, the console and the git server listen on this address only; 0.0.0.0 exposes them to the network.
PAAS_BIND = os.environ.get("PAAS_BIND", "127.0.0.1")
PAAS_API_PORT = int(os.environ.get("PAAS_API_PORT", "8000"))
PAAS_SSH_PORT = int(os.environ.get("PAAS_SSH_PORT", "2222"))
PAAS_ROUTER_PORT = int(os.environ.get("PAAS_ROUTER_PORT", "8080"))
# HTTPS, with the router's own CA (its root certificate is copied to DATA_DIR/router-ca.crt), or ACME certificates
# for public names when PAAS_ACME_EMAIL is set, or a user's own (`paas certs add`).
PAAS_ROUTER_TLS_PORT = int(os.environ.get("PAAS_ROUTER_TLS_PORT", "8443"))
PAAS_ACME_EMAIL = os.environ.get("PAAS_ACME_EMAIL", "")
# The largest request body the router passes on to an app (bytes); a larger one gets 413.
PAAS_ROUTER_MAX_BODY = int(os.environ.get("PAAS_ROUTER_MAX_BODY", str(100 * 1024 * 1024)))
# How long per-minute traffic metrics (`paas metrics`) are kept.
PAAS_METRICS_RETENTION_HOURS = float(os.environ.get("PAAS_METRICS_RETENTION_HOURS", "48"))
# "caddy" drives a real Caddy; "memory" keeps the route table in memory, for unit tests only.
PAAS_ROUTER = os.environ.get("PAAS_ROUTER", "caddy")
# The Unix socket of Caddy's admin API; its directory is the router's own (its working directory and state).
PAAS_ROUTER_ADMIN = os.environ.get("PAAS_ROUTER_ADMIN") or str(DATA_DIR / "router" / "admin.sock")
# Labels this platform's containers, so that two platforms on one Docker engine never adopt each other's.
PAAS_INSTANCE = os.environ.get("PAAS_INSTANCE") or kept_secret("instance.id")
PAAS_HOST_DRIVER = os.environ.get("PAAS_HOST_DRIVER", "docker")
PAAS_HOST_NAME = os.environ.get("PAAS_HOST_NAME", "local")
PAAS_HOST_ADDRESS = os.environ.get("PAAS_HOST_ADDRESS", "127.0.0.1")
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
PAAS_STACK_MIRROR = os.environ.get("PAAS_STACK_MIRROR", "http://deb.debian.org/debian")
PAAS_SCHEDULER_INTERVAL = float(os.environ.get("PAAS_SCHEDULER_INTERVAL", "2"))
# A host that has not answered (or whose agent has not sent a heartbeat) for PAAS_HOST_DOWN_AFTER seconds is down: its
# jobs are started elsewhere. Agents send a heartbeat every PAAS_HEARTBEAT_INTERVAL seconds.
PAAS_HOST_DOWN_AFTER = float(os.environ.get("PAAS_HOST_DOWN_AFTER", "30"))
PAAS_HEARTBEAT_INTERVAL = float(os.environ.get("PAAS_HEARTBEAT_INTERVAL", "5"))
# One scheduler at a time: a controller holds the scheduler lease for PAAS_SCHEDULER_LEASE seconds, renewed at each
# pass; another controller takes over once it has lapsed.
PAAS_SCHEDULER_LEASE = float(os.environ.get("PAAS_SCHEDULER_LEASE", "10"))
# Where hosts' agents reach the controller's API (to fetch the slugs of the releases they run).
PAAS_CONTROLLER_URL = os.environ.get("PAAS_CONTROLLER_URL", f"http://127.0.0.1:{PAAS_API_PORT}")
PAAS_STOP_GRACE = float(os.environ.get("PAAS_STOP_GRACE", "10"))
PAAS_BUILD_TIMEOUT = float(os.environ.get("PAAS_BUILD_TIMEOUT", "900"))
PAAS_DEPLOY_TIMEOUT = float(os.environ.get("PAAS_DEPLOY_TIMEOUT", "120"))
# How long a release phase (the Procfile's `release:` command) may run before it is stopped and the deploy fails.
PAAS_RELEASE_TIMEOUT = float(os.environ.get("PAAS_RELEASE_TIMEOUT", "3600"))
# The collection (artifacts.collect), run by the scheduler every PAAS_COLLECT_INTERVAL seconds, keeps the runtime
# images (and dependency layers) of each app's current release, of its last PAAS_KEEP_RELEASES releases and of any
# release that still has jobs, and removes older ones; slugs are kept for the last PAAS_KEEP_SLUGS releases (by
# default as many; never fewer), and a rollback to a release whose image was removed makes it again from its slug.
PAAS_KEEP_RELEASES = int(os.environ.get("PAAS_KEEP_RELEASES", "5"))
PAAS_KEEP_SLUGS = int(os.environ.get("PAAS_KEEP_SLUGS", str(PAAS_KEEP_RELEASES)))
PAAS_COLLECT_INTERVAL = float(os.environ.get("PAAS_COLLECT_INTERVAL", "600"))
# Quotas, refused with 409 and a message naming the setting: apps each user owns and SSH keys each user has (staff
# are exempt from both), process types in one release, replicas of one app (all its process types together), and
# builds pending or running at once per user, one-off runs (`paas run`) at once per app.
PAAS_QUOTA_APPS = int(os.environ.get("PAAS_QUOTA_APPS", "50"))
PAAS_QUOTA_KEYS = int(os.environ.get("PAAS_QUOTA_KEYS", "20"))
PAAS_QUOTA_PROCESS_TYPES = int(os.environ.get("PAAS_QUOTA_PROCESS_TYPES", "20"))
PAAS_QUOTA_REPLICAS = int(os.environ.get("PAAS_QUOTA_REPLICAS", "50"))
PAAS_QUOTA_BUILDS = int(os.environ.get("PAAS_QUOTA_BUILDS", "3"))
PAAS_QUOTA_RUNS = int(os.environ.get("PAAS_QUOTA_RUNS", "5"))
PAAS_QUOTA_DOMAINS = int(os.environ.get("PAAS_QUOTA_DOMAINS", "50"))
PAAS_QUOTA_HOOKS = int(os.environ.get("PAAS_QUOTA_HOOKS", "10"))
PAAS_QUOTA_ADDONS = int(os.environ.get("PAAS_QUOTA_ADDONS", "5"))
PAAS_QUOTA_VOLUMES = int(os.environ.get("PAAS_QUOTA_VOLUMES", "10"))
PAAS_QUOTA_CRONS = int(os.environ.get("PAAS_QUOTA_CRONS", "20"))
# Add-ons (addons.services): backups kept per add-on (older ones are removed), the memory of an add-on's server,
# and how long a new one may take to answer.
PAAS_KEEP_BACKUPS = int(os.environ.get("PAAS_KEEP_BACKUPS", "10"))
PAAS_ADDON_MEMORY = os.environ.get("PAAS_ADDON_MEMORY", "512m")
PAAS_ADDON_START_TIMEOUT = float(os.environ.get("PAAS_ADDON_START_TIMEOUT", "300"))
# Cron (scheduler.cron): how many times faster than real time the schedules' clock runs. 1 in use; tests set more
# (at 30, `* * * * *` comes every 2 s).
PAAS_CRON_SPEED = float(os.environ.get("PAAS_CRON_SPEED", "1"))
# Deploy hooks (apps.hooks): how long a receiver has to answer, and how many times a delivery is tried.
PAAS_HOOK_TIMEOUT = float(os.environ.get("PAAS_HOOK_TIMEOUT", "5"))
PAAS_HOOK_ATTEMPTS = int(os.environ.get("PAAS_HOOK_ATTEMPTS", "6"))
_DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PAAS_BUILD_CA_BUNDLE = os.environ.get(
    "PAAS_BUILD_CA_BUNDLE", _DEFAULT_CA_BUNDLE if os.path.exists(_DEFAULT_CA_BUNDLE) else ""
)
# The system user Caddy runs as (made when missing); it may bind ports below 1024 and do nothing else as root.
PAAS_ROUTER_USER = os.environ.get("PAAS_ROUTER_USER", "paas-router")
# The address range app networks (where `web.APP.internal` resolves) take their subnets from, a /25 per app.
PAAS_APP_NETWORKS = os.environ.get("PAAS_APP_NETWORKS", "10.213.0.0/16")
# The Caddy binary the router runs; empty: the one installed with the platform, else `caddy` on the PATH.
PAAS_CADDY = os.environ.get("PAAS_CADDY", "")
# Limits of each job container and each build container (memory in Docker's units: 512m, 2g; CPUs may be
# fractional, and are capped at what the host has); PAAS_PIDS_LIMIT caps the processes of either.
PAAS_JOB_MEMORY = os.environ.get("PAAS_JOB_MEMORY", "512m")
# Memory limits are caps, not reservations: a host takes jobs whose limits add up to this many times its memory.
PAAS_MEMORY_OVERCOMMIT = float(os.environ.get("PAAS_MEMORY_OVERCOMMIT", "4"))
PAAS_JOB_CPUS = float(os.environ.get("PAAS_JOB_CPUS", "1"))
PAAS_BUILD_MEMORY = os.environ.get("PAAS_BUILD_MEMORY", "2g")
PAAS_BUILD_CPUS = float(os.environ.get("PAAS_BUILD_CPUS", "2"))
PAAS_PIDS_LIMIT = int(os.environ.get("PAAS_PIDS_LIMIT", "512"))


def _byte_size(name: str, default: str) -> int:
    """A size setting in bytes: digits, optionally with k, m or g (powers of 1024), as git writes sizes."""
    text = (os.environ.get(name) or default).strip().lower()
    factor = 1024 ** (" kmg".index(text[-1]) if text and text[-1] in "kmg" else 0)
    digits = text[:-1] if factor > 1 else text
    if not digits.isdigit() or int(digits) == 0:
        raise ValueError(f"{name}={text!r} is not a size such as 1048576, 512k, 256m or 1g")
    return int(digits) * factor


# Limits on what one push may bring: the pack git receives (receive.maxInputSize), the pushed tree unpacked,
# the slug a build makes, and the build log kept in the database (past it, the log is truncated with a note).
PAAS_PUSH_MAX_BYTES = _byte_size("PAAS_PUSH_MAX_BYTES", "256m")
PAAS_SOURCE_MAX_BYTES = _byte_size("PAAS_SOURCE_MAX_BYTES", "512m")
PAAS_SLUG_MAX_BYTES = _byte_size("PAAS_SLUG_MAX_BYTES", "1g")
PAAS_IMAGE_MAX_BYTES = _byte_size("PAAS_IMAGE_MAX_BYTES", "2g")  # an image uploaded with `paas deploy-image -`
PAAS_BUILD_LOG_MAX_BYTES = _byte_size("PAAS_BUILD_LOG_MAX_BYTES", "1m")
# Each app's log (DATA_DIR/logs/APP.log): rotated to APP.log.1 past this size; `paas logs -f` ends after this long.
PAAS_LOG_MAX_BYTES = _byte_size("PAAS_LOG_MAX_BYTES", "10m")
PAAS_LOG_FOLLOW_MAX_SECONDS = float(os.environ.get("PAAS_LOG_FOLLOW_MAX_SECONDS", "3600"))
