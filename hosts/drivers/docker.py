"""The Docker host driver: jobs as containers on a real Docker engine.

This module and `hosts.engine` are the only code that talks to Docker.
"""

import socket
from dataclasses import dataclass

import docker
from docker.errors import APIError, ImageNotFound, NotFound

from hosts.drivers import JobContainer, JobSpec

LABEL_INSTANCE = "paas.instance"
LABEL_JOB = "paas.job"
# Apps and builds run as this user: `paas` in the stack image; no account on the host (people's start at 1000).
APP_UID = APP_GID = 10000
APP_USER = f"{APP_UID}:{APP_GID}"
ICC_OPTION = "com.docker.network.bridge.enable_icc"
HEALTH_HOLD_SECONDS = 0.3  # a health check's connection must stay open this long


@dataclass(frozen=True)
class Confinement:
    """What one container may use. It runs as the app user, with no capabilities and no way to gain any
    (setuid binaries do nothing), within a memory limit (Docker's units: 512m, 2g), CPUs and a process count."""

    memory: str
    cpus: float
    pids: int

    @classmethod
    def for_jobs(cls) -> "Confinement":
        from django.conf import settings

        return cls(settings.PAAS_JOB_MEMORY, settings.PAAS_JOB_CPUS, settings.PAAS_PIDS_LIMIT)

    @classmethod
    def for_builds(cls) -> "Confinement":
        from django.conf import settings

        return cls(settings.PAAS_BUILD_MEMORY, settings.PAAS_BUILD_CPUS, settings.PAAS_PIDS_LIMIT)

    def options(self, client) -> dict:
        """The options of docker-py's `containers.create` that apply it (CPUs capped at what the engine has)."""
        cpus = min(self.cpus, client.info()["NCPU"])
        return {
            "user": APP_USER,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "mem_limit": self.memory or None,
            "nano_cpus": round(cpus * 1e9) or None,
            "pids_limit": self.pids or None,
        }


def instance_network(client, instance: str) -> str:
    """This platform's container network, made on first use. Inter-container traffic is off on it: a container
    reaches the outside world and the host's public ports (the router), never another container directly."""
    name = f"paas-{instance}"
    try:
        network = client.networks.get(name)
    except NotFound:
        network = _network_create(client, name, instance)
    if (network.attrs.get("Options") or {}).get(ICC_OPTION) != "false":
        raise RuntimeError(f"the Docker network {name} lets containers reach each other; remove it and paas remakes it")
    return name


def _network_create(client, name: str, instance: str):
    options = {ICC_OPTION: "false"}
    try:
        return client.networks.create(
            name, driver="bridge", options=options, labels={LABEL_INSTANCE: instance}, check_duplicate=True
        )
    except APIError as error:
        if error.status_code != 409:  # 409: made by another thread in the meantime
            raise
    return client.networks.get(name)


class DockerHostDriver:
    """Runs each job as one confined container on this platform's network, its port published on the host's
    loopback address (where the router reaches it)."""

    def __init__(self, docker_url: str, address: str, instance: str, confinement: Confinement | None = None):
        self.client = docker.DockerClient(base_url=docker_url, timeout=60)
        self.address = address
        self.instance = instance
        self.confinement = confinement or Confinement.for_jobs()

    def job_start(self, spec: JobSpec) -> JobContainer:
        ports = {f"{spec.port}/tcp": (self.address, None)} if spec.port else {}
        self.job_remove(spec.name)  # a leftover container of the same job
        container = self.client.containers.run(
            spec.image,
            command=[spec.command],
            name=spec.name,
            detach=True,
            init=True,
            environment=spec.env,
            ports=ports,
            network=instance_network(self.client, self.instance),
            labels={
                LABEL_INSTANCE: self.instance,
                LABEL_JOB: str(spec.job_id),
                "paas.app": spec.app,
                "paas.process_type": spec.process_type,
            },
            **self.confinement.options(self.client),
        )
        container.reload()
        return self._job_container(container)

    def job_containers(self) -> dict[int, JobContainer]:
        labels = [f"{LABEL_INSTANCE}={self.instance}", LABEL_JOB]  # job containers only, not builds
        containers = self.client.containers.list(all=True, filters={"label": labels})
        found = {}
        for container in containers:
            job = self._job_container(container)
            found[job.job_id] = job
        return found

    def job_healthy(self, container: JobContainer) -> bool:
        """Whether the job's port takes connections. Docker's port proxy accepts one whatever the container does,
        then closes it at once when nothing listens there: a connection held open is a process listening."""
        if not container.running or not container.host_port:
            return False
        try:
            connection = socket.create_connection((self.address, container.host_port), timeout=1)
        except OSError:
            return False
        with connection:
            connection.settimeout(HEALTH_HOLD_SECONDS)
            try:
                return connection.recv(1) != b""  # data: a server that speaks first; nothing: closed by the proxy
            except TimeoutError:
                return True  # held open: a server waiting for a request
            except OSError:
                return False

    def job_signal(self, container_id: str, signal: str) -> None:
        try:
            self.client.api.kill(container_id, signal=signal)
        except NotFound:
            pass
        except APIError as error:
            if "is not running" not in str(error):
                raise

    def job_remove(self, container_id: str) -> None:
        """Removes a container, by id or name, whatever its state."""
        try:
            self.client.api.remove_container(container_id, force=True)
        except NotFound:
            pass

    def image_present(self, image: str) -> bool:
        try:
            self.client.images.get(image)
        except ImageNotFound:
            return False
        return True

    def image_remove(self, image: str) -> None:
        """Removes an image by reference; one that is already gone is fine."""
        try:
            self.client.images.remove(image, force=True)
        except ImageNotFound:
            pass

    @staticmethod
    def _job_container(container) -> JobContainer:
        state = container.attrs.get("State", {})
        running = state.get("Running", False)
        return JobContainer(
            job_id=int(container.labels[LABEL_JOB]),
            container_id=container.id,
            running=running,
            exit_code=None if running else state.get("ExitCode"),
            host_port=_published_port(container.attrs),
        )


def _published_port(attrs: dict) -> int | None:
    for bindings in (attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
        for binding in bindings or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
    return None
