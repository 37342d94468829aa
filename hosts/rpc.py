"""Calls to a host's agent: the host driver interface carried over Celery (the request) and Redis (the reply).

A call is a Celery message on the host's own queue, `host.NAME`, naming a driver method and its arguments; the
agent (`paas agent`) runs it against its engine and pushes the outcome onto a Redis list only this call waits on.
A call is marked wanted in Redis for as long as it is waited for, so an agent that comes back never runs what
nobody waits for any more. Values
cross as JSON: the driver's dataclasses are tagged with their type.
"""

import dataclasses
import json
import secrets

from django.conf import settings

from hosts.drivers import (
    CheckResult,
    HealthCheck,
    ImageSource,
    JobContainer,
    JobSpec,
    ServiceSpec,
    ServiceStatus,
    VolumeMount,
    VolumeStatus,
)

HOST_CALL_TASK = "hosts.host_call"
TRANSFER_TIMEOUT = 3600.0  # seconds a backup or a restore of an add-on may take on its host
CALL_TIMEOUT = 30.0  # seconds a call waits for its agent; an image being made from a slug takes the longest
LIST_TIMEOUT = 5.0  # seconds a pass waits for a host's list of containers: a host that is away holds no pass up long
REPLY_TTL = 120  # seconds a reply nobody took stays in Redis
_TYPES = {
    kind.__name__: kind
    for kind in (JobSpec, JobContainer, HealthCheck, CheckResult, ImageSource, VolumeMount)
    + (ServiceSpec, ServiceStatus, VolumeStatus)
}
# What a controller may ask of an agent: the driver's request-and-reply methods (logs are collected by the agent).
CALLABLE = frozenset(
    {
        "job_start",
        "job_start_attached",
        "job_resize",
        "job_wait",
        "job_containers",
        "job_healthy",
        "job_check",
        "job_signal",
        "job_remove",
        "image_present",
        "image_remove",
        "app_images",
        "host_capacity",
        "app_networks",
        "app_network_remove",
        "volumes",
        "volume_remove",
        "service_start",
        "services",
        "service_remove",
        "service_exec",
        "service_file_send",
        "service_file_receive",
    }
)


class HostCallError(RuntimeError):
    """A call the agent did not answer in time, or answered with an error."""


def host_queue(name: str) -> str:
    """The Celery queue a host's agent consumes."""
    return f"host.{name}"


def encode(value):
    """A JSON-ready form of a driver argument or result."""
    if dataclasses.is_dataclass(value):
        fields = {field.name: encode(getattr(value, field.name)) for field in dataclasses.fields(value)}
        return {"__type__": type(value).__name__, **fields}
    if isinstance(value, dict):
        return {"__items__": [[encode(key), encode(item)] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    return value


def decode(value):
    """The driver value `encode` made JSON of; a dataclass's list fields come back as tuples."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "__items__" in value:
        return {decode(key): decode(item) for key, item in value["__items__"]}
    fields = {name: decode(item) for name, item in value.items() if name != "__type__"}
    fields = {name: tuple(item) if isinstance(item, list) else item for name, item in fields.items()}
    return _TYPES[value["__type__"]](**fields)


_clients: dict[bool, object] = {}


def redis_client(*, blocking: bool = False):
    """This process's client of the cluster's Redis (its Celery broker), shared by its threads. Its connections time
    out: a Redis that stops answering fails a call, never hangs it; `blocking` for waits (BLPOP) that outlast a
    command's usual timeout."""
    import redis

    if blocking not in _clients:
        _clients[blocking] = redis.Redis.from_url(
            settings.CELERY_BROKER_URL,
            socket_connect_timeout=5,
            socket_timeout=None if blocking else 10,
            socket_keepalive=True,
            health_check_interval=30,
        )
    return _clients[blocking]


def host_call(host_name: str, method: str, *args, timeout: float = CALL_TIMEOUT):
    """Runs a driver method on a host's agent and returns its result; raises HostCallError."""
    from paas.celery import app

    reply_to = f"paas:reply:{secrets.token_hex(12)}"
    # The call is wanted for as long as it is waited for, by Redis's clock: an agent that takes it later skips it.
    redis_client().set(f"{reply_to}:wanted", 1, ex=max(1, round(timeout)))
    app.send_task(HOST_CALL_TASK, args=[method, encode(list(args)), reply_to], queue=host_queue(host_name))
    popped = redis_client(blocking=True).blpop([reply_to], timeout=max(1, round(timeout)))
    if popped is None:
        raise HostCallError(f"the agent of host {host_name} did not answer {method} within {timeout:.0f}s")
    reply = json.loads(popped[1])
    if "error" in reply:
        raise HostCallError(f"host {host_name}: {method}: {reply['error']}")
    return decode(reply["value"])


def host_call_wanted(reply_to: str) -> bool:
    """The agent's side: whether the controller still waits for this call (one it gave up on is not run)."""
    return bool(redis_client().exists(f"{reply_to}:wanted"))


def host_reply(reply_to: str, *, value=None, error: str | None = None) -> None:
    """The agent's side: hands a call's outcome to the controller waiting on `reply_to`."""
    reply = {"error": error} if error is not None else {"value": encode(value)}
    pipeline = redis_client().pipeline()
    pipeline.rpush(reply_to, json.dumps(reply))
    pipeline.expire(reply_to, REPLY_TTL)
    pipeline.execute()


class AgentHostDriver:
    """The host driver of a host run by an agent: each call goes to the agent's queue. The agent follows its jobs'
    logs itself (hosts.agent), so this driver streams nothing."""

    remote = True

    def __init__(self, host):
        self.host_name = host.name

    def _call(self, method: str, *args, timeout: float = CALL_TIMEOUT):
        return host_call(self.host_name, method, *args, timeout=timeout)

    def job_start(self, spec: JobSpec) -> JobContainer:
        return self._call("job_start", spec, timeout=CALL_TIMEOUT * 10)  # it may make the image first

    def job_start_attached(self, spec: JobSpec):
        """Starts a one-off job whose session the agent carries over Redis (hosts.sessions)."""
        from hosts.sessions import RemoteSession, session_key

        key = session_key()
        container = self._call("job_start_attached", spec, key, timeout=CALL_TIMEOUT * 10)
        return container, RemoteSession(key)

    def job_resize(self, container_id: str, rows: int, columns: int) -> None:
        self._call("job_resize", container_id, rows, columns)

    def job_wait(self, container_id: str, timeout: float) -> int | None:
        return self._call("job_wait", container_id, timeout, timeout=timeout + CALL_TIMEOUT)

    def job_containers(self) -> dict[int, JobContainer]:
        return self._call("job_containers", timeout=LIST_TIMEOUT)

    def job_healthy(self, container: JobContainer) -> bool:
        return self._call("job_healthy", container)

    def job_check(self, container: JobContainer, check: HealthCheck | None) -> CheckResult:
        return self._call("job_check", container, check)

    def job_signal(self, container_id: str, signal: str) -> None:
        self._call("job_signal", container_id, signal)

    def job_remove(self, container_id: str) -> None:
        self._call("job_remove", container_id)

    def job_logs(self, container_id: str, since: float | None = None):
        raise HostCallError(f"host {self.host_name} is run by an agent, which collects its jobs' logs itself")

    def image_present(self, image: str) -> bool:
        return self._call("image_present", image)

    def image_remove(self, image: str) -> None:
        self._call("image_remove", image)

    def app_images(self) -> list[str]:
        return self._call("app_images")

    def host_capacity(self) -> tuple[int | None, float | None]:
        return tuple(self._call("host_capacity"))

    def app_networks(self) -> list[str]:
        return self._call("app_networks")

    def app_network_remove(self, app: str) -> None:
        self._call("app_network_remove", app)

    def volumes(self, sizes: bool = False) -> list[VolumeStatus]:
        return self._call("volumes", sizes, timeout=CALL_TIMEOUT * 2 if sizes else CALL_TIMEOUT)

    def volume_remove(self, key: int, kind: str) -> bool:
        return self._call("volume_remove", key, kind)

    def service_start(self, spec: ServiceSpec) -> ServiceStatus:
        return self._call("service_start", spec, timeout=CALL_TIMEOUT * 20)  # it may build the add-on image first

    def services(self) -> list[ServiceStatus]:
        return self._call("services", timeout=LIST_TIMEOUT)

    def service_remove(self, key: int) -> None:
        self._call("service_remove", key)

    def service_exec(self, key: int, command: tuple[str, ...], timeout: float = TRANSFER_TIMEOUT) -> tuple[int, str]:
        return tuple(self._call("service_exec", key, command, timeout=timeout))

    def service_file_send(self, key: int, path: str, url: str) -> None:
        self._call("service_file_send", key, path, url, timeout=TRANSFER_TIMEOUT)

    def service_file_receive(self, key: int, path: str, url: str, digest: str) -> None:
        self._call("service_file_receive", key, path, url, digest, timeout=TRANSFER_TIMEOUT)
