"""Where an app's stateful parts pin its jobs: an add-on's server, or a volume, lives on one host, and the jobs that
use it run there (an app's network, where its add-ons answer, is a network of each host's engine)."""

from collections import Counter

from addons.models import Addon, Volume
from apps.models import App
from hosts.models import Host, HostState
from paas.errors import Conflict

HOST_TAG = "host:"  # the placement tag each host has of its own name: a constraint to run on that host


def app_host_pick(app: App) -> Host:
    """The host for a new add-on or volume of `app`: where its add-ons and volumes are, else where most of its jobs
    run, else the least busy host that is up and takes jobs."""
    from scheduler.models import ACTIVE_STATES, Job

    pinned = app_pinned_host(app)
    if pinned is not None:
        return pinned
    hosts = {host.pk: host for host in Host.objects.filter(state=HostState.UP, drained=False)}
    if not hosts:
        raise Conflict("no host is up and taking jobs; see `paas hosts`")
    running = Counter(Job.objects.filter(app=app, state__in=ACTIVE_STATES).values_list("host_id", flat=True))
    busy = Counter(Job.objects.filter(state__in=ACTIVE_STATES).values_list("host_id", flat=True))
    return max(hosts.values(), key=lambda host: (running[host.pk], -busy[host.pk]))


def app_pinned_host(app: App) -> Host | None:
    """The host `app`'s add-ons or volumes live on, if it has any."""
    addon = Addon.objects.filter(app=app).select_related("host").first()
    if addon is not None:
        return addon.host
    volume = Volume.objects.filter(app=app).select_related("host").first()
    return volume.host if volume is not None else None


def addons_host(app: App) -> Host | None:
    """The host `app`'s add-ons run on, when it is up and takes jobs: where its one-off runs reach them."""
    addon = Addon.objects.filter(app=app, host__state=HostState.UP, host__drained=False).select_related("host").first()
    return addon.host if addon is not None else None


def pinned_hosts() -> dict[tuple[int, str | None], str]:
    """(app id, process type) -> the name of the host its jobs must run on; a process type of None stands for
    every process type of the app (an add-on pins them all, a volume its own process type)."""
    pins = {(app_id, None): host for app_id, host in Addon.objects.values_list("app_id", "host__name")}
    pins.update(
        ((app_id, process_type), host)
        for app_id, process_type, host in Volume.objects.values_list("app_id", "process_type", "host__name")
    )
    return pins


def job_pin(pins: dict, app_id: int, process_type: str) -> frozenset[str]:
    """The placement tags that pin a job of `app_id`'s `process_type` to its host, if anything pins it."""
    host = pins.get((app_id, process_type)) or pins.get((app_id, None))
    return frozenset({HOST_TAG + host}) if host else frozenset()


def exclusive_process_types(app_id: int | None = None) -> set[tuple[int, str]]:
    """(app id, process type) of the process types with a volume that one job at a time uses (not shared)."""
    volumes = Volume.objects.filter(shared=False)
    if app_id is not None:
        volumes = volumes.filter(app_id=app_id)
    return set(volumes.values_list("app_id", "process_type"))
