"""The data directory: where it is, and the secrets kept in it. Imports nothing of Django.

Settings only read it; the entry points (`paas up`, manage.py) prepare it before Django starts.
"""

import contextlib
import os
import secrets
import stat
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
    """Makes DATA_DIR, private to this user, and the random values kept in it across restarts (0600).

    First sets this process's umask to 077, so that every file the platform and what it starts (git, Caddy) write
    from now on is private to this user; then takes group and other permissions off what is already there.
    """
    os.umask(0o077)
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    root.chmod(0o700)
    _make_private(root)
    for name, nbytes in KEPT_SECRETS.items():
        try:
            fd = os.open(root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as secret_file:
            secret_file.write(secrets.token_hex(nbytes))
    return root


def _make_private(root: Path) -> None:
    """`chmod -R go-rwx` on what this user owns under `root` (files an older version left readable).

    Directories that belong to another user (the router's) are not entered: their owner could swap an entry for a
    symlink between our look and our chmod. Symlinks are left alone. One lstat per entry and a chmod only where
    one is needed, so a start stays quick on a large DATA_DIR.
    """
    uid = os.getuid()
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if _owner(os.path.join(directory, name)) == uid]
        for name in (*subdirectories, *files):
            path = os.path.join(directory, name)
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile (a push's scratch directory)
                info = os.lstat(path)
                if info.st_mode & 0o077 and info.st_uid == uid and not stat.S_ISLNK(info.st_mode):
                    os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)


def _owner(path: str) -> int | None:
    try:
        return os.lstat(path).st_uid
    except FileNotFoundError:
        return None
