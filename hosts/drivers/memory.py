"""An in-memory host driver, for unit tests and scale simulations only."""

import itertools
import threading

from hosts.drivers import JobContainer, JobSpec


class MemoryHostDriver:
    """Fake containers kept in a dict; tests crash them, or make them unhealthy, by hand."""

    _hosts: dict[str, "MemoryHostDriver"] = {}
    _lock = threading.Lock()

    def __init__(self, name: str):
        self.name = name
        self.containers: dict[str, JobContainer] = {}
        self.specs: dict[str, JobSpec] = {}
        self.unhealthy: set[str] = set()
        self.signals: list[tuple[str, str]] = []
        self.failing: set[str] = set()
        self.images_gone: set[str] = set()
        self._ids = itertools.count(1)
        self._ports = itertools.count(40000)

    @classmethod
    def for_host(cls, name: str) -> "MemoryHostDriver":
        with cls._lock:
            return cls._hosts.setdefault(name, cls(name))

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls._hosts.clear()

    def job_start(self, spec: JobSpec) -> JobContainer:
        self._maybe_fail("job_start")
        container_id = f"{self.name}-c{next(self._ids)}"
        port = next(self._ports) if spec.port else None
        container = JobContainer(spec.job_id, container_id, running=True, host_port=port)
        self.containers[container_id] = container
        self.specs[container_id] = spec
        return container

    def job_containers(self) -> dict[int, JobContainer]:
        self._maybe_fail("job_containers")
        return {container.job_id: container for container in self.containers.values()}

    def job_healthy(self, container: JobContainer) -> bool:
        return container.running and container.container_id not in self.unhealthy

    def job_signal(self, container_id: str, signal: str) -> None:
        self._maybe_fail("job_signal")
        self.signals.append((container_id, signal))
        if container_id in self.containers:
            self.exit(container_id, 0 if signal == "SIGTERM" else 137)

    def job_remove(self, container_id: str) -> None:
        self._maybe_fail("job_remove")
        self.containers.pop(container_id, None)

    def image_present(self, image: str) -> bool:
        self._maybe_fail("image_present")
        return image not in self.images_gone

    def image_remove(self, image: str) -> None:
        self._maybe_fail("image_remove")
        self.images_gone.add(image)

    def _maybe_fail(self, method: str) -> None:
        if method in self.failing:
            raise ConnectionError(f"{self.name}: {method} failed (simulated)")

    def exit(self, container_id: str, exit_code: int) -> None:
        """Makes a fake container stop, as a crashed or stopped process would."""
        old = self.containers[container_id]
        self.containers[container_id] = JobContainer(old.job_id, container_id, False, exit_code, old.host_port)
