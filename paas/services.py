"""Services that reach across every package: destroying an app and all it left behind."""

import logging
import shutil
from dataclasses import dataclass

from django.db import transaction

from addons.models import AddonBackup
from addons.services import storage_remove
from apps.logs import app_log_remove
from apps.models import App, EventAction
from apps.services import event_record
from artifacts.models import Artifact
from buildpacks.models import Build
from buildpacks.services import blobs_release_unused, cache_volume_name, repo_path
from formations.models import Formation
from hosts.drivers import host_driver
from hosts.engine import build_engine
from hosts.models import Host, HostState
from hosts.services import images_remove, job_containers_remove
from paas.errors import InvalidInput
from paas.wakeups import wakeup
from releases.models import Release
from scheduler.models import Job

log = logging.getLogger("paas.apps")


@dataclass(frozen=True)
class AppRemains:
    """What an app leaves outside the database once its rows are gone, to be removed after the commit."""

    name: str
    containers: list[tuple[int, str]]
    images: list[str]
    blobs: set[str]
    storage: list[tuple[Host, int, str]]  # (host, id, kind) of its add-ons and volumes


def _app_remains(app: App) -> AppRemains:
    jobs = Job.objects.filter(app=app, host__isnull=False).exclude(container_id="")
    artifacts = Artifact.objects.filter(app=app)
    blobs = {digest for digests in artifacts.values_list("slug_digest", "layer_digest") for digest in digests}
    blobs |= set(Build.objects.filter(app=app).values_list("source_digest", flat=True))
    blobs |= set(AddonBackup.objects.filter(addon__app=app).values_list("digest", flat=True))
    storage = [(addon.host, addon.pk, "addon") for addon in app.addons.select_related("host")]
    storage += [(volume.host, volume.pk, "volume") for volume in app.volumes.select_related("host")]
    images = set(artifacts.values_list("image", flat=True)) | _layer_images(app)
    return AppRemains(
        name=app.name,
        containers=list(jobs.values_list("host_id", "container_id")),
        images=sorted(images),
        blobs=blobs - {""},
        storage=storage,
    )


def _layer_images(app: App) -> set[str]:
    from buildpacks.layers import layer_images

    try:
        return layer_images(app, build_engine())
    except Exception as error:  # noqa: BLE001 - the collection removes them later, as images of a destroyed app
        log.warning("could not name the layer images of %s: %s", app.name, error)
        return set()


def app_destroy(*, app: App, actor, confirm: str) -> None:
    """Destroys an app: its jobs, add-ons (with their data and backups), volumes, routes, network, releases, builds,
    git repository, build cache, images and slugs.

    `confirm` must repeat the app's name. A new app of the same name starts empty. Blobs that another
    app's artifact or build still references (same content) are kept.
    """
    if confirm != app.name:
        raise InvalidInput(
            f"to destroy {app.name}, confirm with its name: paas destroy -a {app.name} --confirm {app.name}"
        )
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).get()
        remains = _app_remains(app)
        event_record(app=app, actor=actor, action=EventAction.APP_DESTROY, detail=f"destroyed {app.name}")
        _app_rows_delete(app)
        transaction.on_commit(lambda: _remove_remains(remains))


def _app_rows_delete(app: App) -> None:
    """Deletes an app's rows, those that protect others last: formation, then releases, then artifacts."""
    Formation.objects.filter(app=app).delete()
    Release.objects.filter(app=app).delete()
    Artifact.objects.filter(app=app).delete()
    app.delete()


def _remove_remains(remains: AppRemains) -> None:
    """Removes what the app left outside the database; each step on its own, so one failure skips nothing else."""
    job_containers_remove(containers=remains.containers)
    _app_storage_remove(remains)
    _app_networks_remove(remains.name)
    wakeup("scheduler")  # the router drops the app's route on the next pass
    shutil.rmtree(repo_path(remains.name), ignore_errors=True)
    app_log_remove(app_name=remains.name)
    images_remove(images=remains.images)
    try:
        build_engine().volume_remove(cache_volume_name(remains.name))
    except Exception as error:  # noqa: BLE001 - a cache left behind is harmless to a new app only if removed
        log.warning("could not remove the build cache of %s: %s", remains.name, error)
    blobs_release_unused(digests=remains.blobs)  # those another app still uses stay


def _app_storage_remove(remains: AppRemains) -> None:
    """Removes the app's add-ons (their servers and data) and volumes, once its jobs are gone."""
    for host, key, kind in remains.storage:
        storage_remove(host, key, kind)


def _app_networks_remove(app_name: str) -> None:
    """Removes the app's own network from every host that is up, once its containers are gone."""
    for host in Host.objects.filter(state=HostState.UP):
        try:
            host_driver(host).app_network_remove(app_name)
        except Exception as error:  # noqa: BLE001 - the collection removes the networks of apps that no longer exist
            log.warning("could not remove the network of %s from host %s: %s", app_name, host.name, error)
