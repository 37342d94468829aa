"""Settings for unit and API tests: a throwaway data dir, the in-memory host driver and router."""

import tempfile
from pathlib import Path

from paas.settings import *  # noqa: F403

DATA_DIR = Path(tempfile.mkdtemp(prefix="paas-test-"))
PAAS_HOST_DRIVER = "memory"
PAAS_ROUTER = "memory"
PAAS_INSTANCE = "unittest"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file database, like production's, so that WAL, busy timeouts and IMMEDIATE transactions apply.
DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
