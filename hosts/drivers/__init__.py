"""Host drivers: the one interface through which the scheduler runs jobs on a host.

`docker` talks to a real Docker engine; `memory` keeps fake containers in memory for unit tests
and scale simulations. The driver is chosen by the PAAS_HOST_DRIVER setting.

Each job also joins its app's own network on its host, where the app's jobs reach one another by name:
`TYPE.APP.internal` (every job of the type) and `TYPE.INDEX.APP.internal` (one job, `web.1.APP.internal`). No other
app's job is on that network, so none can resolve or reach those names.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ImageSource:
    """How a host that lacks a job's runtime image makes it. A buildpack release's: the stack image, the app's
    dependency layer (when the build made one) and the slug at /app, the blobs fetched from the controller (`urls`:
    digest -> signed URL) and checked against their digests. A Docker image's (a Dockerfile build, a deployed
    image): its `docker save` archive, fetched from the controller (`archive_url`), loaded only if it is the image
    of id `image_id`."""

    app: str
    build_id: int = 0
    slug_digest: str = ""
    layer_key: str = ""
    layer_digest: str = ""
    layer_size: int | None = None
    urls: dict[str, str] = field(default_factory=dict)
    archive_url: str = ""
    image_id: str = ""


@dataclass(frozen=True)
class VolumeMount:
    """An app's persistent volume (`paas volumes create`) as a job mounts it: its id (its engine volume's name derives
    from it alone, never from names that could collide), its name within the app, and where."""

    key: int
    name: str
    path: str


@dataclass(frozen=True)
class JobSpec:
    """What to run for one job: image, command, environment, and the port a web process listens on."""

    job_id: int
    name: str
    app: str
    process_type: str
    image: str
    command: str  # empty: the image's own command (a Docker image without a Procfile line)
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    memory: str | None = None  # Docker's units (512m, 2g); None: the host's default
    cpus: float | None = None  # None: the host's default
    shell: bool = False  # run `command` with /bin/sh -c instead of the image's entrypoint (a Docker image's)
    tty: bool = False  # a one-off run with a pseudo-terminal
    stdin: bool = False  # a one-off run that reads what its user types
    links: tuple[str, ...] = ()  # the other apps whose jobs it may reach: it joins their networks too
    image_source: ImageSource | None = None  # how to make `image` on a host that lacks it (a buildpack release's)
    volumes: tuple[VolumeMount, ...] = ()  # the app's volumes its process type mounts


@dataclass(frozen=True)
class ServiceSpec:
    """A backing service of an app (an add-on), run by the platform: `image` (made where the host lacks it from
    `recipe`, file name -> text, a Docker build context on `base`) running `command` as the app user, with its data on
    a volume of its own at /data, on its app's network only, under `aliases`; the engine restarts it when it ends."""

    key: int  # the add-on's id: its container's and its volume's names derive from it
    app: str
    name: str
    image: str
    base: str
    recipe: dict[str, str]
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    memory: str | None = None


@dataclass(frozen=True)
class ServiceStatus:
    """What a host reports of one add-on's container: its engine state (running, restarting, exited...)."""

    key: int
    app: str
    name: str
    container_id: str
    state: str


@dataclass(frozen=True)
class VolumeStatus:
    """A volume of this platform on a host: an app's (`kind` volume) or an add-on's data (`kind` addon), its size in
    bytes where the engine says."""

    key: int
    app: str
    name: str
    kind: str
    size: int | None = None


@dataclass(frozen=True)
class HealthCheck:
    """An HTTP health check: GET `path` on the job's port answers 2xx or 3xx within `timeout` seconds,
    `passes` times in a row."""

    path: str
    timeout: float = 2.0
    passes: int = 2


@dataclass(frozen=True)
class CheckResult:
    """One health check's outcome, and what it saw ("200 OK in 12 ms", "connection refused", "HTTP 500").
    `answered` is true when the job's process answered, even with an error."""

    passed: bool
    detail: str
    answered: bool = False


@dataclass(frozen=True)
class JobContainer:
    """What a host reports of one job's container."""

    job_id: int
    container_id: str
    running: bool
    exit_code: int | None = None
    host_port: int | None = None
    oom_killed: bool = False
    # The job's own address and port on the host's container network ("10.1.2.3", 5000), where the host reaches it
    # without Docker's port proxy; None where the host does not say.
    private_address: tuple[str, int] | None = None


class JobSession(Protocol):
    """A connection to a one-off job's container: its output, and what its user types into it."""

    def read(self) -> tuple[str, bytes] | None:
        """The next output, as ("stdout" or "stderr", data) (all "stdout" with a TTY); None once it ends."""
        ...

    def write(self, data: bytes) -> None: ...

    def close_input(self) -> None:
        """End of input: the job reads end-of-file."""
        ...

    def close(self) -> None: ...


INTERNAL_DOMAIN = "internal"
_JOB_NAME = re.compile(r"^[a-z0-9_-]+\.[0-9]+$")


def internal_name(app: str, process_type: str) -> str:
    """The name under which `app`'s jobs of `process_type` answer on the app's own network: `web.APP.internal`."""
    return f"{process_type}.{app}.{INTERNAL_DOMAIN}"


def job_internal_names(spec: JobSpec) -> list[str]:
    """A job's names on its app's network: its process type's, then its own (`web.1.APP.internal`, from $DYNO)."""
    names = [internal_name(spec.app, spec.process_type)]
    dyno = spec.env.get("DYNO", "")
    if _JOB_NAME.match(dyno) and dyno.startswith(f"{spec.process_type}."):
        names.append(internal_name(spec.app, dyno))
    return names


class HostDriver(Protocol):
    """What the scheduler, and every runtime feature, may ask of a host: the one interface to its engine."""

    def job_start(self, spec: JobSpec) -> JobContainer: ...

    def job_start_attached(self, spec: JobSpec) -> tuple[JobContainer, JobSession]:
        """Starts a one-off job connected to its user from its first byte of output."""
        ...

    def job_resize(self, container_id: str, rows: int, columns: int) -> None:
        """Sets the size of a one-off job's terminal."""
        ...

    def job_wait(self, container_id: str, timeout: float) -> int | None:
        """The exit code of a job's container once it has ended; None when it is gone."""
        ...

    def job_containers(self) -> dict[int, JobContainer]: ...

    def job_healthy(self, container: JobContainer) -> bool: ...

    def job_check(self, container: JobContainer, check: HealthCheck | None) -> CheckResult: ...

    def job_signal(self, container_id: str, signal: str) -> None: ...

    def job_remove(self, container_id: str) -> None: ...

    def job_logs(self, container_id: str, since: float | None = None) -> Iterator[tuple[float, str, str]]:
        """The container's output as (timestamp, "stdout" or "stderr", line), after `since` when given,
        following it until the container ends."""
        ...

    def image_present(self, image: str) -> bool: ...

    def image_remove(self, image: str) -> None: ...

    def app_images(self) -> list[str]:
        """The references of this platform's app runtime images on the host (`paas-app/APP:INSTANCE-...`)."""
        ...

    def host_capacity(self) -> tuple[int | None, float | None]:
        """The host's memory (bytes) and CPUs, as its engine reports them; None for what it does not say."""
        ...

    def app_networks(self) -> list[str]:
        """The names of the apps that have a network of their own on the host (made by their jobs' first start)."""
        ...

    def app_network_remove(self, app: str) -> None:
        """Removes `app`'s own network from the host (once its jobs are gone); one that is not there is fine."""
        ...

    def volumes(self, sizes: bool = False) -> list[VolumeStatus]:
        """This platform's volumes on the host, apps' and add-ons', with their sizes when asked (it costs a walk)."""
        ...

    def volume_remove(self, key: int, kind: str) -> bool:
        """Removes a volume; False when a container still uses it (it is kept). One that is not there is fine."""
        ...

    def service_start(self, spec: ServiceSpec) -> ServiceStatus:
        """Starts an add-on's container (replacing one of the same add-on), its image made first where missing."""
        ...

    def services(self) -> list[ServiceStatus]:
        """The add-ons' containers on the host."""
        ...

    def service_remove(self, key: int) -> None:
        """Removes an add-on's container and its data volume; one that is not there is fine."""
        ...

    def service_exec(self, key: int, command: tuple[str, ...]) -> tuple[int, str]:
        """Runs a command in an add-on's container, as the app user; its exit code and the end of its output."""
        ...

    def service_file_send(self, key: int, path: str, url: str) -> None:
        """Sends a file of an add-on's container to `url` (a signed upload URL of the controller) by HTTP PUT; the
        controller records what it stored under the URL's token."""
        ...

    def service_file_receive(self, key: int, path: str, url: str, digest: str) -> None:
        """Puts a blob of the controller (fetched from its signed `url`, checked against `digest`) into an add-on's
        container at `path`, owned by the app user."""
        ...


def host_driver(host) -> HostDriver:
    """The driver for `host`, as chosen by settings."""
    from django.conf import settings

    if settings.PAAS_HOST_DRIVER == "memory":
        from hosts.drivers.memory import MemoryHostDriver

        return MemoryHostDriver.for_host(host.name)
    if getattr(host, "agent", False):
        from hosts.rpc import AgentHostDriver

        return AgentHostDriver(host)
    if settings.PAAS_HOST_DRIVER == "docker":
        from hosts.drivers.docker import DockerHostDriver

        return DockerHostDriver(host.docker_url, host.address, settings.PAAS_INSTANCE)
    raise ValueError(f"unknown PAAS_HOST_DRIVER {settings.PAAS_HOST_DRIVER!r}; use docker or memory")
