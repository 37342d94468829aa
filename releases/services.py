"""Writes on releases."""

import re

from django.db import transaction
from django.db.models import Max

from apps.models import App
from paas.errors import InvalidInput
from releases.models import Release

PROCESS_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")


def _validate_processes(processes: dict) -> None:
    for process_type, command in processes.items():
        if not PROCESS_TYPE_PATTERN.match(process_type):
            raise InvalidInput(f"invalid process type {process_type!r}: use lowercase letters, digits, '-' and '_'")
        if not isinstance(command, str) or not command.strip():
            raise InvalidInput(f"process type {process_type!r} has no command")


def release_create(
    *, app: App, artifact, processes: dict, actor, description: str = "", config: dict | None = None
) -> Release:
    """Makes `app`'s next release; the version is taken under a row lock on the app.

    Config is carried over from the latest release unless given.
    """
    _validate_processes(processes)
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).get()
        latest = Release.objects.filter(app=app).order_by("-version").first()
        version = (Release.objects.filter(app=app).aggregate(top=Max("version"))["top"] or 0) + 1
        release = Release(
            app=app,
            version=version,
            artifact=artifact,
            config=dict(config if config is not None else (latest.config if latest else {})),
            processes=dict(processes),
            description=description[:200],
            created_by=actor,
        )
        release.full_clean(validate_unique=False)
        release.save()
    return release
