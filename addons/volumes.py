"""Volumes: persistent storage of an app, a Docker volume mounted into one process type's jobs, kept across
deploys, restarts and rollbacks. It lives on one host, where that process type's jobs then run
(addons.placement). Unless shared, one job at a time uses it: scaling its process type above one is refused."""

import posixpath
import re

from django.conf import settings
from django.db import transaction

from addons.models import Volume
from addons.services import NAME_PATTERN
from apps.logs import app_log_event
from apps.models import App, EventAction
from apps.services import app_manage_check, event_record
from hosts.drivers import VolumeMount
from hosts.models import HostState
from paas.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from paas.wakeups import wakeup
from releases.services import PROCESS_TYPE_PATTERN

_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")
# Paths a volume may not hide: the app itself, and what the system in the image needs.
# The first two are refused themselves only (a volume at /app/uploads is fine); the others with all below them.
RESERVED_PATHS = ("/", "/app", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sbin", "/sys", "/usr")


def _path_validated(path: str) -> str:
    if not isinstance(path, str) or not _PATH.fullmatch(path) or len(path) > 200:
        raise InvalidInput(
            f"{path!r} is not a mount path: an absolute path of letters, digits, dots, dashes and underscores, "
            "e.g. --mount /data"
        )
    normal = "/" + posixpath.normpath(path).lstrip("/")
    if normal in RESERVED_PATHS or any(normal.startswith(f"{reserved}/") for reserved in RESERVED_PATHS[2:]):
        raise InvalidInput(f"a volume cannot be mounted at {normal}: it would hide what jobs need; use e.g. /data")
    return normal


def _process_type_validated(app: App, process_type: str, shared: bool) -> None:
    from formations.models import Formation

    if not isinstance(process_type, str) or not PROCESS_TYPE_PATTERN.fullmatch(process_type):
        raise InvalidInput(f"{process_type!r} is not a process type name; e.g. --process worker")
    formation = Formation.objects.select_related("release").filter(app=app).first()
    known = set(formation.release.processes) if formation and formation.release else set()
    if known and process_type not in known:
        raise InvalidInput(f"no process type {process_type!r} in {app.name}; its types are: {', '.join(sorted(known))}")
    count = formation.counts.get(process_type, 0) if formation else 0
    if count > 1 and not shared:
        raise Conflict(
            f"{process_type} runs {count} jobs, and a volume is used by one job at a time; scale it to 1 first "
            f"(paas scale {process_type}=1), or make the volume --shared if its jobs may write to it together"
        )


def volume_create(*, app: App, name: str, path: str, process_type: str, shared: bool = False, actor) -> Volume:
    """Adds a volume to `app`, mounted at `path` into its `process_type` jobs, which restart with it."""
    from addons.placement import app_host_pick

    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a volume name: lowercase letters, digits and dashes, starting with a letter (at most 30)"
        )
    path = _path_validated(path)
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).get()
        _process_type_validated(app, process_type, shared)
        if app.volumes.filter(name=name).exists():
            raise Conflict(f"{app.name} has a volume named {name} already")
        if app.volumes.filter(process_type=process_type, path=path).exists():
            raise Conflict(f"{process_type} has a volume at {path} already")
        count, limit = app.volumes.count(), settings.PAAS_QUOTA_VOLUMES
        if count >= limit:
            raise QuotaExceeded(f"{app.name} has {count} volumes, the most allowed (PAAS_QUOTA_VOLUMES={limit})")
        volume = Volume.objects.create(
            app=app,
            name=name,
            path=path,
            process_type=process_type,
            shared=shared,
            host=app_host_pick(app),
            created_by=actor,
        )
        detail = f"{name} at {path} for {process_type}{' (shared)' if shared else ''}"
        event_record(app=app, actor=actor, action=EventAction.VOLUME_CREATE, detail=detail)
        _process_type_restart(app, process_type, actor)
    app_log_event(app.name, "volumes", f"volume {detail} on host {volume.host.name}")
    return volume


def _process_type_restart(app: App, process_type: str, actor) -> None:
    """Restarts the process type's jobs, if it has any, so that they mount (or no longer mount) its volumes."""
    from formations.models import Formation
    from formations.services import formation_restart

    formation = Formation.objects.select_related("release").filter(app=app).first()
    if (
        formation
        and formation.release
        and formation.counts.get(process_type)
        and process_type in formation.release.processes
    ):
        formation_restart(app=app, actor=actor, process_type=process_type)


def volume_get(*, app: App, name: str) -> Volume:
    volume = app.volumes.select_related("host").filter(name=name).first()
    if volume is None:
        known = ", ".join(app.volumes.values_list("name", flat=True)) or "none"
        raise NotFound(f"{app.name} has no volume {name!r}; its volumes: {known}")
    return volume


def volume_remove(*, app: App, name: str, confirm: str, actor) -> None:
    """Removes a volume and the data on it: its jobs restart without it, and the engine's volume is removed once
    they no longer use it (at once where it can be, else by the collection). `confirm` repeats the app's name."""
    app_manage_check(app=app, actor=actor, doing=f"remove the volume {name} of {app.name} (its data goes with it)")
    volume = volume_get(app=app, name=name)
    if confirm != app.name:
        raise InvalidInput(
            f"removing {name} deletes its data; confirm with the app's name: "
            f"paas volumes remove {name} -a {app.name} --confirm {app.name}"
        )
    with transaction.atomic():
        volume.delete()
        event_record(app=app, actor=actor, action=EventAction.VOLUME_REMOVE, detail=f"{name} at {volume.path}")
        _process_type_restart(app, volume.process_type, actor)
        transaction.on_commit(lambda: wakeup("scheduler"))
    app_log_event(app.name, "volumes", f"volume {name} removed; its data goes once its jobs have restarted")


def volumes_with_sizes(app: App) -> list[tuple[Volume, int | None]]:
    """The app's volumes, each with its size as its host reports it (None where it does not, or not yet made)."""
    from hosts.drivers import host_driver

    volumes = list(app.volumes.select_related("host"))
    sizes = {}
    for host in {volume.host for volume in volumes if volume.host.state == HostState.UP}:
        try:
            reported = host_driver(host).volumes(sizes=True)
        except Exception:  # noqa: BLE001 - an unreachable host: sizes unknown
            continue
        sizes.update({v.key: v.size for v in reported if v.kind == "volume"})
    return [(volume, sizes.get(volume.pk)) for volume in volumes]


def job_volume_mounts(job) -> tuple[VolumeMount, ...]:
    """The volumes a formation job mounts: its app's, of its process type."""
    from scheduler.models import JobKind

    if job.kind != JobKind.FORMATION:
        return ()
    rows = Volume.objects.filter(app_id=job.app_id, process_type=job.process_type).values_list("pk", "name", "path")
    return tuple(VolumeMount(key, name, path) for key, name, path in rows)


def volumes_scale_check(app: App, counts: dict) -> None:
    """Refuses counts above one for a process type with a volume that is not shared."""
    for process_type, count in counts.items():
        if isinstance(count, int) and count > 1:
            volume = app.volumes.filter(process_type=process_type, shared=False).first()
            if volume is not None:
                raise Conflict(
                    f"{process_type} mounts the volume {volume.name}, which one job at a time uses; it stays at 1. "
                    f"A volume several jobs may write to together is made with --shared"
                )
