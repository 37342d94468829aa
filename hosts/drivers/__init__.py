"""Host drivers: the one interface through which the scheduler runs jobs on a host.

`docker` talks to a real Docker engine; `memory` keeps fake containers in memory for unit tests
and scale simulations. The driver is chosen by the PAAS_HOST_DRIVER setting.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class JobSpec:
    """What to run for one job: image, command, environment, and the port a web process listens on."""

    job_id: int
    name: str
    app: str
    process_type: str
    image: str
    command: str
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None


@dataclass(frozen=True)
class JobContainer:
    """What a host reports of one job's container."""

    job_id: int
    container_id: str
    running: bool
    exit_code: int | None = None
    host_port: int | None = None


def host_driver(host):
    """The driver for `host`, as chosen by settings."""
    from django.conf import settings

    if settings.PAAS_HOST_DRIVER == "memory":
        from hosts.drivers.memory import MemoryHostDriver

        return MemoryHostDriver.for_host(host.name)
    if settings.PAAS_HOST_DRIVER == "docker":
        from hosts.drivers.docker import DockerHostDriver

        return DockerHostDriver(host.docker_url, host.address, settings.PAAS_INSTANCE)
    raise ValueError(f"unknown PAAS_HOST_DRIVER {settings.PAAS_HOST_DRIVER!r}; use docker or memory")
