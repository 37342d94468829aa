"""The collection: removes what builds leave behind once nothing needs it, so that disks do not fill.

The scheduler runs `garbage_collect` every PAAS_COLLECT_INTERVAL seconds. It removes old releases' runtime images
(PAAS_KEEP_RELEASES) and, later, their slugs (PAAS_KEEP_SLUGS); the images, build caches of apps that no longer
exist (a destroy the platform stopped in the middle of), and their networks; and build containers left behind.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from apps.models import App
from artifacts.blobstore import blob_delete, blob_exists
from artifacts.models import Artifact
from formations.models import Formation
from hosts.drivers import host_driver
from hosts.models import Host, HostState
from releases.models import Release
from scheduler.models import Job, JobState

log = logging.getLogger("paas.collect")


@dataclass
class Collected:
    """What one collection removed."""

    images: list[str] = field(default_factory=list)  # old releases' runtime images
    slugs: list[str] = field(default_factory=list)  # digests of the slug and dependency layer blobs deleted
    sources: list[str] = field(default_factory=list)  # digests of pushed sources whose builds have ended
    orphan_images: list[str] = field(default_factory=list)  # images of apps that no longer exist
    caches: list[str] = field(default_factory=list)  # build cache volumes of apps that no longer exist
    networks: list[str] = field(default_factory=list)  # apps that no longer exist whose network was removed
    storage: list[str] = field(default_factory=list)  # APP/NAME of add-ons and volumes that no longer exist
    build_containers: int = 0  # build containers left behind

    def __bool__(self) -> bool:
        return bool(
            self.images
            or self.slugs
            or self.sources
            or self.orphan_images
            or self.caches
            or self.networks
            or self.storage
            or self.build_containers
        )


def garbage_collect() -> Collected:
    """Removes the runtime images, slugs, build caches and build containers nothing needs any more; returns them.

    Kept, for each app: the artifacts of its current release (the formation's release, the one whose release phase
    runs, the one last rolled out), of any release with a job not stopped on some host, and of its last
    PAAS_KEEP_RELEASES releases that have an artifact. The runtime images of other artifacts are removed from every
    host; their slugs stay for the last PAAS_KEEP_SLUGS releases, so that a rollback can make the image again
    (artifacts.services.artifact_image_restore). Blobs are content-addressed: a slug another kept artifact shares
    stays. Rows are never deleted: the artifact records when its image, and its slug, were removed.

    Also removed: the images of this platform's apps that no longer exist (`paas-app/APP:INSTANCE-...`), their
    build caches (`paas-cache-INSTANCE-APP` volumes) and networks, the add-on containers and volumes nothing owns,
    and build containers older than the build timeout. Each step
    goes on when another fails; what a host that does not answer keeps is tried again next time.
    """
    collected = Collected()
    steps = (
        _collect_images,
        _collect_slugs,
        _collect_sources,
        _collect_layer_images,
        _collect_orphan_images,
        _collect_caches,
        _collect_storage,
        _collect_networks,
        _collect_build_containers,
    )
    for step in steps:
        try:
            step(collected)
        except Exception:  # noqa: BLE001 - one step failing leaves the others to do
            log.exception("collection step %s failed", step.__name__)
    if collected:
        log.info(
            "collection removed %d images (%s), %d slugs, %d sources, %d images of destroyed apps (%s), "
            "%d build caches (%s), networks of %d destroyed apps (%s), %d build containers, add-ons and volumes (%s)",
            len(collected.images),
            ", ".join(collected.images),
            len(collected.slugs),
            len(collected.sources),
            len(collected.orphan_images),
            ", ".join(collected.orphan_images),
            len(collected.caches),
            ", ".join(collected.caches),
            len(collected.networks),
            ", ".join(collected.networks),
            collected.build_containers,
            ", ".join(collected.storage),
        )
    return collected


def _stale_seconds() -> float:
    """How long a build may run, and then some: an artifact with no release yet is new for that long."""
    from buildpacks.services import STALE_MARGIN_SECONDS

    return settings.PAAS_BUILD_TIMEOUT + STALE_MARGIN_SECONDS


def artifacts_kept(keep: int) -> set[int]:
    """The ids of the artifacts in use, and of those of each app's last `keep` releases with an artifact."""
    kept: set[int] = set()
    for column in ("release", "releasing", "deployed_release"):
        kept |= set(Formation.objects.values_list(f"{column}__artifact_id", flat=True))
    live = Job.objects.exclude(state=JobState.STOPPED)
    kept |= set(live.values_list("release__artifact_id", flat=True))
    for app_id in App.objects.values_list("pk", flat=True):
        releases = Release.objects.filter(app_id=app_id, artifact__isnull=False).order_by("-version")
        kept |= set(releases.values_list("artifact_id", flat=True)[: max(keep, 0)])
    kept.discard(None)
    return kept


def _candidates(kept: set[int], **unremoved):
    """Artifacts not kept and not collected yet (`unremoved` says of what); one with no release yet (its build is
    finishing, or a rollback is about to use it) is left alone while it is new."""
    recent = timezone.now() - timedelta(seconds=_stale_seconds())
    artifacts = Artifact.objects.filter(**unremoved).exclude(pk__in=kept).annotate(uses=Count("releases"))
    return [artifact for artifact in artifacts.select_related("app") if artifact.uses or artifact.created_at < recent]


def _platform_image(image: str) -> bool:
    """Whether the platform made this image (a runtime image `paas-app/APP:INSTANCE-...`): those it may remove.
    An image deployed as it is (a registry's) is the operator's."""
    repository, _, tag = image.rpartition(":")
    return repository.startswith("paas-app/") and tag.startswith(f"{settings.PAAS_INSTANCE}-")


def _collect_images(collected: Collected) -> None:
    kept = artifacts_kept(settings.PAAS_KEEP_RELEASES)
    old = [artifact for artifact in _candidates(kept, image_removed_at__isnull=True) if _platform_image(artifact.image)]
    if not old:
        return
    old_ids = {artifact.pk for artifact in old}
    # An image several artifacts name (a rebuilt image has a name of its own, but be safe) goes with the last one.
    in_use = set(Artifact.objects.filter(image_removed_at__isnull=True).exclude(pk__in=old_ids).values_list("image"))
    in_use = {image for (image,) in in_use}
    images = sorted({artifact.image for artifact in old} - in_use)
    failed = _images_remove(images)
    removed = [artifact.pk for artifact in old if artifact.image not in failed]
    Artifact.objects.filter(pk__in=removed).mark_image_removed(timezone.now())
    collected.images += [image for image in images if image not in failed]


def _images_remove(images: list[str]) -> set[str]:
    """Removes images from every host that is up; returns those a host failed to remove (tried again next time).
    Hosts that are down are not waited for: nothing runs those images any more."""
    failed: set[str] = set()
    if not images:
        return failed
    for host in Host.objects.filter(state=HostState.UP):  # one that is down would hold every pass up
        driver = host_driver(host)
        for image in images:
            try:
                driver.image_remove(image)
            except Exception as error:  # noqa: BLE001 - the host keeps it for now
                log.warning("could not remove image %s from host %s: %s", image, host.name, error)
                if host.state == HostState.UP:
                    failed.add(image)
    return failed


def _collect_slugs(collected: Collected) -> None:
    from buildpacks.models import Build
    from buildpacks.services import UNFINISHED_STATES

    keep = max(settings.PAAS_KEEP_SLUGS, settings.PAAS_KEEP_RELEASES)
    kept = artifacts_kept(keep)
    old = [artifact for artifact in _candidates(kept, slug_removed_at__isnull=True) if artifact.slug_digest]
    if not old:
        return
    old_ids = {artifact.pk for artifact in old}
    Artifact.objects.filter(pk__in=old_ids).mark_slug_removed(timezone.now())  # before the blobs go
    digests = {digest for artifact in old for digest in (artifact.slug_digest, artifact.layer_digest) if digest}
    used = Artifact.objects.filter(slug_removed_at__isnull=True).blobs_used(digests)
    sources = Build.objects.filter(source_digest__in=digests, state__in=UNFINISHED_STATES)
    used |= set(sources.values_list("source_digest", flat=True))
    for digest in sorted(digests - used):
        blob_delete(digest)
        collected.slugs.append(digest)


def _collect_sources(collected: Collected) -> None:
    """The pushed sources of builds that have ended (a build releases its own as it ends; these are left over)."""
    from buildpacks.models import Build
    from buildpacks.services import UNFINISHED_STATES, blobs_release_unused

    ended = Build.objects.exclude(state__in=UNFINISHED_STATES).values_list("source_digest", flat=True).distinct()
    collected.sources += sorted(blobs_release_unused(digests={digest for digest in ended if blob_exists(digest)}))


def _collect_layer_images(collected: Collected) -> None:
    """The dependency layer images no artifact with an image uses any more (nor one on an older stack); those of
    an app that is building are left alone (its build may be about to use one)."""
    from buildpacks.models import Build
    from buildpacks.services import UNFINISHED_STATES

    # Builds first: one that ends between the two reads has its artifact among the kept ones.
    building = set(Build.objects.filter(state__in=UNFINISHED_STATES).values_list("app__name", flat=True))
    kept = _layer_images_kept()

    def unused(images: list[str]) -> list[str]:
        return [i for i in images if _layer_image(i) and i not in kept and _image_app(i) not in building]

    _images_prune(unused, collected.images)


def _layer_images_kept() -> set[str]:
    """The layer images (on the current stack) of the artifacts whose runtime images are still there."""
    from buildpacks.layers import layer_image_reference
    from buildpacks.stack import stack_image
    from hosts.engine import build_engine

    stack_id = build_engine().image_id(stack_image()) or stack_image()
    layered = Artifact.objects.filter(image_removed_at__isnull=True).exclude(layer_key="")
    keys = set(layered.values_list("app__name", "layer_key"))
    return {layer_image_reference(stack_id, app, key) for app, key in keys}


def _layer_image(image: str) -> bool:
    return image.rpartition(":")[2].startswith(f"{settings.PAAS_INSTANCE}-layer-")


def _image_app(image: str) -> str:
    """The app of a `paas-app/APP:TAG` image."""
    return image.rpartition(":")[0].removeprefix("paas-app/")


def _collect_orphan_images(collected: Collected) -> None:
    """The runtime images of apps that no longer exist, on every host that is up."""

    def orphans(images: list[str]) -> list[str]:
        names = {_image_app(image) for image in images}
        existing = set(App.objects.filter(name__in=names).values_list("name", flat=True))
        return [image for image in images if _image_app(image) not in existing]

    _images_prune(orphans, collected.orphan_images)


def _images_prune(select, removed: list[str]) -> None:
    """On every host that is up, removes the app images `select` picks out of those the host has, adding each to
    `removed`; what a host fails to list or remove is tried again next time."""
    for host in Host.objects.filter(state=HostState.UP):
        driver = host_driver(host)
        try:
            images = driver.app_images()
        except Exception as error:  # noqa: BLE001 - tried again next time
            log.warning("could not list the images of host %s: %s", host.name, error)
            continue
        for image in select(images):
            try:
                driver.image_remove(image)
            except Exception as error:  # noqa: BLE001 - tried again next time
                log.warning("could not remove image %s from host %s: %s", image, host.name, error)
                continue
            removed.append(image)


def _collect_caches(collected: Collected) -> None:
    """The build caches of apps that no longer exist."""
    from buildpacks.services import cache_volume_name
    from hosts.engine import build_engine

    engine = build_engine()
    prefix = cache_volume_name("")
    volumes = engine.volumes(prefix)
    existing = set(App.objects.values_list("name", flat=True))
    for volume in volumes:
        if volume.removeprefix(prefix) not in existing:
            engine.volume_remove(volume)
            collected.caches.append(volume)


def _collect_storage(collected: Collected) -> None:
    """The add-on containers and volumes that no add-on or volume owns any more (before the networks they are on)."""
    from addons.collect import storage_collect

    collected.storage += storage_collect()


def _collect_networks(collected: Collected) -> None:
    """The networks of apps that no longer exist (a destroy that missed a host, or a job that started meanwhile),
    on every host that is up."""
    existing = set(App.objects.values_list("name", flat=True))
    for host in Host.objects.filter(state=HostState.UP):
        driver = host_driver(host)
        try:
            gone = set(driver.app_networks()) - existing
        except Exception as error:  # noqa: BLE001 - tried again next time
            log.warning("could not list the networks of host %s: %s", host.name, error)
            continue
        for app_name in sorted(gone):
            try:
                driver.app_network_remove(app_name)
            except Exception as error:  # noqa: BLE001 - tried again next time
                log.warning("could not remove the network of %s from host %s: %s", app_name, host.name, error)
                continue
            collected.networks.append(app_name)


def _collect_build_containers(collected: Collected) -> None:
    from hosts.engine import build_engine

    collected.build_containers += build_engine().build_containers_remove_stale(_stale_seconds())
