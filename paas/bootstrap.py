"""First-start set-up of the control plane."""

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token


def admin_bootstrap() -> Path:
    """Creates the user `admin` on first start and keeps its API token in DATA_DIR/admin.token (0600)."""
    user, created = get_user_model().objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        user.set_unusable_password()
        user.save()
    token, _ = Token.objects.get_or_create(user=user)
    path = Path(settings.DATA_DIR) / "admin.token"
    if not path.exists() or path.read_text().strip() != token.key:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as token_file:
            token_file.write(token.key + "\n")
    path.chmod(0o600)
    return path
