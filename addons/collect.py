"""The collection's part for add-ons and volumes: what hosts keep of add-ons and volumes that are gone (an app
destroyed, a volume removed while its job still ran, a host that was away)."""

import logging

from addons.models import Addon, Volume
from hosts.drivers import host_driver
from hosts.models import Host, HostState

log = logging.getLogger("paas.addons")


def storage_collect() -> list[str]:
    """Removes, from every host that is up, the add-on containers and the volumes nothing owns; returns them as
    `APP/NAME`. A volume a container still uses is kept, and tried again next time."""
    removed = []
    for host in Host.objects.filter(state=HostState.UP):
        try:
            removed += _host_storage_collect(host)
        except Exception as error:  # noqa: BLE001 - tried again next time
            log.warning("could not collect the add-ons and volumes of host %s: %s", host.name, error)
    return removed


def _host_storage_collect(host: Host) -> list[str]:
    """The host is listed before the rows are read: whatever its listing shows was made after its row was committed,
    so an add-on or volume being made is never taken for one that is gone."""
    driver = host_driver(host)
    services, volumes = driver.services(), driver.volumes()
    addons = set(Addon.objects.values_list("pk", flat=True))
    owned = {"addon": addons, "volume": set(Volume.objects.values_list("pk", flat=True))}
    removed = []
    for service in services:
        if service.key not in addons:
            driver.service_remove(service.key)
            removed.append(f"{service.app}/{service.name}")
    for volume in volumes:
        if volume.key not in owned[volume.kind] and driver.volume_remove(volume.key, volume.kind):
            removed.append(f"{volume.app}/{volume.name}")
    return removed
