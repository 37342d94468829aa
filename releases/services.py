"""Writes on releases: numbered, immutable combinations of an artifact, config and process types."""

import re

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from apps.models import App, EventAction
from apps.services import event_record
from artifacts.models import ArtifactKind
from paas.errors import InvalidInput, QuotaExceeded
from releases.models import Release

PROCESS_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")
CONFIG_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONFIG_MAX_BYTES = 64 * 1024
RESERVED_PREFIX = "PAAS_"


def _validate_processes(processes: dict, artifact) -> None:
    """Process types and their commands; a Docker image's may be empty: its own CMD runs."""
    own_command = artifact is not None and artifact.kind == ArtifactKind.IMAGE
    limit = settings.PAAS_QUOTA_PROCESS_TYPES
    if len(processes) > limit:
        raise QuotaExceeded(
            f"{len(processes)} process types, over the limit of {limit} in one release (PAAS_QUOTA_PROCESS_TYPES); "
            "declare fewer in the Procfile"
        )
    for process_type, command in processes.items():
        if not PROCESS_TYPE_PATTERN.match(process_type):
            raise InvalidInput(f"invalid process type {process_type!r}: use lowercase letters, digits, '-' and '_'")
        if not isinstance(command, str) or not (command.strip() or own_command):
            raise InvalidInput(f"process type {process_type!r} has no command")


def config_validate_changes(changes: dict) -> None:
    """Checks a config change: keys are environment variable names, values strings (None unsets)."""
    if not isinstance(changes, dict):
        raise InvalidInput('a config change is a JSON object such as {"KEY": "value", "OLD": null}')
    for key, value in changes.items():
        if not CONFIG_KEY_PATTERN.match(key) or len(key) > 255:
            raise InvalidInput(f"invalid config key {key!r}: use letters, digits and '_', not starting with a digit")
        if key.upper().startswith(RESERVED_PREFIX):
            raise InvalidInput(
                f"config key {key!r} is reserved: keys starting with {RESERVED_PREFIX} are the platform's"
            )
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"config key {key!r}: a value is a string (or null to unset it)")
        if value is not None and not _encodable(value):
            raise InvalidInput(f"config key {key!r}: a value is UTF-8 text without NUL characters")


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def config_validate_size(config: dict) -> None:
    """Bounds a whole config; the error names the largest key, the one to look at first."""
    size = sum(len(key.encode()) + len(value.encode()) + 2 for key, value in config.items())
    if size > CONFIG_MAX_BYTES:
        largest = max(config, key=lambda key: len(config[key].encode()))
        raise InvalidInput(
            f"the config would be {size} bytes, over the {CONFIG_MAX_BYTES} byte limit; "
            f"its largest value is {largest!r} ({len(config[largest].encode())} bytes)"
        )


def release_create(
    *,
    app: App,
    artifact,
    processes: dict,
    actor,
    description: str = "",
    config: dict | None = None,
    checks: dict | None = None,
    action: EventAction = EventAction.RELEASE,
) -> Release:
    """Makes `app`'s next release; the version is taken under a row lock on the app.

    Config and health checks are carried over from the latest release unless given. The release is recorded as an event
    of kind `action` (a push's release, a config change, a rollback).
    """
    _validate_processes(processes, artifact)
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
            checks=dict(checks if checks is not None else (latest.checks if latest else {})),
            description=description[:200],
            created_by=actor,
        )
        release.full_clean(validate_unique=False)
        release.save()
        event_record(app=app, actor=actor, action=action, detail=f"v{version}: {description}".rstrip(": "))
    return release
