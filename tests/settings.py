"""Settings for unit and API tests: a throwaway data dir, the in-memory host driver and router."""

import tempfile
from pathlib import Path

from paas.settings import *  # noqa: F403

DATA_DIR = Path(tempfile.mkdtemp(prefix="paas-test-"))
PAAS_HOST_DRIVER = "memory"
PAAS_ROUTER = "memory"
PAAS_INSTANCE = "unittest"
SECRET_KEY = "unit-tests-only"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# On SQLite (the default), a file database, like production's, so that WAL, busy timeouts and IMMEDIATE
# transactions apply. With DATABASE_URL=postgres://..., pytest-django makes (and drops) test_<name> on that server.
# Connections close after each request, so that no live-server thread holds the test database when it is dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
PAAS_LOG_FOLLOW_MAX_SECONDS = 1  # a followed log (schemathesis sends follow=true too) ends soon in tests
