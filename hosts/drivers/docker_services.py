"""The Docker host driver's volumes and add-ons (backing services): named volumes that outlive containers, and
platform-managed service containers on their app's network only.

Names on the engine derive from ids the controller gives (a volume's, an add-on's), never from app and add-on names,
which could run together into one another's: an app's volume is `paas-INSTANCE-vol-ID`; an add-on's container and
its data volume are both `paas-INSTANCE-addon-ID`. Labels say whose they are (app, name, id).
"""

import contextlib
import dataclasses
import io
import logging
import tarfile
import tempfile
import threading
import urllib.request
from pathlib import Path

from docker.errors import APIError, ImageNotFound, NotFound

from hosts.drivers import JobSpec, ServiceSpec, ServiceStatus, VolumeStatus

log = logging.getLogger("paas.hosts")

LABEL_VOLUME = "paas.volume"  # an app's volume: its name within the app
LABEL_ADDON = "paas.addon"  # an add-on's container and data volume: its name within the app
LABEL_KEY = "paas.key"  # the id of the volume or add-on it is
SERVICE_DATA = "/data"
EXEC_OUTPUT_KEPT = 4000  # characters of an exec's output kept for its caller
TRANSFER_TIMEOUT = 3600  # seconds a file's transfer to or from the controller may take
_image_locks: dict[str, threading.Lock] = {}
_image_locks_guard = threading.Lock()


def volume_name(instance: str, key: int, kind: str) -> str:
    """The engine's name of an app's volume (kind "volume") or of an add-on's data (kind "addon")."""
    return f"paas-{instance}-{'vol' if kind == 'volume' else 'addon'}-{int(key)}"


def service_container_name(instance: str, key: int) -> str:
    return f"paas-{instance}-addon-{int(key)}"


class DockerServices:
    """Volumes and add-ons for DockerHostDriver (which provides client, instance, confinement and app networks)."""

    def _volume_ensure(self, key: int, app: str, name: str, kind: str, image: str) -> str:
        """The volume, made on first use and handed to the app user (a new volume's root is root's). One of that name
        that is not this one (its labels say otherwise) is refused, never used."""
        from hosts.drivers.docker import LABEL_APP, LABEL_INSTANCE

        volume = volume_name(self.instance, key, kind)
        labels = {LABEL_INSTANCE: self.instance, LABEL_APP: app, LABEL_KEY: str(int(key))}
        labels[LABEL_VOLUME if kind == "volume" else LABEL_ADDON] = name
        try:
            found = self.client.api.inspect_volume(volume)
        except NotFound:
            found = None
        if found is not None:
            if (found.get("Labels") or {}) != labels:
                raise RuntimeError(f"the Docker volume {volume} is not the {kind} {name} of {app}; it is left alone")
            return volume
        self.client.volumes.create(volume, labels=labels)
        try:
            self._volume_hand_over(volume, image)
        except Exception:
            with contextlib.suppress(APIError, NotFound):
                self.client.volumes.get(volume).remove()
            raise
        return volume

    def _volume_hand_over(self, volume: str, image: str) -> None:
        """Gives a new volume's root to the app user, from a container that may only change owners."""
        from hosts.drivers.docker import APP_USER

        self.client.containers.run(
            image,
            entrypoint=["chown", APP_USER, "/volume"],
            command=[],
            user="0:0",
            cap_drop=["ALL"],
            cap_add=["CHOWN"],
            security_opt=["no-new-privileges"],
            network_mode="none",
            volumes={volume: {"bind": "/volume", "mode": "rw"}},
            remove=True,
        )

    def job_volume_binds(self, spec: JobSpec) -> dict:
        """docker-py's `volumes` option for a job's app volumes, each made on first use."""
        return {
            self._volume_ensure(mount.key, spec.app, mount.name, "volume", spec.image): {
                "bind": mount.path,
                "mode": "rw,nocopy",
            }
            for mount in spec.volumes
        }

    def volumes(self, sizes: bool = False) -> list[VolumeStatus]:
        """This platform's volumes, from their labels; their sizes from the engine's disk usage when asked."""
        from hosts.drivers.docker import LABEL_APP, LABEL_INSTANCE

        found = {}
        mine = {"label": [f"{LABEL_INSTANCE}={self.instance}", LABEL_KEY]}
        for volume in self.client.api.volumes(filters=mine)["Volumes"] or []:
            labels = volume.get("Labels") or {}
            kind = "volume" if LABEL_VOLUME in labels else "addon" if LABEL_ADDON in labels else None
            if kind and LABEL_APP in labels and labels[LABEL_KEY].isdigit():
                name = labels[LABEL_VOLUME if kind == "volume" else LABEL_ADDON]
                found[volume["Name"]] = (int(labels[LABEL_KEY]), labels[LABEL_APP], name, kind)
        used = self._volume_sizes() if sizes and found else {}
        return [VolumeStatus(*found[volume], used.get(volume)) for volume in sorted(found)]

    def _volume_sizes(self) -> dict[str, int]:
        usage = self.client.df().get("Volumes") or []
        return {volume["Name"]: (volume.get("UsageData") or {}).get("Size") for volume in usage}

    def volume_remove(self, key: int, kind: str) -> bool:
        try:
            self.client.api.remove_volume(volume_name(self.instance, key, kind))
        except NotFound:
            return True
        except APIError as error:
            if error.status_code == 409:  # in use
                return False
            raise
        return True

    def service_start(self, spec: ServiceSpec) -> ServiceStatus:
        """Replaces the add-on's container with a new one of `spec`; its data volume stays."""
        from hosts.drivers.docker import LABEL_APP, LABEL_INSTANCE, app_network

        self._service_image_ensure(spec)
        volume = self._volume_ensure(spec.key, spec.app, spec.name, "addon", spec.image)
        name = service_container_name(self.instance, spec.key)
        self.job_remove(name)
        network = app_network(self.client, self.instance, spec.app)
        container = self.client.containers.create(
            spec.image,
            command=list(spec.command),
            name=name,
            init=True,
            environment=spec.env,
            labels={
                LABEL_INSTANCE: self.instance,
                LABEL_APP: spec.app,
                LABEL_ADDON: spec.name,
                LABEL_KEY: str(spec.key),
            },
            volumes={volume: {"bind": SERVICE_DATA, "mode": "rw,nocopy"}},
            network=network,
            networking_config={network: self.client.api.create_endpoint_config(aliases=list(spec.aliases))},
            restart_policy={"Name": "unless-stopped"},
            **self._service_confinement(spec),
        )
        container.start()
        return ServiceStatus(spec.key, spec.app, spec.name, container.id, "running")

    def _service_confinement(self, spec: ServiceSpec) -> dict:
        confinement = dataclasses.replace(self.confinement, memory=spec.memory or self.confinement.memory)
        return confinement.options(self.client, self._cpus())

    def _service_image_ensure(self, spec: ServiceSpec) -> None:
        """Builds the add-on image from its recipe on `base` (the stack) where the engine lacks it, once at a time."""
        with _image_locks_guard:
            lock = _image_locks.setdefault(spec.image, threading.Lock())
        with lock:
            if self.image_present(spec.image):
                return
            try:
                self.client.images.get(spec.base)
            except ImageNotFound:
                self._stack_make(spec.base)
            context = _build_context(spec.recipe)
            repository, _, tag = spec.image.rpartition(":")
            log.info("building the add-on image %s", spec.image)
            self.client.images.build(
                fileobj=context,
                custom_context=True,
                tag=spec.image,
                buildargs={"BASE": spec.base},
                rm=True,
                forcerm=True,
                labels={"paas.addon-image": repository},
            )

    def _stack_make(self, base: str) -> None:
        """Builds the stack image on this host's engine (a host that has not run a buildpack app yet)."""
        from buildpacks.stack import stack_ensure, stack_image
        from hosts.engine import DockerBuildEngine

        if base != stack_image():
            raise RuntimeError(f"this host lacks the image {base} that add-ons are made from")
        stack_ensure(DockerBuildEngine(self.docker_url, self.instance), lambda text: log.info("%s", text.rstrip()))

    def services(self) -> list[ServiceStatus]:
        from hosts.drivers.docker import LABEL_APP, LABEL_INSTANCE

        labels = [f"{LABEL_INSTANCE}={self.instance}", LABEL_ADDON, LABEL_KEY]
        found = []
        for summary in self.client.api.containers(all=True, filters={"label": labels}):
            labels_of = summary["Labels"]
            if labels_of[LABEL_KEY].isdigit():
                key, app, name = int(labels_of[LABEL_KEY]), labels_of[LABEL_APP], labels_of[LABEL_ADDON]
                found.append(ServiceStatus(key, app, name, summary["Id"], summary["State"]))
        return found

    def service_remove(self, key: int) -> None:
        self.job_remove(service_container_name(self.instance, key))
        self.volume_remove(key, "addon")

    def service_exec(self, key: int, command: tuple[str, ...], timeout: float | None = None) -> tuple[int, str]:
        """Runs the command to its end (`timeout` bounds only a remote caller's wait)."""
        from hosts.drivers.docker import APP_USER

        container = service_container_name(self.instance, key)
        started = self.client.api.exec_create(container, list(command), user=APP_USER)
        output = self.client.api.exec_start(started["Id"]).decode("utf-8", "replace")
        exit_code = self.client.api.exec_inspect(started["Id"])["ExitCode"]
        return exit_code, output[-EXEC_OUTPUT_KEPT:]

    def service_file_send(self, key: int, path: str, url: str) -> None:
        """Streams the file out of the container (the engine sends a tar of it) and PUTs its bytes to `url`."""
        container = service_container_name(self.instance, key)
        chunks, _stat = self.client.api.get_archive(container, path)
        with tempfile.TemporaryFile() as archive:
            for chunk in chunks:
                archive.write(chunk)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                member = tar.next()
                if member is None or not member.isfile():
                    raise RuntimeError(f"{path} in the add-on's container is not a file")
                reader = tar.extractfile(member)
                request = urllib.request.Request(url, data=reader, method="PUT")
                request.add_header("Content-Length", str(member.size))
                request.add_header("Content-Type", "application/octet-stream")
                with urllib.request.urlopen(request, timeout=TRANSFER_TIMEOUT):  # noqa: S310 - the controller's
                    pass

    def service_file_receive(self, key: int, path: str, url: str, digest: str) -> None:
        """Fetches the blob into a scratch file (checked against its digest; this host's blob store keeps no copy),
        then hands it to the container as one tar member owned by the app user."""
        from artifacts.blobstore import url_fetch_checked
        from hosts.drivers.docker import APP_GID, APP_UID

        with tempfile.TemporaryFile() as fetched, tempfile.TemporaryFile() as archive:
            size = url_fetch_checked(url, digest, fetched, timeout=TRANSFER_TIMEOUT)
            with tarfile.open(fileobj=archive, mode="w") as tar:
                member = tarfile.TarInfo(Path(path).name)
                member.size, member.uid, member.gid, member.mode = size, APP_UID, APP_GID, 0o600
                fetched.seek(0)
                tar.addfile(member, fetched)
            archive.seek(0)
            self.client.api.put_archive(service_container_name(self.instance, key), str(Path(path).parent), archive)


def _build_context(recipe: dict[str, str]) -> io.BytesIO:
    """A Docker build context (a tar) of the recipe's files; scripts are executable."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in sorted(recipe.items()):
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o755 if not name.startswith("Dockerfile") else 0o644
            tar.addfile(member, io.BytesIO(data))
    context.seek(0)
    return context
