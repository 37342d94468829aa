"""The Docker host driver: jobs as containers on a real Docker engine.

This module and `hosts.engine` are the only code that talks to Docker.
"""

import socket

import docker
from docker.errors import APIError, ImageNotFound, NotFound

from hosts.drivers import JobContainer, JobSpec

LABEL_INSTANCE = "paas.instance"
LABEL_JOB = "paas.job"


class DockerHostDriver:
    """Runs each job as one container whose port is published on the host's loopback address."""

    def __init__(self, docker_url: str, address: str, instance: str):
        self.client = docker.DockerClient(base_url=docker_url, timeout=60)
        self.address = address
        self.instance = instance

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
            labels={
                LABEL_INSTANCE: self.instance,
                LABEL_JOB: str(spec.job_id),
                "paas.app": spec.app,
                "paas.process_type": spec.process_type,
            },
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
        if not container.running or not container.host_port:
            return False
        try:
            with socket.create_connection((self.address, container.host_port), timeout=1):
                return True
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
