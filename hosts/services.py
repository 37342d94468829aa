"""Writes on hosts."""

import contextlib
import logging

from django.conf import settings
from django.utils import timezone

from hosts.drivers import host_driver
from hosts.models import Host, HostState

log = logging.getLogger("paas.hosts")


def host_register_local() -> Host:
    """Registers (or refreshes) the Docker engine of this machine as the host named by PAAS_HOST_NAME."""
    host, _ = Host.objects.update_or_create(
        name=settings.PAAS_HOST_NAME,
        defaults={
            "docker_url": settings.DOCKER_HOST,
            "address": settings.PAAS_HOST_ADDRESS,
            "state": HostState.UP,
            "heartbeat_at": timezone.now(),
        },
    )
    host_capacity_record(host=host)
    return host


def host_capacity_record(*, host: Host) -> None:
    """Records the host's memory and CPUs as its engine reports them, for placement; one that does not answer
    keeps what it had (its placement is then by spread alone)."""
    try:
        memory, cpus = host_driver(host).host_capacity()
    except Exception as error:  # noqa: BLE001 - an engine not up yet: the next registration tries again
        log.warning("could not read the capacity of host %s: %s", host.name, error)
        return
    Host.objects.filter(pk=host.pk).update(memory=memory, cpus=cpus)


def host_change(*, host: Host, actor, tags: list[str] | None = None, drained: bool | None = None) -> Host:
    """Sets a host's tags, or drains it (it takes no new jobs; the scheduler moves its jobs away, each stopping
    once its replacement elsewhere is up) or undrains it."""
    from paas.wakeups import wakeup

    if tags is not None:
        host.tags = sorted(set(tags))
    if drained is not None:
        host.drained = drained
    host.save(update_fields=["tags", "drained"])
    log.info("host %s changed by %s: tags %s, drained %s", host.name, actor, host.tags, host.drained)
    wakeup("scheduler")
    return host


def host_heartbeat(*, host: Host) -> None:
    """Records that `host` answered just now."""
    Host.objects.filter(pk=host.pk).update(state=HostState.UP, heartbeat_at=timezone.now())


def host_mark_down(*, host: Host) -> None:
    """Records that `host` did not answer."""
    Host.objects.filter(pk=host.pk).update(state=HostState.DOWN)


def image_available(*, image: str) -> bool:
    """Whether a host that is up still has the image `image` (a release can run only where its image is)."""
    for host in Host.objects.filter(state=HostState.UP):
        with contextlib.suppress(Exception):
            if host_driver(host).image_present(image):
                return True
    return False


def images_remove(*, images: list[str]) -> None:
    """Removes images from every host that answers (an app's runtime images, when it is destroyed)."""
    for host in Host.objects.all():
        driver = host_driver(host)
        for image in images:
            try:
                driver.image_remove(image)
            except Exception as error:  # noqa: BLE001 - a host that is down keeps it; nothing runs it any more
                log.warning("could not remove image %s from host %s: %s", image, host.name, error)


def job_containers_remove(*, containers: list[tuple[int, str]]) -> None:
    """Removes job containers at once, given as (host id, container id); the scheduler removes any it misses."""
    hosts = {host.pk: host for host in Host.objects.filter(pk__in={host_id for host_id, _ in containers})}
    for host_id, container_id in containers:
        try:
            host_driver(hosts[host_id]).job_remove(container_id)
        except Exception as error:  # noqa: BLE001 - the next reconcile pass removes containers with no job
            log.warning("could not remove container %s: %s", container_id, error)
