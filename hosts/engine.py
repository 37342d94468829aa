"""The Docker engine as the build pipeline uses it: import the stack, run build containers, commit images."""

import contextlib
import io
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound, NotFound

from hosts.drivers.docker import LABEL_INSTANCE, LABEL_JOB

LABEL_BUILD = "paas.build"


class BuildContainer:
    """A build container: files go in before it starts, its output streams, files come out after."""

    def __init__(self, container):
        self.container = container
        self.timed_out = False

    def put_archive(self, path: str, archive: bytes | Path) -> None:
        data = archive.read_bytes() if isinstance(archive, Path) else archive
        self.container.put_archive(path, data)

    def run(self, on_output: Callable[[str], None], timeout: float) -> int:
        """Starts the container, passes its output on as it comes, and returns its exit status.

        A container still running after `timeout` seconds is killed, and `timed_out` is set.
        """
        watchdog = threading.Timer(timeout, self._kill)
        self.container.start()
        watchdog.start()
        try:
            for chunk in self.container.logs(stream=True, follow=True):
                on_output(chunk.decode("utf-8", errors="replace"))
            return self.container.wait()["StatusCode"]
        finally:
            watchdog.cancel()

    def _kill(self) -> None:
        self.timed_out = True
        with contextlib.suppress(APIError):
            self.container.kill()

    def get_archive(self, path: str, target: Path) -> None:
        """Writes a tar of `path` inside the container to `target`."""
        stream, _ = self.container.get_archive(path)
        with open(target, "wb") as writer:
            for chunk in stream:
                writer.write(chunk)

    def commit(self, repository: str, tag: str, conf: dict) -> str:
        """Saves the container's file system as an image; returns the image id."""
        return self.container.commit(repository=repository, tag=tag, conf=conf).id


class DockerBuildEngine:
    """The Docker operations of a build: stack image import, build containers, runtime images."""

    def __init__(self, docker_url: str, instance: str):
        self.client = docker.DockerClient(base_url=docker_url, timeout=600)
        self.instance = instance

    def image_id(self, reference: str) -> str | None:
        """The id of a local image, or None when the engine does not have it."""
        try:
            return self.client.images.get(reference).id
        except ImageNotFound:
            return None

    def image_import(self, rootfs_tar: Path, repository: str, tag: str, changes: list[str]) -> str:
        """Imports a root file system tarball as an image (no registry involved)."""
        self.client.api.import_image_from_file(str(rootfs_tar), repository=repository, tag=tag, changes=changes)
        return self.client.images.get(f"{repository}:{tag}").id

    def build_containers_remove(self) -> int:
        """Kills and removes this platform's build containers (running builds fail); returns how many."""
        containers = self.client.containers.list(
            all=True, filters={"label": [LABEL_BUILD, f"{LABEL_INSTANCE}={self.instance}"]}
        )
        builds = [container for container in containers if LABEL_JOB not in container.labels]
        for container in builds:
            with contextlib.suppress(NotFound, APIError):
                container.remove(force=True)
        return len(builds)

    def volume_remove(self, name: str) -> None:
        """Removes a volume (a build cache); one that is gone already is fine."""
        with contextlib.suppress(NotFound):
            self.client.volumes.get(name).remove(force=True)

    @contextlib.contextmanager
    def container(
        self, image: str, *, command: list[str], env: dict, binds: dict, build_id: int
    ) -> Iterator[BuildContainer]:
        """A created (not yet started) build container, removed on exit."""
        container = self.client.containers.create(
            image,
            command=command,
            environment=env,
            volumes=binds,
            labels={LABEL_BUILD: str(build_id), LABEL_INSTANCE: self.instance},
            working_dir="/app",
        )
        try:
            yield BuildContainer(container)
        finally:
            with contextlib.suppress(NotFound, APIError):  # it may be gone already (platform stopping)
                container.remove(force=True)


def tar_of_directory(source: Path, prefix: str, *, executable: bool = False) -> bytes:
    """A tar of the files under `source`, placed under `prefix`, owned by root (files 0755 if executable)."""

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if executable and info.isfile():
            info.mode = 0o755
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(source, arcname=prefix, filter=owned_by_root)
    return buffer.getvalue()


class MemoryBuildEngine:
    """The build engine's in-memory twin, for unit tests: it remembers what it was asked to remove."""

    volumes_removed: list[str] = []

    def volume_remove(self, name: str) -> None:
        self.volumes_removed.append(name)

    def build_containers_remove(self) -> int:
        return 0


def build_engine():
    """The engine builds run on: the Docker engine of DOCKER_HOST, or the in-memory twin in unit tests."""
    from django.conf import settings

    if settings.PAAS_HOST_DRIVER == "memory":
        return MemoryBuildEngine()
    return DockerBuildEngine(settings.DOCKER_HOST, settings.PAAS_INSTANCE)
