"""First-start set-up of the control plane: the user `admin`, its API token and its console password."""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.timezone import now

from apps.selectors import token_find
from apps.services import token_create

ADMIN_TOKEN_NAME = "admin.token"


def _write_private(path: Path, text: str) -> None:
    """Writes a file that only this user can read, private from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as private_file:
        private_file.write(text + "\n")
    path.chmod(0o600)


def admin_bootstrap() -> tuple[Path, Path]:
    """Creates `admin` on first start; keeps its API token (the raw key) and console password in DATA_DIR (0600).

    The password is made once, at random; a password changed later (manage.py changepassword, the
    console) is kept, and the file is then left as it was. Returns the token's and the password's paths.
    """
    user, created = get_user_model().objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    password_path = Path(settings.DATA_DIR) / "admin.password"
    if created or not user.has_usable_password():
        password = secrets.token_urlsafe(18)
        user.set_password(password)
        user.save()
        _write_private(password_path, password)
    token_path = Path(settings.DATA_DIR) / "admin.token"
    if not _token_works(token_path, user):
        _, key = token_create(user=user, name=ADMIN_TOKEN_NAME, actor=None)
        _write_private(token_path, key)
    return token_path, password_path


def _token_works(token_path: Path, user) -> bool:
    """Whether the file holds a token of `user` that is neither revoked nor expired (only its hash is stored, so
    the file is the only copy of the key: a missing or revoked one is replaced by a new token)."""
    key = token_path.read_text().strip() if token_path.exists() else ""
    token = token_find(key=key) if key else None
    return token is not None and token.user_id == user.pk and (token.expires_at is None or token.expires_at > now())
