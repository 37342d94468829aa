"""The Docker engine as the build pipeline uses it: import the stack, run build containers, commit images."""

import codecs
import contextlib
import json
import shlex
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound, NotFound
from docker.utils import parse_bytes

from hosts.drivers.docker import APP_GID, APP_UID, APP_USER, LABEL_INSTANCE, LABEL_JOB, Confinement, instance_network

LABEL_BUILD = "paas.build"
# What a build container's first step, as root, may do: give its handover paths to the app user, then become it.
HANDOVER_CAPABILITIES = ["CHOWN", "DAC_READ_SEARCH", "SETUID", "SETGID"]


class BuildContainer:
    """A build container: files go in before it starts, its output streams, files come out after."""

    def __init__(self, container):
        self.container = container
        self.timed_out = False

    def put_archive(self, path: str, archive: Path) -> None:
        """Unpacks the tar file `archive` at `path` inside the container, streamed from the file (never read whole)."""
        with open(archive, "rb") as reader:
            self.container.put_archive(path, reader)

    def run(self, on_output: Callable[[str], None], timeout: float) -> int:
        """Starts the container, passes its output on as it comes, and returns its exit status.

        A container still running after `timeout` seconds is killed, and `timed_out` is set.
        """
        watchdog = threading.Timer(timeout, self._kill)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span two chunks
        self.container.start()
        watchdog.start()
        try:
            for chunk in self.container.logs(stream=True, follow=True):
                on_output(decoder.decode(chunk))
            on_output(decoder.decode(b"", final=True))
            return self.container.wait()["StatusCode"]
        finally:
            watchdog.cancel()

    def _kill(self) -> None:
        self.timed_out = True
        with contextlib.suppress(APIError):
            self.container.kill()

    def get_archive(self, path: str, target: Path, *, max_bytes: int) -> bool:
        """Writes a tar of `path` inside the container to `target`, streamed; True once it is all there.

        A tar larger than `max_bytes` is abandoned as soon as it passes the limit: `target` is removed, and the
        answer is False.
        """
        stream, _ = self.container.get_archive(path)
        size = 0
        try:
            with open(target, "wb") as writer:
                for chunk in stream:
                    size += len(chunk)
                    if size > max_bytes:
                        break
                    writer.write(chunk)
        finally:
            stream.close()
            if size > max_bytes:
                target.unlink(missing_ok=True)
        return size <= max_bytes

    def commit(self, repository: str, tag: str, conf: dict) -> str:
        """Saves the container's file system as an image; returns the image id."""
        return self.container.commit(repository=repository, tag=tag, conf=conf).id


class DockerBuildEngine:
    """The Docker operations of a build: stack image import, build containers, runtime images."""

    def __init__(self, docker_url: str, instance: str, confinement: Confinement | None = None):
        self.client = docker.DockerClient(base_url=docker_url, timeout=600)
        self.instance = instance
        self.confinement = confinement or Confinement.for_builds()

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

    def image_build(self, context_tar: Path, tag: str, labels: dict, on_output: Callable[[str], None]) -> str:
        """Builds a Dockerfile (in the tarred context) into `tag`, streaming its output; returns the image id.
        Raises ImageBuildError with the engine's message when a step fails. Nothing is pulled: no registry."""
        memory = parse_bytes(self.confinement.memory) if self.confinement.memory else None
        limits = {"memory": memory, "memswap": memory} if memory else {}
        with open(context_tar, "rb") as context:
            stream = self.client.api.build(
                fileobj=context,
                custom_context=True,
                tag=tag,
                labels={**labels, LABEL_INSTANCE: self.instance},
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                container_limits=limits,
            )
            for chunk in stream:
                if "stream" in chunk:
                    on_output(chunk["stream"])
                if "error" in chunk:
                    raise ImageBuildError(str(chunk["error"]).strip())
        return self.client.images.get(tag).id

    def image_load(self, archive: Path) -> list[str]:
        """Loads a `docker save` archive; returns the references (or ids) of the images it held."""
        with open(archive, "rb") as data:
            images = self.client.images.load(data)
        return [image.tags[0] if image.tags else image.id for image in images]

    def image_tag(self, reference: str, repository: str, tag: str) -> None:
        """Gives an image one more name."""
        self.client.images.get(reference).tag(repository, tag)

    def image_config(self, reference: str) -> dict:
        """An image's configuration (Cmd, Entrypoint, ExposedPorts, ...)."""
        return self.client.images.get(reference).attrs.get("Config") or {}

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

    def volumes(self, prefix: str) -> list[str]:
        """The names of the volumes whose name starts with `prefix` (build caches: paas-cache-INSTANCE-)."""
        listed = self.client.volumes.list(filters={"name": prefix})
        return sorted(volume.name for volume in listed if volume.name.startswith(prefix))

    def build_containers_remove_stale(self, older_than: float) -> int:
        """Removes this platform's build containers created more than `older_than` seconds ago (a build removes
        its own as it ends: these were left behind); returns how many."""
        summaries = self.client.api.containers(
            all=True, filters={"label": [LABEL_BUILD, f"{LABEL_INSTANCE}={self.instance}"]}
        )
        deadline = time.time() - older_than
        stale = [
            summary["Id"]
            for summary in summaries
            if LABEL_JOB not in (summary.get("Labels") or {}) and summary.get("Created", deadline) < deadline
        ]
        for container_id in stale:
            with contextlib.suppress(NotFound, APIError):
                self.client.api.remove_container(container_id, force=True)
        return len(stale)

    @contextlib.contextmanager
    def container(
        self, image: str, *, command: list[str], env: dict, binds: dict, build_id: int, handover: tuple[str, ...] = ()
    ) -> Iterator[BuildContainer]:
        """A created (not yet started) build container, removed on exit.

        It is confined as jobs are (the app user, no capabilities, limits) on this platform's network. Paths in
        `handover`, which hold files put in as root, are first given to the app user: the container then starts
        as root with only the capabilities to change their owner and to switch users, and `command` runs as the
        app user with none.
        """
        options = self.confinement.options(self.client)
        if handover:
            options.update(user="0:0", cap_add=HANDOVER_CAPABILITIES)
            command = _handed_over(command, handover)
        container = self.client.containers.create(
            image,
            command=command,
            environment=env,
            volumes=binds,
            labels={LABEL_BUILD: str(build_id), LABEL_INSTANCE: self.instance},
            working_dir="/app",
            network=instance_network(self.client, self.instance),
            **options,
        )
        try:
            yield BuildContainer(container)
        finally:
            with contextlib.suppress(NotFound, APIError):  # it may be gone already (platform stopping)
                container.remove(force=True)


def _handed_over(command: list[str], paths: tuple[str, ...]) -> list[str]:
    """`command`, run as the app user once `paths` are the app user's (links are changed, never followed).

    setpriv leaves the app user no capabilities; no-new-privileges keeps it from gaining any back.
    """
    script = (
        f"chown -R -h {APP_USER} {shlex.join(paths)} && "
        f'exec setpriv --reuid={APP_UID} --regid={APP_GID} --clear-groups -- "$@"'
    )
    return ["/bin/sh", "-c", script, "handover", *command]


def tar_of_directory(source: Path, prefix: str, target: Path, *, executable: bool = False) -> Path:
    """Writes a tar of the files under `source` to the file `target`, and returns `target`.

    The files go under `prefix`, owned by root and readable by all, whatever this process's umask: directories
    0755, files 0644 (0755 if `executable`).
    """

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if info.isdir() or (executable and info.isfile()):
            info.mode = 0o755
        elif info.isfile():
            info.mode = 0o644
        return info

    with tarfile.open(target, mode="w") as tar:
        tar.add(source, arcname=prefix, filter=owned_by_root)
    return target


class ImageBuildError(Exception):
    """A Dockerfile build failed; the message is the engine's."""


class MemoryBuildEngine:
    """The build engine's in-memory twin, for unit tests: it remembers what it was asked to remove."""

    volumes_removed: list[str] = []
    images: dict[str, dict] = {}  # reference -> its Config, for image deploys in unit tests

    def image_id(self, reference: str) -> str | None:
        return f"sha256:{abs(hash(reference)):x}" if reference in self.images else None

    def image_tag(self, reference: str, repository: str, tag: str) -> None:
        self.images[f"{repository}:{tag}"] = self.images[reference]

    def image_config(self, reference: str) -> dict:
        return self.images[reference]

    def image_load(self, archive: Path) -> list[str]:
        """The images a `docker save` archive names in its manifest (tests load only images they added)."""
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        return [tag for entry in manifest for tag in entry.get("RepoTags") or []]

    def volume_remove(self, name: str) -> None:
        self.volumes_removed.append(name)
        self.cache_volumes.discard(name)

    # For the collection (artifacts.collect) and rollbacks that make an image again from its slug: the volumes
    # and build containers (name -> when created) tests pretend the engine has, and the commits it made.
    cache_volumes: set[str] = set()
    build_containers: dict[str, float] = {}
    commits: list[tuple[str, list[tuple[str, bytes]]]] = []  # (reference, [(path, archive bytes)])

    @classmethod
    def collection_reset(cls) -> None:
        cls.volumes_removed.clear()
        cls.cache_volumes.clear()
        cls.build_containers.clear()
        cls.commits.clear()

    def volumes(self, prefix: str) -> list[str]:
        return sorted(name for name in self.cache_volumes if name.startswith(prefix))

    def build_containers_remove_stale(self, older_than: float) -> int:
        deadline = time.time() - older_than
        stale = [name for name, created in self.build_containers.items() if created < deadline]
        for name in stale:
            del self.build_containers[name]
        return len(stale)

    @contextlib.contextmanager
    def container(self, image: str, **options) -> Iterator["MemoryBuildContainer"]:
        yield MemoryBuildContainer(self, image)

    def build_containers_remove(self) -> int:
        return 0


class MemoryBuildContainer:
    """A container of the in-memory build engine: it keeps the archives put in, and commits them as an image."""

    def __init__(self, engine: MemoryBuildEngine, image: str):
        self.engine = engine
        self.image = image
        self.archives: list[tuple[str, bytes]] = []

    def put_archive(self, path: str, archive: Path) -> None:
        self.archives.append((path, Path(archive).read_bytes()))

    def commit(self, repository: str, tag: str, conf: dict) -> str:
        reference = f"{repository}:{tag}"
        self.engine.images[reference] = conf
        self.engine.commits.append((reference, self.archives))
        return self.engine.image_id(reference)


def build_engine():
    """The engine builds run on: the Docker engine of DOCKER_HOST, or the in-memory twin in unit tests."""
    from django.conf import settings

    if settings.PAAS_HOST_DRIVER == "memory":
        return MemoryBuildEngine()
    return DockerBuildEngine(settings.DOCKER_HOST, settings.PAAS_INSTANCE)
