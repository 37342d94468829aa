"""Writes on hosts."""

from django.conf import settings
from django.utils import timezone

from hosts.models import Host, HostState


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
    return host


def host_heartbeat(*, host: Host) -> None:
    """Records that `host` answered just now."""
    Host.objects.filter(pk=host.pk).update(state=HostState.UP, heartbeat_at=timezone.now())


def host_mark_down(*, host: Host) -> None:
    """Records that `host` did not answer."""
    Host.objects.filter(pk=host.pk).update(state=HostState.DOWN)
