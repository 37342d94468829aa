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
    driver = host_driver(host)
    addons = set(Addon.objects.filter(host=host).values_list("app__name", "name"))
    volumes = set(Volume.objects.filter(host=host).values_list("app__name", "name"))
    removed = []
    for service in driver.services():
        if (service.app, service.name) not in addons:
            driver.service_remove(service.app, service.name)
            removed.append(f"{service.app}/{service.name}")
    for volume in driver.volumes():
        owned = addons if volume.kind == "addon" else volumes
        if (volume.app, volume.name) not in owned and driver.volume_remove(volume.app, volume.name, volume.kind):
            removed.append(f"{volume.app}/{volume.name}")
    return removed
