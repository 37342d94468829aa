"""Add-ons: a PostgreSQL or Redis server the platform runs for one app, its URL in the app's config.

An add-on is a container of the add-on image (the stack with Debian's servers, made on its host at first need) on
its app's network only: the app's jobs, and its one-off runs, reach it as `NAME.addon.APP.internal`; no other app's
job is on that network. Its data is on a volume of its own. Making one takes a while (the image, the server's first
start): `addon_create` records it and hands the rest to a worker (`addon_provision`), which sets the config var,
and so makes a release, once the server answers. Backups are dumps kept as blobs; a restore loads one back.
"""

import contextlib
import hashlib
import logging
import re
import secrets
import time
from datetime import timedelta
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from addons.models import Addon, AddonBackup, AddonKind, AddonState
from apps.logs import app_log_event
from apps.models import App, EventAction
from apps.services import app_manage_check, event_record
from hosts.drivers import INTERNAL_DOMAIN, ServiceSpec, host_driver
from hosts.models import HostState
from paas.errors import Conflict, InvalidInput, NotFound, PaasError, QuotaExceeded

log = logging.getLogger("paas.addons")

IMAGE_DIR = Path(__file__).parent / "image"
IMAGE_REPOSITORY = "paas/addon"
PORTS = {AddonKind.POSTGRES: 5432, AddonKind.REDIS: 6379}
DEFAULT_CONFIG_VARS = {AddonKind.POSTGRES: "DATABASE_URL", AddonKind.REDIS: "REDIS_URL"}
SHELLS = {AddonKind.POSTGRES: "psql", AddonKind.REDIS: "redis-cli"}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$|^[a-z]$")  # of an add-on, and of a volume
_BACKUP_NUMBER = re.compile(r"^[0-9]{1,9}$")
BACKUP_PATH = "/data/paas-backup"
CLEAN = ("paas-addon", "clean")
RESTORE_PATH = "/data/paas-restore"
READY_SPACING = 0.5  # seconds between asking a new server whether it answers
RESTARTING_PATIENCE = 30  # seconds a server may keep exiting before its start is given up


def addon_image() -> tuple[str, str, dict[str, str]]:
    """The add-on image's reference, the stack it is made from, and its recipe (a build context's files)."""
    from buildpacks.stack import stack_image

    base = stack_image()
    recipe = _recipe()
    digest = hashlib.sha256(base.encode())
    for name, text in sorted(recipe.items()):
        digest.update(name.encode() + b"\0" + text.encode())
    return f"{IMAGE_REPOSITORY}:{digest.hexdigest()[:12]}", base, recipe


@cache
def _recipe() -> dict[str, str]:
    return {path.name: path.read_text() for path in IMAGE_DIR.iterdir() if path.is_file()}


def addon_hostname(addon: Addon) -> str:
    """Where its app's jobs reach it, on the app's network."""
    return f"{addon.name}.addon.{addon.app.name}.{INTERNAL_DOMAIN}"


def addon_url(addon: Addon) -> str:
    """The URL set in its app's config: the app's role and database (PostgreSQL), or the server (Redis)."""
    address = f"{addon_hostname(addon)}:{PORTS[addon.kind]}"
    if addon.kind == AddonKind.POSTGRES:
        return f"postgres://app:{addon.password}@{address}/app"
    return f"redis://default:{addon.password}@{address}/0"


def addon_spec(addon: Addon) -> ServiceSpec:
    """The container an add-on runs as: of the current add-on image, which it keeps (its shell runs in it)."""
    image, base, recipe = addon_image()
    return ServiceSpec(
        key=addon.pk,
        app=addon.app.name,
        name=addon.name,
        image=image,
        base=base,
        recipe=recipe,
        command=("paas-addon", "serve", addon.kind),
        env={"PAAS_ADDON_PASSWORD": addon.password, "PAAS_ADDON_MAXMEMORY": str(_data_memory())},
        aliases=(addon_hostname(addon),),
        memory=settings.PAAS_ADDON_MEMORY,
    )


def _data_memory() -> int:
    """The bytes a Redis server keeps data in: 60% of its memory limit, so that the fork that writes a dump (a
    backup) fits beside it; past it, writes are refused rather than the server killed."""
    from formations.services import memory_bytes

    return int(memory_bytes(settings.PAAS_ADDON_MEMORY) * 0.6)


def _config_var(kind: str, name: str | None) -> str:
    if name is None:
        return DEFAULT_CONFIG_VARS[kind]
    return f"{name.upper().replace('-', '_')}_URL"


def _validated(app: App, kind: str, name: str | None) -> tuple[str, str]:
    """The add-on's name and config var, once it is clear they can be had."""
    if kind not in AddonKind.values:
        raise InvalidInput(f"no add-on {kind!r}; there are: {', '.join(AddonKind.values)}")
    if name is not None and not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not an add-on name: lowercase letters, digits and dashes, starting with a letter "
            "(at most 30), e.g. --as cache"
        )
    config_var = _config_var(kind, name)
    name = name or kind
    if app.addons.filter(name=name).exists():
        raise Conflict(f"{app.name} has an add-on named {name} already; name this one: --as OTHER")
    if app.addons.filter(config_var=config_var).exists():
        raise Conflict(f"an add-on of {app.name} sets {config_var} already; name this one: --as OTHER")
    return name, config_var


def _quota_check(app: App) -> None:
    count, limit = app.addons.count(), settings.PAAS_QUOTA_ADDONS
    if count >= limit:
        raise QuotaExceeded(
            f"{app.name} has {count} add-ons, the most allowed (PAAS_QUOTA_ADDONS={limit}); destroy one first"
        )


def addon_create(*, app: App, kind: str, name: str | None = None, actor) -> Addon:
    """Records a new add-on of `app` and has a worker make it (addon_provision); its URL is set in the config var
    once it answers. A config var the app sets already is refused rather than overwritten."""
    from addons.placement import app_host_pick
    from releases.selectors import release_latest

    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).get()
        name, config_var = _validated(app, kind, name)
        latest = release_latest(app=app)
        if latest is not None and config_var in latest.config:
            raise Conflict(
                f"{app.name} sets {config_var} already; unset it first (paas config unset {config_var}), or name "
                "the add-on (--as NAME) to have its URL in NAME_URL"
            )
        _quota_check(app)
        addon = Addon.objects.create(
            app=app,
            name=name,
            kind=kind,
            config_var=config_var,
            password=secrets.token_hex(24),
            host=app_host_pick(app),
            created_by=actor,
        )
        event_record(app=app, actor=actor, action=EventAction.ADDON_CREATE, detail=f"{name} ({kind}) as {config_var}")
        transaction.on_commit(lambda: _provision_later(addon.pk))
    app_log_event(app.name, "addons", f"creating {name} ({kind}) on host {addon.host.name}")
    return addon


PROVISION_TASK = "addons.provision"  # queued by name, as builds are (addons.tasks.addon_provision_task)


def _provision_later(addon_id: int) -> None:
    """Queues the add-on's making for a worker; a broker that cannot be reached fails the add-on, saying so."""
    from paas.celery import app as celery_app

    try:
        celery_app.send_task(PROVISION_TASK, args=[addon_id])
    except Exception as error:  # noqa: BLE001 - the add-on says why; destroying it and creating it again retries
        log.warning("could not queue the making of add-on %s: %s", addon_id, error)
        failure = f"it could not be queued for a worker ({error}); destroy it and create it again"
        Addon.objects.filter(pk=addon_id).update(state=AddonState.FAILED, error=failure[:2000])


def addon_provision(addon_id: int) -> None:
    """Starts an add-on's server, waits until it answers, then sets its URL in the app's config (a new release).
    A failure is recorded on the add-on, the app's config untouched."""
    addon = Addon.objects.select_related("app", "host", "created_by").filter(pk=addon_id).first()
    if addon is None or addon.state != AddonState.CREATING:
        return
    driver = host_driver(addon.host)
    spec = addon_spec(addon)
    try:
        driver.service_start(spec)
        Addon.objects.filter(pk=addon.pk).update(image=spec.image)
        _ready_wait(driver, addon)
    except Exception as error:  # noqa: BLE001 - told to its user, who may destroy it and try again
        log.warning("add-on %s of %s could not be made: %s", addon.name, addon.app.name, error)
        Addon.objects.filter(pk=addon.pk).update(state=AddonState.FAILED, error=str(error)[:2000])
        app_log_event(addon.app.name, "addons", f"{addon.name} could not be made: {error}")
        with contextlib.suppress(Exception):  # a server that keeps exiting is not left restarting
            driver.service_remove(addon.pk)
        return
    _addon_up(addon)


def _ready_wait(driver, addon: Addon) -> None:
    """Waits until the add-on's server answers. A server whose container keeps exiting (the engine restarts it, and
    refuses to run anything in it meanwhile) fails sooner than one that is slow to start."""
    started = time.monotonic()
    failing_since = None
    while True:
        try:
            exit_code, output = driver.service_exec(addon.pk, ("paas-addon", "ready", addon.kind), timeout=30)
            failing_since = None
        except Exception as error:  # noqa: BLE001 - restarting, or not there yet
            exit_code, output = None, str(error)
            failing_since = failing_since or time.monotonic()
        if exit_code == 0:
            return
        if failing_since and time.monotonic() - failing_since > RESTARTING_PATIENCE:
            raise RuntimeError(f"its server keeps exiting: {output.strip()[-300:]}")
        if time.monotonic() - started > settings.PAAS_ADDON_START_TIMEOUT:
            raise RuntimeError(
                f"its server did not answer within {settings.PAAS_ADDON_START_TIMEOUT:.0f}s "
                f"(PAAS_ADDON_START_TIMEOUT): {output.strip()[-300:]}"
            )
        time.sleep(READY_SPACING)


def _addon_up(addon: Addon) -> None:
    """Marks a made add-on up and sets its URL in its app's config, unless it was destroyed meanwhile, or its config
    var was set meanwhile (it is left as it is)."""
    from formations.services import config_update
    from releases.selectors import release_latest

    with transaction.atomic():
        App.objects.select_for_update().filter(pk=addon.app_id).first()
        if not Addon.objects.filter(pk=addon.pk, state=AddonState.CREATING).update(state=AddonState.UP):
            return
        latest = release_latest(app=addon.app)
        if latest is not None and latest.config.get(addon.config_var, addon_url(addon)) != addon_url(addon):
            told = f"{addon.name} is up; {addon.config_var} was set meanwhile, and is left as it is"
            app_log_event(addon.app.name, "addons", told)
            return
        release = config_update(app=addon.app, changes={addon.config_var: addon_url(addon)}, actor=addon.created_by)
    version = f" (v{release.version})" if release else ""
    app_log_event(addon.app.name, "addons", f"{addon.name} is up; {addon.config_var} is set{version}")


def addon_get(*, app: App, name: str) -> Addon:
    addon = app.addons.select_related("app", "host").filter(name=name).first()
    if addon is None:
        known = ", ".join(app.addons.values_list("name", flat=True)) or "none: paas addons create postgres"
        raise NotFound(f"{app.name} has no add-on {name!r}; its add-ons: {known}")
    return addon


def addon_destroy(*, app: App, name: str, confirm: str, actor) -> None:
    """Removes an add-on: its server, its data and its backups, and its config var (a new release). `confirm` must
    repeat the app's name: its data cannot be had back."""
    from formations.services import config_update
    from releases.selectors import release_latest

    app_manage_check(app=app, actor=actor, doing=f"destroy the add-on {name} of {app.name} (its data goes with it)")
    addon = addon_get(app=app, name=name)
    if confirm != app.name:
        raise InvalidInput(
            f"destroying {name} deletes its data and backups; confirm with the app's name: "
            f"paas addons destroy {name} -a {app.name} --confirm {app.name}"
        )
    with transaction.atomic():
        Addon.objects.select_for_update().filter(pk=addon.pk).first()
        digests = set(addon.backups.values_list("digest", flat=True))
        key, host = addon.pk, addon.host
        addon.delete()
        event_record(app=app, actor=actor, action=EventAction.ADDON_DESTROY, detail=f"{name} ({addon.kind})")
        latest = release_latest(app=app)
        if latest is not None and latest.config.get(addon.config_var) == addon_url(addon):
            config_update(app=app, changes={addon.config_var: None}, actor=actor)
        transaction.on_commit(lambda: _addon_remains_remove(host, key, digests))
    app_log_event(app.name, "addons", f"{name} destroyed")


def _addon_remains_remove(host, key: int, digests: set[str]) -> None:
    backup_blobs_release(digests)
    storage_remove(host, key, "addon")


def storage_remove(host, key: int, kind: str) -> None:
    """Removes from its host an add-on's server and data (`kind` addon) or a volume (`kind` volume); what cannot be
    removed now (a host away, a volume a job still holds) the collection removes later, as nothing owns it."""
    try:
        driver = host_driver(host)
        if kind == "addon":
            driver.service_remove(key)
        else:
            driver.volume_remove(key, kind)
    except Exception as error:  # noqa: BLE001 - see above
        log.warning("could not remove %s %s from host %s yet: %s", kind, key, host.name, error)


def backup_blobs_release(digests: set[str]) -> None:
    """Deletes the blobs of backups that no backup keeps any more (the same dump may be kept twice)."""
    from buildpacks.services import blobs_release_unused

    kept = set(AddonBackup.objects.filter(digest__in=digests).values_list("digest", flat=True))
    blobs_release_unused(digests=digests - kept)


def addon_up_get(*, app: App, name: str) -> Addon:
    """An add-on that answers, for what needs its server."""
    addon = addon_get(app=app, name=name)
    if addon.state != AddonState.UP:
        reason = f": {addon.error}" if addon.error else "; wait for it (paas addons)"
        raise Conflict(f"{name} is {addon.state}{reason}")
    return addon


def addon_backup(*, app: App, name: str, actor) -> AddonBackup:
    """Dumps an add-on's data (pg_dump, or a Redis RDB) into the blob store; keeps the last PAAS_KEEP_BACKUPS. The
    digest kept is the one the controller computed as the host sent the dump, never one the host says."""
    from artifacts.blobstore import signed_url, upload_taken, upload_token

    addon = addon_up_get(app=app, name=name)
    driver = host_driver(addon.host)
    token = upload_token()
    with _addon_busy(addon, "backing up"):
        try:
            _exec_checked(driver, addon, ("paas-addon", "backup", addon.kind), "back up")
            _driver_step(lambda: driver.service_file_send(addon.pk, BACKUP_PATH, signed_url(f"uploads/{token}")))
        finally:
            _exec_quietly(driver, addon, CLEAN)
        sent = upload_taken(token)
        if sent is None:
            raise Conflict(f"the host of {name} did not send its backup; try again")
        backup = _backup_recorded(addon, *sent, actor=actor)
    app_log_event(app.name, "addons", f"{name} backed up as b{backup.number} ({backup.size} bytes)")
    _backups_prune(addon)
    return backup


def _backup_recorded(addon: Addon, digest: str, size: int, *, actor) -> AddonBackup:
    with transaction.atomic():
        if Addon.objects.select_for_update().filter(pk=addon.pk).first() is None:
            backup_blobs_release({digest})
            raise NotFound(f"{addon.name} was destroyed while it was backed up")
        number = (addon.backups.aggregate(last=Max("number"))["last"] or 0) + 1
        backup = AddonBackup.objects.create(addon=addon, number=number, digest=digest, size=size, created_by=actor)
        event_record(app=addon.app, actor=actor, action=EventAction.ADDON_BACKUP, detail=f"{addon.name}: b{number}")
    return backup


BUSY_PATIENCE = timedelta(hours=2)  # a backup or restore marked going longer than this was cut short


@contextlib.contextmanager
def _addon_busy(addon: Addon, doing: str):
    """Marks the add-on busy for the length of a backup or a restore: one at a time (they share its files)."""
    stale = timezone.now() - BUSY_PATIENCE
    free = Q(busy="") | Q(busy_since__lt=stale)
    if not Addon.objects.filter(free, pk=addon.pk).update(busy=doing, busy_since=timezone.now()):
        busy = Addon.objects.filter(pk=addon.pk).values_list("busy", flat=True).first()
        raise Conflict(f"{addon.name} is {busy or 'gone'}; try again once that is done")
    try:
        yield
    finally:
        Addon.objects.filter(pk=addon.pk).update(busy="", busy_since=None)


def _driver_step(step):
    """Runs a step on the add-on's host; what the host or its engine says went wrong is the user's to see."""
    try:
        return step()
    except PaasError:
        raise
    except Exception as error:  # noqa: BLE001 - the engine's or the agent's message, as a 409
        raise Conflict(f"the add-on's host could not do it: {str(error)[:500]}") from error


def _exec_quietly(driver, addon: Addon, command: tuple[str, ...]) -> None:
    """Runs a chore in the add-on's container whose outcome does not matter: removing what a backup or a restore
    left (the next one overwrites it anyway), or stopping a Redis server so that the engine starts it again on a
    restored dump (the stop ends the container, and the command with it)."""
    try:
        driver.service_exec(addon.pk, command)
    except Exception as error:  # noqa: BLE001 - see above
        log.info("%s in add-on %s of %s: %s", " ".join(command), addon.name, addon.app.name, error)


def _exec_checked(driver, addon: Addon, command: tuple[str, ...], doing: str) -> str:
    exit_code, output = _driver_step(lambda: driver.service_exec(addon.pk, command))
    if exit_code != 0:
        raise Conflict(f"could not {doing} {addon.name} (exit status {exit_code}): {output.strip()[-500:]}")
    return output


def _backups_prune(addon: Addon) -> None:
    old = list(addon.backups.order_by("-number")[settings.PAAS_KEEP_BACKUPS :])
    if old:
        AddonBackup.objects.filter(pk__in=[backup.pk for backup in old]).delete()
        backup_blobs_release({backup.digest for backup in old})


def backup_get(*, addon: Addon, number: str | int) -> AddonBackup:
    text = str(number).removeprefix("b")
    backup = addon.backups.filter(number=int(text)).first() if _BACKUP_NUMBER.fullmatch(text) else None
    if backup is None:
        raise NotFound(f"{addon.name} has no backup {number!r}; see paas addons backups {addon.name}")
    return backup


def addon_restore(*, app: App, name: str, backup: str | int, actor) -> AddonBackup:
    """Loads a backup back into its add-on, replacing what is there (a Redis server restarts to load it). A
    PostgreSQL restore is one transaction: one that fails leaves the data as it was."""
    from artifacts.blobstore import blob_url

    app_manage_check(app=app, actor=actor, doing=f"restore the add-on {name} of {app.name} (its data is replaced)")
    addon = addon_up_get(app=app, name=name)
    chosen = backup_get(addon=addon, number=backup)
    driver = host_driver(addon.host)
    with _addon_busy(addon, "restoring"):
        try:
            url = blob_url(chosen.digest)
            _driver_step(lambda: driver.service_file_receive(addon.pk, RESTORE_PATH, url, chosen.digest))
            _exec_checked(driver, addon, ("paas-addon", "restore", addon.kind, RESTORE_PATH), "restore")
        finally:
            _exec_quietly(driver, addon, CLEAN)
        if addon.kind == AddonKind.REDIS:
            _exec_quietly(driver, addon, ("paas-addon", "stop", addon.kind))
        _driver_step(lambda: _ready_wait(driver, addon))
    event_record(app=app, actor=actor, action=EventAction.ADDON_RESTORE, detail=f"{name}: b{chosen.number}")
    app_log_event(app.name, "addons", f"{name} restored from b{chosen.number}")
    return chosen


def addons_status(app: App, *, sizes: bool = True) -> dict[int, tuple[str, int | None]]:
    """Each add-on's (by id) server state, and data size when asked (it costs the engine a walk of its volumes), as
    its host reports them; a host that is down, or does not answer, reports none."""
    found = {}
    for host in {addon.host for addon in app.addons.select_related("host") if addon.host.state == HostState.UP}:
        try:
            driver = host_driver(host)
            states = {status.key: status.state for status in driver.services() if status.app == app.name}
            used = {v.key: v.size for v in driver.volumes(sizes=True) if v.kind == "addon"} if sizes else {}
        except Exception as error:  # noqa: BLE001 - shown as unknown
            log.warning("could not ask host %s about add-ons: %s", host.name, error)
            continue
        found.update({key: (state, used.get(key)) for key, state in states.items()})
    return found
