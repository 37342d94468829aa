"""The data directory: where it is, and the secrets kept in it. Imports nothing of Django.

Settings only read it; the entry points (`paas up`, manage.py) prepare it before Django starts.
"""

import os
import secrets
from pathlib import Path

KEPT_SECRETS = {"secret.key": 32, "instance.id": 6}


def data_dir() -> Path:
    """DATA_DIR: PAAS_DATA_DIR, or ./var."""
    return Path(os.environ.get("PAAS_DATA_DIR", "./var")).resolve()


def kept_secret(name: str) -> str:
    """A secret kept in DATA_DIR, or "" when the data directory has not been prepared yet."""
    path = data_dir() / name
    return path.read_text().strip() if path.exists() else ""


def data_dir_prepare() -> Path:
    """Makes DATA_DIR, private to this user, and the random values kept in it across restarts (0600)."""
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    root.chmod(0o700)
    for name, nbytes in KEPT_SECRETS.items():
        try:
            fd = os.open(root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as secret_file:
            secret_file.write(secrets.token_hex(nbytes))
    return root
