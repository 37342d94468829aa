"""`paas agent`: the agent of one Docker host in a cluster.

It registers its host, then sends a heartbeat every PAAS_HEARTBEAT_INTERVAL seconds with the host's capacity
(memory, CPUs) and the job containers it runs; the controller marks a host down once its heartbeats stop for
PAAS_HOST_DOWN_AFTER seconds, and starts its jobs elsewhere. It consumes its host's own Celery queue, `host.NAME`,
where controllers send host driver calls (hosts.rpc): start, signal, inspect, check and remove containers. It
follows its jobs' output into their apps' logs, and makes a release's runtime image from its slug, fetched from the
controller, when a job of a release it did not build lands on it.
"""

import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections
from django.db.models.functions import Now

from hosts.models import Host, HostState
from hosts.rpc import host_queue

log = logging.getLogger("paas.agent")
LOGS_INTERVAL = 1.0  # seconds between two looks for new job containers whose output to follow
# Calls it runs at once: starts that wait for an image being made must leave room for the listings and checks.
CALLS_AT_ONCE = 32
_driver = None  # this agent's driver, on its own engine


def agent_driver():
    """The driver of this agent's engine, as `paas agent` set it up."""
    if _driver is None:
        raise RuntimeError("this process is not a host's agent (`paas agent`)")
    return _driver


def agent_logs_flush(container_id: str) -> None:
    """Before a container is removed: its last lines go into its app's log (but for an attached run's, which are
    its user's alone)."""
    from scheduler.logs import job_logs_flush
    from scheduler.models import Job

    job = Job.objects.filter(container_id=container_id).select_related("app", "release").first()
    if job is not None and not job.attached:
        job_logs_flush(job, agent_driver())


def agent_run_attached(spec, key: str):
    """Starts a one-off job attached, its session pumped over Redis under `key` (hosts.sessions); returns its
    container."""
    from hosts.sessions import SessionPump

    container, session = agent_driver().job_start_attached(spec)
    SessionPump(key, session).start()
    return container


@dataclass
class AgentHost:
    """This agent's host as the log collector sees it: a driver to follow containers with."""

    driver: object


class AgentLoop(threading.Thread):
    """Heartbeats with the host's capacity, and followers for its jobs' output, until the process ends."""

    def __init__(self, host: Host):
        super().__init__(name="agent", daemon=True)
        self.host = host
        self.stopping = threading.Event()

    def run(self) -> None:
        from scheduler.logs import job_logs_collect

        beaten = 0.0
        while not self.stopping.wait(LOGS_INTERVAL if beaten else 0):
            close_old_connections()
            beaten = self.beat(beaten)
            try:
                job_logs_collect({self.host.pk: AgentHost(agent_driver())})
            except Exception:  # noqa: BLE001 - logs never stop the heartbeats
                log.exception("could not follow the logs of host %s's jobs", self.host.name)

    def beat(self, beaten: float) -> float:
        """Sends a heartbeat when one is due; returns when the last one was sent (monotonic seconds)."""
        import time

        now = time.monotonic()
        if beaten and now - beaten < settings.PAAS_HEARTBEAT_INTERVAL:
            return beaten
        try:
            agent_heartbeat(host=self.host)
        except Exception as error:  # noqa: BLE001 - the engine or the database away: tried again shortly
            log.warning("heartbeat of host %s failed: %s", self.host.name, error)
            return beaten
        return now


def agent_heartbeat(*, host: Host) -> None:
    """Records that the host's agent and engine answer, with the host's memory, CPUs and running job containers."""
    driver = agent_driver()
    memory, cpus = driver.host_capacity()
    running = sum(1 for container in driver.job_containers().values() if container.running)
    Host.objects.filter(pk=host.pk).update(  # by the database's clock, which the controllers read it with
        state=HostState.UP, heartbeat_at=Now(), memory=memory, cpus=cpus, containers=running
    )


def agent_register(*, name: str, docker_url: str, address: str) -> Host:
    """Registers the host this agent runs (or takes it over again), once its engine answers."""
    global _driver
    from buildpacks.pipeline import runtime_image_fetched
    from hosts.drivers.docker import DockerHostDriver

    _driver = DockerHostDriver(docker_url, address, settings.PAAS_INSTANCE, image_maker=runtime_image_fetched)
    try:
        memory, cpus = _driver.host_capacity()
    except Exception as error:
        raise SystemExit(f"paas agent: cannot reach Docker at {docker_url}: {error}") from error
    host, _ = Host.objects.update_or_create(
        name=name,
        defaults={
            "docker_url": docker_url,
            "address": address,
            "agent": True,
            "state": HostState.UP,
            "heartbeat_at": Now(),
            "memory": memory,
            "cpus": cpus,
        },
    )
    return host


def _database_wait(period: float = 2.0) -> None:
    """Waits until the controller has set up the cluster's database (its first start migrates it)."""
    import time

    from django.db import DatabaseError

    told = False
    while True:
        try:
            Host.objects.exists()
            return
        except DatabaseError as error:
            if not told:
                print(f"paas agent: waiting for the controller to set up the database ({error})".strip(), flush=True)
                told = True
            close_old_connections()
            time.sleep(period)


def agent_run(*, name: str, docker_url: str, address: str) -> None:
    """Runs the agent of host `name` until SIGINT or SIGTERM: heartbeats, log followers, and its queue's calls."""
    from buildpacks.stack import stack_ensure
    from hosts.engine import build_engine
    from paas.celery import app, worker_options

    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        raise SystemExit("paas agent: set CELERY_BROKER_URL=redis://HOST:6379/0, the broker the controller uses")
    from hosts.logship import RedisLogSink
    from scheduler import logs

    _database_wait()
    host = agent_register(name=name, docker_url=docker_url, address=address)
    logs.collector.sink = RedisLogSink()  # its jobs' lines go to the controllers
    print(f"paas agent: preparing the stack image on host {name}", flush=True)
    stack_ensure(build_engine(), lambda text: print(text, end="", flush=True))
    loop = AgentLoop(host)
    loop.start()
    print(f"paas agent: host {name} ({docker_url}, jobs reached at {address}) takes calls on {host_queue(name)}")
    app.loader.import_default_modules()
    options = worker_options(queue=host_queue(name), concurrency=CALLS_AT_ONCE, hostname=f"agent@{name}")
    worker = app.Worker(**options, quiet=True)
    try:
        worker.start()
    finally:
        loop.stopping.set()
