"""An in-memory host driver, for unit tests and scale simulations only."""

import hashlib
import itertools
import queue
import tempfile
import threading
import time
from pathlib import Path

from hosts.drivers import (
    CheckResult,
    HealthCheck,
    JobContainer,
    JobSpec,
    ServiceSpec,
    ServiceStatus,
    VolumeStatus,
    job_internal_names,
)


class MemorySession:
    """A fake terminal on a fake one-off job: tests feed its output; what is typed is kept in `typed`."""

    def __init__(self):
        self.output: queue.Queue = queue.Queue()
        self.typed = b""
        self.input_closed = False
        self.closed = False

    def read(self) -> tuple[str, bytes] | None:
        if self.closed:
            return None
        item = self.output.get()
        if item is None:
            self.output.put(None)  # it stays ended for later reads
        return item

    def write(self, data: bytes) -> None:
        self.typed += data

    def close_input(self) -> None:
        self.input_closed = True

    def close(self) -> None:
        self.closed = True
        self.output.put(None)


class MemoryHostDriver:
    """Fake containers kept in a dict; tests crash them, or make them unhealthy, by hand."""

    _hosts: dict[str, "MemoryHostDriver"] = {}
    _lock = threading.Lock()
    runs_end_at_once = False  # a test that starts runs it never feeds (the API's schema test) has them end at once

    def __init__(self, name: str):
        self.name = name
        self.memory: int | None = None  # what host_capacity reports, as a test sets it
        self.cpus: float | None = None
        self.containers: dict[str, JobContainer] = {}
        self.specs: dict[str, JobSpec] = {}
        self.unhealthy: set[str] = set()
        self.unhealthy_releases: set[str] = set()  # containers of these releases (v2) start unhealthy
        self.signals: list[tuple[str, str]] = []
        self.failing: set[str] = set()
        self.images_gone: set[str] = set()
        self.images: set[str] = set()  # images it has besides those of its containers (app_images)
        self._ids = itertools.count(1)
        self._ports = itertools.count(40000)
        self.logs: dict[str, list[tuple[float, str, str]]] = {}  # container id -> what it wrote
        self.sessions: dict[str, MemorySession] = {}  # container id -> the terminal of a one-off run
        self.sizes: dict[str, tuple[int, int]] = {}  # container id -> its terminal's rows and columns
        self.volume_set: set[tuple[int, str, str, str]] = set()  # (id, app, name, kind) of the volumes it has
        self.service_specs: dict[int, ServiceSpec] = {}  # add-on id -> its running service
        self.service_ids: dict[int, str] = {}
        self.execs: list[tuple[int, tuple]] = []
        self.uploads: list[tuple[int, str, str]] = []  # what service_file_send was asked to send, and where
        self.received: list[tuple[int, str, str]] = []
        self.networks: dict[str, dict[str, list[str]]] = {}  # app -> its network: container id -> its names there
        self.closed = False  # reset: followers of its logs end
        self._log_written = threading.Condition()

    @classmethod
    def for_host(cls, name: str) -> "MemoryHostDriver":
        with cls._lock:
            return cls._hosts.setdefault(name, cls(name))

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            for driver in cls._hosts.values():
                driver.closed = True
                driver._logs_changed()
            cls._hosts.clear()

    def job_start(self, spec: JobSpec) -> JobContainer:
        self._maybe_fail("job_start")
        container_id = f"{self.name}-c{next(self._ids)}"
        port = next(self._ports) if spec.port else None
        container = JobContainer(spec.job_id, container_id, running=True, host_port=port)
        self.containers[container_id] = container
        self.specs[container_id] = spec
        self.volume_set.update((mount.key, spec.app, mount.name, "volume") for mount in spec.volumes)
        self.networks.setdefault(spec.app, {})[container_id] = job_internal_names(spec)
        for target in spec.links:
            self.networks.setdefault(target, {})[container_id] = ()
        if spec.env.get("PAAS_RELEASE") in self.unhealthy_releases:
            self.unhealthy.add(container_id)
        return container

    def job_start_attached(self, spec: JobSpec) -> tuple[JobContainer, MemorySession]:
        container = self.job_start(spec)
        session = self.sessions[container.container_id] = MemorySession()
        if MemoryHostDriver.runs_end_at_once:
            self.exit(container.container_id, 0)
        return container, session

    def job_resize(self, container_id: str, rows: int, columns: int) -> None:
        self.sizes[container_id] = (rows, columns)

    def job_wait(self, container_id: str, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        with self._log_written:
            while True:
                container = self.containers.get(container_id)
                if container is None or not container.running:
                    return container.exit_code if container else None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{container_id} still runs")
                self._log_written.wait(0.1)

    def session_feed(self, container_id: str, text: str, stream: str = "stdout") -> None:
        """Makes a fake one-off job print to the terminal attached to it."""
        self.sessions[container_id].output.put((stream, text.encode()))

    def job_containers(self) -> dict[int, JobContainer]:
        self._maybe_fail("job_containers")
        return {container.job_id: container for container in self.containers.values()}

    def job_healthy(self, container: JobContainer) -> bool:
        return container.running and container.container_id not in self.unhealthy

    def job_check(self, container: JobContainer, check: HealthCheck | None) -> CheckResult:
        """TCP without a check; with one, an unhealthy container answers HTTP 500."""
        if check is None:
            healthy = self.job_healthy(container)
            return CheckResult(healthy, "port open" if healthy else "connection refused")
        if not container.running:
            return CheckResult(False, "connection refused")
        if container.container_id in self.unhealthy:
            return CheckResult(False, "HTTP 500", answered=True)
        return CheckResult(True, "200 OK in 1 ms", answered=True)

    def job_signal(self, container_id: str, signal: str) -> None:
        self._maybe_fail("job_signal")
        self.signals.append((container_id, signal))
        if container_id in self.containers:
            self.exit(container_id, 0 if signal == "SIGTERM" else 137)

    def job_remove(self, container_id: str) -> None:
        self._maybe_fail("job_remove")
        self.containers.pop(container_id, None)
        self.logs.pop(container_id, None)  # as Docker's go with the container
        for network in self.networks.values():
            network.pop(container_id, None)
        self._logs_changed()

    def job_logs(self, container_id: str, since: float | None = None):
        """The lines fed to the container (after `since`), then those fed later, until it stops or is removed."""
        self._maybe_fail("job_logs")
        sent = 0
        while True:
            with self._log_written:
                lines = self.logs.get(container_id, [])[sent:]
                sent += len(lines)
                container = self.containers.get(container_id)
                ended = self.closed or container is None or not container.running
                if not lines and not ended:
                    self._log_written.wait(1)
                    continue
            yield from (line for line in lines if since is None or line[0] > since)
            if ended and not lines:
                return

    def _logs_changed(self) -> None:
        """Wakes the followers of this host's logs: a line came, or a container ended."""
        with self._log_written:
            self._log_written.notify_all()

    def log_feed(self, container_id: str, text: str, stream: str = "stdout", at: float | None = None) -> None:
        """Makes a fake container write a line, as its process would."""
        with self._log_written:
            self.logs.setdefault(container_id, []).append((time.time() if at is None else at, stream, text))
            self._log_written.notify_all()

    def image_present(self, image: str) -> bool:
        self._maybe_fail("image_present")
        return image not in self.images_gone

    def image_remove(self, image: str) -> None:
        self._maybe_fail("image_remove")
        self.images_gone.add(image)

    def app_images(self) -> list[str]:
        """The platform's app images among those tests gave it and those its containers ran, less those removed."""
        from django.conf import settings

        self._maybe_fail("app_images")
        had = self.images | {spec.image for spec in self.specs.values()}
        mine = f"{settings.PAAS_INSTANCE}-"
        return sorted(
            image
            for image in had - self.images_gone
            if image.startswith("paas-app/") and image.rpartition(":")[2].startswith(mine)
        )

    def app_networks(self) -> list[str]:
        self._maybe_fail("app_networks")
        return sorted(self.networks)

    def host_capacity(self) -> tuple[int | None, float | None]:
        self._maybe_fail("host_capacity")
        return self.memory, self.cpus

    def app_network_remove(self, app: str) -> None:
        """As Docker does, refuses while a container is still on it."""
        self._maybe_fail("app_network_remove")
        if self.networks.get(app):
            raise RuntimeError(f"{self.name}: the network of {app} has active endpoints")
        self.networks.pop(app, None)

    def volumes(self, sizes: bool = False) -> list[VolumeStatus]:
        self._maybe_fail("volumes")
        return [VolumeStatus(*entry, 0 if sizes else None) for entry in sorted(self.volume_set)]

    def volume_remove(self, key: int, kind: str) -> bool:
        in_use = key in self.service_specs if kind == "addon" else self._volume_in_use(key)
        if not in_use:
            self.volume_set = {entry for entry in self.volume_set if (entry[0], entry[3]) != (key, kind)}
        return not in_use

    def _volume_in_use(self, key: int) -> bool:
        return any(
            any(mount.key == key for mount in spec.volumes)
            for container_id, spec in self.specs.items()
            if container_id in self.containers
        )

    def service_start(self, spec: ServiceSpec) -> ServiceStatus:
        self._maybe_fail("service_start")
        container_id = f"addon-{next(self._ids)}"
        self.service_specs[spec.key] = spec
        self.volume_set.add((spec.key, spec.app, spec.name, "addon"))
        self.networks.setdefault(spec.app, {})[container_id] = list(spec.aliases)
        self.service_ids[spec.key] = container_id
        return ServiceStatus(spec.key, spec.app, spec.name, container_id, "running")

    def services(self) -> list[ServiceStatus]:
        self._maybe_fail("services")
        return [
            ServiceStatus(key, spec.app, spec.name, self.service_ids[key], "running")
            for key, spec in self.service_specs.items()
        ]

    def service_remove(self, key: int) -> None:
        spec = self.service_specs.pop(key, None)
        container_id = self.service_ids.pop(key, None)
        if spec is not None:
            self.networks.get(spec.app, {}).pop(container_id, None)
        self.volume_set = {entry for entry in self.volume_set if (entry[0], entry[3]) != (key, "addon")}

    def service_exec(self, key: int, command: tuple[str, ...], timeout: float | None = None) -> tuple[int, str]:
        self._maybe_fail("service_exec")
        self.execs.append((key, tuple(command)))
        return 0, ""

    def service_file_send(self, key: int, path: str, url: str) -> None:
        """Stores a made-up dump under the upload URL's token, as the controller does with what a host sends."""
        from artifacts.blobstore import blob_put_file, upload_record

        self._maybe_fail("service_file_send")
        self.uploads.append((key, path, url))
        dump = Path(tempfile.mkdtemp()) / "dump"
        dump.write_bytes(b"dump " + hashlib.sha256(f"{key}:{len(self.uploads)}".encode()).hexdigest().encode())
        upload_record(url.split("/uploads/")[1].split("?")[0], *blob_put_file(dump))

    def service_file_receive(self, key: int, path: str, url: str, digest: str) -> None:
        self._maybe_fail("service_file_receive")
        self.received.append((key, path, digest))

    def resolve(self, container_id: str, name: str) -> list[str]:
        """The containers a job's container finds under `name` (`web.APP.internal`): those with that name on a
        network it is on (its app's, and those of the apps it is linked to)."""
        joined = [network for network in self.networks.values() if container_id in network]
        return sorted({other for network in joined for other, names in network.items() if name in names})

    def _maybe_fail(self, method: str) -> None:
        if method in self.failing:
            raise ConnectionError(f"{self.name}: {method} failed (simulated)")

    def exit(self, container_id: str, exit_code: int, *, oom_killed: bool = False) -> None:
        """Makes a fake container stop, as a crashed or stopped process would (or one the kernel killed for
        memory)."""
        old = self.containers[container_id]
        self.containers[container_id] = JobContainer(
            old.job_id, container_id, False, exit_code, old.host_port, oom_killed=oom_killed
        )
        if container_id in self.sessions:
            self.sessions[container_id].output.put(None)
        self._logs_changed()
