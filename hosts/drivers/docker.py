"""The Docker host driver: jobs as containers on a real Docker engine.

This module and `hosts.engine` are the only code that talks to Docker.
"""

import calendar
import contextlib
import dataclasses
import http.client
import ipaddress
import logging
import socket
import struct
import time
from dataclasses import dataclass

import docker
from docker.errors import APIError, ImageNotFound, NotFound

from hosts.drivers import CheckResult, HealthCheck, JobContainer, JobSpec, job_internal_names
from hosts.drivers.docker_services import DockerServices

log = logging.getLogger("paas.hosts")

LABEL_INSTANCE = "paas.instance"
LABEL_JOB = "paas.job"
LABEL_APP = "paas.app"
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

    def options(self, client, engine_cpus: int | None = None) -> dict:
        """The options of docker-py's `containers.create` that apply it (CPUs capped at what the engine has)."""
        cpus = min(self.cpus, engine_cpus or client.info()["NCPU"])
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
    name = instance_network_name(instance)
    try:
        network = client.networks.get(name)
    except NotFound:
        network = _network_create(client, name, {LABEL_INSTANCE: instance}, options={ICC_OPTION: "false"})
    if (network.attrs.get("Options") or {}).get(ICC_OPTION) != "false":
        raise RuntimeError(f"the Docker network {name} lets containers reach each other; remove it and paas remakes it")
    return name


def instance_network_name(instance: str) -> str:
    return f"paas-{instance}"


def app_network_name(instance: str, app: str) -> str:
    return f"paas-{instance}-app-{app}"


def app_network(client, instance: str, app: str) -> str:
    """The app's own network, made on first use: its jobs reach one another there by name (inter-container traffic
    is on), and no other app's job is ever connected to it. It is internal (no way out of the host): a job reaches
    the outside world and the router through the instance network, as before."""
    name = app_network_name(instance, app)
    labels = {LABEL_INSTANCE: instance, LABEL_APP: app}
    try:
        network = client.networks.get(name)
    except NotFound:
        network = _app_network_create(client, name, labels)
    if any((network.attrs.get("Labels") or {}).get(key) != value for key, value in labels.items()):
        raise RuntimeError(f"the Docker network {name} is not this platform's network of {app}")
    return name


def _app_network_create(client, name: str, labels: dict):
    """Makes an app's network on a subnet of its own in PAAS_APP_NETWORKS (a /25 each: 126 jobs of the app on a
    host), so that the number of apps is not bounded by Docker's few default address pools."""
    from django.conf import settings

    refused: set[str] = set()
    for attempt in range(5):  # another thread may take the same free subnet first: the next try picks another
        subnet = _free_subnet(client, refused)
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        try:
            return _network_create(client, name, labels, options={ICC_OPTION: "true"}, internal=True, ipam=ipam)
        except APIError as error:
            if "overlap" not in str(error).lower():
                raise
            refused.add(subnet)  # taken by a network the engine does not list yet
            time.sleep(0.05 * (attempt + 1))
    raise RuntimeError(f"could not find a free subnet in PAAS_APP_NETWORKS ({settings.PAAS_APP_NETWORKS})")


def _free_subnet(client, refused: set[str] = frozenset()) -> str:
    """The first /25 of PAAS_APP_NETWORKS that no network of the engine overlaps, and not one it `refused`."""
    from django.conf import settings

    taken = [
        ipaddress.ip_network(config["Subnet"], strict=False)
        for network in client.networks.list()
        for config in ((network.attrs.get("IPAM") or {}).get("Config") or [])
        if config.get("Subnet")
    ]
    for subnet in ipaddress.ip_network(settings.PAAS_APP_NETWORKS).subnets(new_prefix=25):
        overlapped = any(subnet.overlaps(other) for other in taken if other.version == subnet.version)
        if not overlapped and str(subnet) not in refused:
            return str(subnet)
    raise RuntimeError(f"every subnet of PAAS_APP_NETWORKS ({settings.PAAS_APP_NETWORKS}) is taken")


def _network_create(client, name: str, labels: dict, **options):
    try:
        return client.networks.create(name, driver="bridge", labels=labels, check_duplicate=True, **options)
    except APIError as error:
        if error.status_code != 409:  # 409: made by another thread in the meantime
            raise
    return client.networks.get(name)


class DockerHostDriver(DockerServices):
    """Runs each job as one confined container on this platform's network, its port published on the host's
    loopback address (where the router reaches it), and on its app's own network (where the app's other jobs reach
    it as `TYPE.APP.internal`)."""

    def __init__(
        self, docker_url: str, address: str, instance: str, confinement: Confinement | None = None, image_maker=None
    ):
        self.client = docker.DockerClient(base_url=docker_url, timeout=60)
        self.docker_url = docker_url
        # image_maker(spec) makes a job's runtime image from its spec's image source, where the host lacks it (an
        # agent's host, which did not build the release); None: a missing image fails the start.
        self.image_maker = image_maker
        self.address = address
        self.instance = instance
        self.confinement = confinement or Confinement.for_jobs()
        self._engine_cpus: int | None = None  # asked of the engine once
        self._network: str | None = None  # checked once, then reused
        self.local = docker_url.startswith("unix://")  # the engine's container networks are this machine's

    def _confinement(self, spec: JobSpec) -> Confinement:
        """The host's confinement, with the job's own memory and CPU limits where it has them."""
        changes = {"memory": spec.memory, "cpus": spec.cpus}
        return dataclasses.replace(self.confinement, **{key: value for key, value in changes.items() if value})

    def job_start(self, spec: JobSpec) -> JobContainer:
        container = self._container_create(spec)
        container.start()
        container.reload()
        return self._job_container(container)

    def job_start_attached(self, spec: JobSpec) -> tuple[JobContainer, "AttachedSession"]:
        """Creates the container, attaches to it, then starts it: no output is missed, no input lost."""
        container = self._container_create(spec)
        try:
            params = {"stdin": int(spec.stdin), "stdout": 1, "stderr": 1, "stream": 1}
            session = AttachedSession(self.client.api.attach_socket(container.id, params=params), spec.tty)
            container.start()
            container.reload()
        except Exception:
            self.job_remove(container.id)
            raise
        return self._job_container(container), session

    def _container_create(self, spec: JobSpec):
        if spec.image_source and self.image_maker and not self.image_present(spec.image):
            self.image_maker(spec)
        ports = {f"{spec.port}/tcp": (self.address, None)} if spec.port else {}
        self.job_remove(spec.name)  # a leftover container of the same job
        container = self.client.containers.create(
            spec.image,
            command=[spec.command] if spec.command else None,
            entrypoint=["/bin/sh", "-c"] if spec.shell and spec.command else None,
            name=spec.name,
            init=True,
            environment=spec.env,
            ports=ports,
            network=self._job_network(),
            tty=spec.tty,
            stdin_open=spec.stdin,
            volumes=self.job_volume_binds(spec) or None,
            labels={
                LABEL_INSTANCE: self.instance,
                LABEL_JOB: str(spec.job_id),
                LABEL_APP: spec.app,
                "paas.process_type": spec.process_type,
            },
            **self._confinement(spec).options(self.client, self._cpus()),
        )
        self._app_network_join(container.id, spec)
        return container

    def _app_network_join(self, container_id: str, spec: JobSpec) -> None:
        """Connects a job's container, before it starts, to its app's network under its internal names, and to the
        networks of the apps it is linked to (under no name: it reaches them, they do not look it up). A network
        that cannot be made or joined (the engine is out of address pools, a network of that name is not ours) is
        logged, never a reason not to start the job: it still serves through the router."""
        for app, aliases in ((spec.app, job_internal_names(spec)), *((target, None) for target in spec.links)):
            try:
                network = app_network(self.client, self.instance, app)
                self.client.api.connect_container_to_network(container_id, network, aliases=aliases)
            except (APIError, RuntimeError) as error:
                network_of = "its app's" if app == spec.app else f"{app}'s (linked)"
                log.warning("%s starts without %s network: %s", spec.name, network_of, error)

    def job_resize(self, container_id: str, rows: int, columns: int) -> None:
        try:
            self.client.api.resize(container_id, height=rows, width=columns)
        except (NotFound, APIError):
            pass  # it has ended, or has no terminal

    def job_wait(self, container_id: str, timeout: float) -> int | None:
        try:
            return self.client.api.wait(container_id, timeout=timeout)["StatusCode"]
        except NotFound:
            return None

    def _cpus(self) -> int:
        if self._engine_cpus is None:
            self._engine_cpus = self.client.info()["NCPU"]
        return self._engine_cpus

    def _job_network(self) -> str:
        if self._network is None:
            self._network = instance_network(self.client, self.instance)
        return self._network

    def job_containers(self) -> dict[int, JobContainer]:
        """The job containers, from one listing; only those that have ended are inspected (for their exit code
        and whether the kernel killed them for memory), so a pass costs one call however many jobs run."""
        labels = [f"{LABEL_INSTANCE}={self.instance}", LABEL_JOB]  # job containers only, not builds
        found = {}
        for summary in self.client.api.containers(all=True, filters={"label": labels}):
            if summary.get("State") == "running":
                job = JobContainer(
                    job_id=int(summary["Labels"][LABEL_JOB]),
                    container_id=summary["Id"],
                    running=True,
                    host_port=_listed_port(summary),
                    private_address=_listed_private_address(summary, self.instance),
                )
            else:
                try:
                    job = self._job_container(self.client.containers.get(summary["Id"]))
                except NotFound:
                    continue  # removed meanwhile
            found[job.job_id] = job
        return found

    def job_healthy(self, container: JobContainer) -> bool:
        """Whether the job's web process serves. On an engine of this machine, at the job's own address
        (`_answers_directly`). Elsewhere, or when that address cannot be reached from here, through the published
        port: Docker's port proxy accepts a connection whatever the container does, then closes it at once when
        nothing listens there, so a connection held open is a process listening."""
        if not container.running or not container.host_port:
            return False
        if self.local and container.private_address:
            answered = _answers_directly(container.private_address)
            if answered is not None:
                return answered
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

    def job_check(self, container: JobContainer, check: HealthCheck | None) -> CheckResult:
        """Without a check, whether the port takes connections; with one, an HTTP GET of its path from the host
        side, passing on 2xx or 3xx within its timeout."""
        if check is None:
            healthy = self.job_healthy(container)
            return CheckResult(healthy, "port open" if healthy else "connection refused")
        if not container.running or not container.host_port:
            return CheckResult(False, "not running")
        return http_check(self.address, container.host_port, check)

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
            self.client.api.remove_container(container_id, force=True, v=True)  # with its anonymous volumes
        except NotFound:
            pass

    def job_logs(self, container_id: str, since: float | None = None):
        """The container's output lines, stdout and stderr told apart, from Docker's log (after `since`), following
        it until the container ends; nothing when the container is gone."""
        api = self.client.api
        params = {"stdout": 1, "stderr": 1, "follow": 1, "timestamps": 1, "tail": "all"}
        if since:
            params["since"] = f"{since:.9f}"
        response = api._get(api._url("/containers/{0}/logs", container_id), params=params, stream=True)
        try:
            api._raise_for_status(response)
        except NotFound:
            return
        api._disable_socket_timeout(api._get_raw_response_socket(response))
        with response:
            for stream, payload in _log_frames(response.raw):
                for line in payload.decode("utf-8", "replace").splitlines():
                    at, text = _log_line(line)
                    if since is None or at > since:
                        yield at, stream, text

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

    def app_images(self) -> list[str]:
        """The references of this platform's app runtime images on the host (`paas-app/APP:INSTANCE-...`)."""
        mine = f"{self.instance}-"
        tags = [tag for image in self.client.images.list(name="paas-app/*") for tag in image.tags]
        return sorted(tag for tag in tags if tag.startswith("paas-app/") and tag.rpartition(":")[2].startswith(mine))

    def host_capacity(self) -> tuple[int | None, float | None]:
        info = self.client.info()
        return info.get("MemTotal") or None, float(info["NCPU"]) if info.get("NCPU") else None

    def app_networks(self) -> list[str]:
        """The apps that have a network of their own on the host, from the networks' labels."""
        networks = self.client.networks.list(filters={"label": [f"{LABEL_INSTANCE}={self.instance}", LABEL_APP]})
        return sorted({network.attrs["Labels"][LABEL_APP] for network in networks})

    def app_network_remove(self, app: str) -> None:
        """Removes the app's network. One that a container is still on is kept (Docker refuses): the collection
        tries again once the app's containers are gone, unless an app of that name exists again by then."""
        try:
            network = self.client.networks.get(app_network_name(self.instance, app))
        except NotFound:
            return
        if (network.attrs.get("Labels") or {}).get(LABEL_INSTANCE) != self.instance:
            return  # not ours
        for container_id in self._linked_containers(network, app):
            with contextlib.suppress(NotFound, APIError):
                network.disconnect(container_id, force=True)  # a linked app's job: the app it reached is gone
        with contextlib.suppress(NotFound):
            network.remove()

    def _linked_containers(self, network, app: str) -> list[str]:
        """The containers on `app`'s network that are another app's jobs (linked to it), by their labels."""
        linked = []
        for container_id in (network.attrs.get("Containers") or {}).keys():
            with contextlib.suppress(NotFound):
                if self.client.containers.get(container_id).labels.get(LABEL_APP) != app:
                    linked.append(container_id)
        return linked

    def _job_container(self, container) -> JobContainer:
        state = container.attrs.get("State", {})
        running = state.get("Running", False)
        return JobContainer(
            job_id=int(container.labels[LABEL_JOB]),
            container_id=container.id,
            running=running,
            exit_code=None if running else state.get("ExitCode"),
            host_port=_published_port(container.attrs),
            oom_killed=bool(state.get("OOMKilled")),
            private_address=_inspected_private_address(container.attrs, self.instance) if running else None,
        )


class AttachedSession:
    """A hijacked `attach` connection to a container: raw bytes with a TTY, multiplexed frames without."""

    def __init__(self, attached, tty: bool):
        self._attached = attached  # docker-py's socket object; it keeps the HTTP response alive
        self._socket = getattr(attached, "_sock", attached)
        self._socket.settimeout(None)
        self.tty = tty
        self._buffer = b""

    def read(self) -> tuple[str, bytes] | None:
        if self.tty:
            data = self._recv()
            return ("stdout", data) if data else None
        header = self._exactly(8)
        if header is None:
            return None
        kind, length = struct.unpack(">BxxxL", header)
        payload = self._exactly(length) if length else b""
        return None if payload is None else (LOG_STREAMS.get(kind, "stdout"), payload)

    def _recv(self) -> bytes:
        if self._buffer:
            data, self._buffer = self._buffer, b""
            return data
        try:
            return self._socket.recv(65536)
        except OSError:  # closed: the session ended
            return b""

    def _exactly(self, size: int) -> bytes | None:
        chunks = [self._buffer]
        have = len(self._buffer)
        self._buffer = b""
        while have < size:
            data = self._recv()
            if not data:
                return None
            chunks.append(data)
            have += len(data)
        self._buffer = b"".join(chunks)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def write(self, data: bytes) -> None:
        self._socket.sendall(data)

    def close_input(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.close()
        with contextlib.suppress(Exception):
            self._attached.close()


def http_check(address: str, port: int, check: HealthCheck) -> CheckResult:
    """GET `check.path` on address:port; passes on 2xx or 3xx within the check's timeout."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(address, port, timeout=check.timeout)
    try:
        connection.request("GET", check.path, headers={"User-Agent": "paas-health-check"})
        response = connection.getresponse()
        response.read(64 * 1024)
    except TimeoutError:
        return CheckResult(False, f"no answer within {check.timeout:g}s")
    except ConnectionRefusedError:
        return CheckResult(False, "connection refused")
    except (OSError, http.client.HTTPException) as error:
        return CheckResult(False, f"no HTTP answer ({type(error).__name__})")
    finally:
        connection.close()
    took = round((time.monotonic() - started) * 1000)
    if 200 <= response.status < 400:
        return CheckResult(True, f"{response.status} {response.reason} in {took} ms", answered=True)
    return CheckResult(False, f"HTTP {response.status}", answered=True)


LOG_STREAMS = {1: "stdout", 2: "stderr"}


def _log_frames(raw):
    """(stream, payload) of each frame of a multiplexed log stream (a container without a TTY)."""
    while True:
        header = raw.read(8)
        if len(header) < 8:
            return
        kind, length = struct.unpack(">BxxxL", header)
        payload = raw.read(length) if length else b""
        if length and not payload:
            return
        yield LOG_STREAMS.get(kind, "stdout"), payload


def _log_line(line: str) -> tuple[float, str]:
    """A line Docker prefixed with its RFC 3339 time (2026-11-25T22:26:26.123456789Z text) as (timestamp, text)."""
    stamp, _, text = line.partition(" ")
    try:
        seconds = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
        fraction = float("0." + stamp[20:].rstrip("Z")) if stamp[19:20] == "." else 0.0
    except ValueError:
        return time.time(), line
    return seconds + fraction, text


def _listed_port(summary: dict) -> int | None:
    """The host port of a container as the engine lists it (not inspects it)."""
    for port in summary.get("Ports") or []:
        if port.get("PublicPort"):
            return int(port["PublicPort"])
    return None


def _answers_directly(address: tuple[str, int]) -> bool | None:
    """Whether a process listens at a web job's own address: no proxy stands in between, so a connection the
    kernel completes is one the job will take. (A server that takes connections before its workers have booted,
    gunicorn's, holds them in its queue until they have; a job leaving the router is stopped only once the requests
    sent to it are answered, or its grace period is over.)
    None: the address cannot be reached from here (rootless Docker, a control plane in a container)."""
    try:
        socket.create_connection(address, timeout=1).close()
    except ConnectionRefusedError:
        return False
    except OSError:
        return None
    return True


def _listed_private_address(summary: dict, instance: str) -> tuple[str, int] | None:
    """The container's address on the instance network and the port it publishes, as the engine lists them."""
    address = _instance_address((summary.get("NetworkSettings") or {}).get("Networks") or {}, instance)
    port = next((port.get("PrivatePort") for port in summary.get("Ports") or [] if port.get("PublicPort")), None)
    return (address, int(port)) if address and port else None


def _inspected_private_address(attrs: dict, instance: str) -> tuple[str, int] | None:
    """The container's address on the instance network and the port it publishes, as the engine inspects them."""
    settings = attrs.get("NetworkSettings") or {}
    address = _instance_address(settings.get("Networks") or {}, instance)
    port = next((key.split("/")[0] for key, bindings in (settings.get("Ports") or {}).items() if bindings), None)
    return (address, int(port)) if address and port else None


def _instance_address(networks: dict, instance: str) -> str | None:
    """The container's address on the instance network: where its port is published and the host reaches it (its
    app's network is internal)."""
    return (networks.get(instance_network_name(instance)) or {}).get("IPAddress") or None


def _published_port(attrs: dict) -> int | None:
    for bindings in (attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
        for binding in bindings or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
    return None
