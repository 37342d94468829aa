"""The scheduler's reconcile pass: formations to jobs, jobs to containers on hosts.

Level-triggered: each pass reads the desired state (formations) and what the hosts report, and
converges. A pass may run any number of times with the same result; a lost wake-up or a
restarted control plane only delays convergence. Running containers are adopted, never restarted.
"""

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from formations.models import Formation
from hosts.drivers import JobContainer, JobSpec, host_driver
from hosts.models import Host, HostState
from hosts.services import host_heartbeat, host_mark_down
from scheduler.models import ACTIVE_STATES, Job, JobState
from scheduler.router import router_sync

log = logging.getLogger("paas.scheduler")

WEB_PORT = 5000
BOOT_TIMEOUT = timedelta(seconds=60)
STABLE_AFTER = timedelta(seconds=30)
MAX_BACKOFF_SECONDS = 60
_pass_lock = threading.Lock()


def reconcile() -> None:
    """Runs one reconcile pass; passes never overlap within a process."""
    with _pass_lock:
        drivers = _host_drivers()
        observed = _observe(drivers)
        for formation in Formation.objects.select_related("app", "release"):
            _converge_formation(formation)
        _start_due_jobs(drivers)
        _check_health(drivers, observed)
        router_sync()
        _drain_stopping(drivers, observed)
        _forgive_stable_jobs()


def _host_drivers() -> dict[int, object]:
    drivers = {}
    for host in Host.objects.all():
        drivers[host.pk] = (host, host_driver(host))
    return drivers


def _observe(drivers: dict) -> dict[int, JobContainer]:
    """Reads every host's containers and brings job rows in line with them."""
    observed: dict[int, JobContainer] = {}
    for host, driver in drivers.values():
        try:
            containers = driver.job_containers()
        except Exception as error:  # noqa: BLE001 - any failure to reach a host marks it down
            log.warning("host %s did not answer: %s", host.name, error)
            host_mark_down(host=host)
            continue
        host_heartbeat(host=host)
        observed.update(containers)
        _observe_host(host, driver, containers)
    return observed


def _observe_host(host: Host, driver, containers: dict[int, JobContainer]) -> None:
    jobs = Job.objects.filter(host=host).exclude(state=JobState.STOPPED).select_related("app")
    jobs = {job.pk: job for job in jobs}
    for job_id, container in containers.items():
        job = jobs.get(job_id)
        if job is None or job.container_id != container.container_id:
            driver.job_remove(container.container_id)
    for job in jobs.values():
        container = containers.get(job.pk)
        if job.state in (JobState.STARTING, JobState.UP):
            if container is None or container.container_id != job.container_id:
                _job_crashed(job, driver, exit_code=None, error="its container disappeared")
            elif not container.running:
                _job_crashed(job, driver, exit_code=container.exit_code, error="")
        elif job.state == JobState.STOPPING and (container is None or not container.running):
            _job_stopped(job, driver)


def _job_crashed(job: Job, driver, *, exit_code, error: str) -> None:
    if job.container_id:
        driver.job_remove(job.container_id)
    job.crash_streak += 1
    delay = min(2 ** (job.crash_streak - 1), MAX_BACKOFF_SECONDS)
    log.info("job %s %s crashed (exit %s); restarting in %ss", job.app.name, job.name, exit_code, delay)
    job.state = JobState.CRASHED
    job.exit_code = exit_code
    job.error = error
    job.restarts += 1
    job.container_id = ""
    job.host_port = None
    job.routed_at = None
    job.restart_at = timezone.now() + timedelta(seconds=delay)
    job.save()


def _job_stopped(job: Job, driver) -> None:
    if job.container_id:
        driver.job_remove(job.container_id)
    job.state = JobState.STOPPED
    job.container_id = ""
    job.save(update_fields=["state", "container_id", "updated_at"])


def _converge_formation(formation: Formation) -> None:
    """Creates the jobs the formation lacks and marks for stopping the ones it no longer wants."""
    jobs = list(Job.objects.filter(app=formation.app, state__in=ACTIVE_STATES))
    release = formation.release
    desired = set()
    if release is not None:
        desired = {(ptype, i) for ptype, count in formation.counts.items() for i in range(1, count + 1)}
    current = {}
    for job in jobs:
        if release is not None and job.release_id == release.pk:
            slot = (job.process_type, job.index)
            if slot in desired and slot not in current:
                current[slot] = job
            else:
                _job_stop(job)
    for ptype, index in sorted(desired - current.keys()):
        current[(ptype, index)] = Job.objects.create(
            app=formation.app, release=release, process_type=ptype, index=index
        )
    for job in jobs:
        if release is None or job.release_id != release.pk:
            replacement = current.get((job.process_type, job.index))
            if replacement is None or replacement.state == JobState.UP:
                _job_stop(job)


def _job_stop(job: Job) -> None:
    """Takes a job out of the router; its container gets SIGTERM once the router has synced."""
    if job.container_id:
        job.state = JobState.STOPPING
        job.save(update_fields=["state", "updated_at"])
    else:
        job.state = JobState.STOPPED
        job.save(update_fields=["state", "updated_at"])


def _start_due_jobs(drivers: dict) -> None:
    now = timezone.now()
    due = Job.objects.filter(state__in=(JobState.PENDING, JobState.CRASHED)).select_related("app", "release")
    for job in due:
        if job.restart_at and job.restart_at > now:
            continue
        host, driver = _place(drivers)
        if host is None:
            log.warning("no host is up to run %s %s", job.app.name, job.name)
            return
        _job_start(job, host, driver)


def _place(drivers: dict):
    """The live host running the fewest jobs."""
    live = [(host, driver) for host, driver in drivers.values() if _host_up(host)]
    if not live:
        return None, None
    return min(live, key=lambda pair: Job.objects.filter(host=pair[0], state__in=ACTIVE_STATES).count())


def _host_up(host: Host) -> bool:
    return Host.objects.filter(pk=host.pk, state=HostState.UP).exists()


def job_spec(job: Job) -> JobSpec:
    """The container a job runs as: its release's image and command, with the platform's variables."""
    release = job.release
    env = {str(key): str(value) for key, value in release.config.items()}
    env.update(
        PORT=str(WEB_PORT),
        DYNO=job.name,
        PAAS_APP=job.app.name,
        PAAS_RELEASE=f"v{release.version}",
        PAAS_PROCESS_TYPE=job.process_type,
        PAAS_JOB_ID=str(job.pk),
    )
    return JobSpec(
        job_id=job.pk,
        name=f"paas-{settings.PAAS_INSTANCE}-{job.app.name}-{job.name}-{job.pk}",
        app=job.app.name,
        process_type=job.process_type,
        image=release.artifact.image,
        command=release.processes[job.process_type],
        env=env,
        port=WEB_PORT if job.process_type == "web" else None,
    )


def _job_start(job: Job, host: Host, driver) -> None:
    try:
        container = driver.job_start(job_spec(job))
    except Exception as error:  # noqa: BLE001 - a job that cannot start is retried with backoff
        log.warning("could not start %s %s: %s", job.app.name, job.name, error)
        _job_crashed(job, driver, exit_code=None, error=f"could not start: {error}")
        return
    job.host = host
    job.container_id = container.container_id
    job.host_port = container.host_port
    job.state = JobState.STARTING
    job.started_at = timezone.now()
    job.restart_at = None
    job.exit_code = None
    job.error = ""
    job.stop_signalled_at = None
    job.routed_at = None
    job.save()


def _check_health(drivers: dict, observed: dict[int, JobContainer]) -> None:
    """Marks starting jobs up once healthy (web: its port accepts connections); enforces the boot timeout."""
    for job in Job.objects.filter(state=JobState.STARTING).select_related("app"):
        host, driver = drivers.get(job.host_id, (None, None))
        if driver is None:
            continue
        container = observed.get(job.pk)
        if container is None or container.container_id != job.container_id:
            container = JobContainer(job.pk, job.container_id, True, None, job.host_port)
        healthy = driver.job_healthy(container) if job.process_type == "web" else container.running
        if healthy:
            Job.objects.filter(pk=job.pk).update(state=JobState.UP)
        elif timezone.now() - job.started_at > BOOT_TIMEOUT:
            driver.job_signal(job.container_id, "SIGKILL")
            _job_crashed(job, driver, exit_code=None, error="web process did not listen on $PORT within 60s")


def _forgive_stable_jobs() -> None:
    """A job that has stayed up for a while starts its next crash count, and backoff, from zero."""
    stable_since = timezone.now() - STABLE_AFTER
    Job.objects.filter(state=JobState.UP, crash_streak__gt=0, started_at__lt=stable_since).update(crash_streak=0)


def _drain_stopping(drivers: dict, observed: dict[int, JobContainer]) -> None:
    """SIGTERM for jobs the router no longer sends traffic to; SIGKILL after the grace period."""
    now = timezone.now()
    grace = timedelta(seconds=settings.PAAS_STOP_GRACE)
    for job in Job.objects.filter(state=JobState.STOPPING, routed_at__isnull=True):
        host, driver = drivers.get(job.host_id, (None, None))
        if driver is None:
            continue
        if job.stop_signalled_at is None:
            driver.job_signal(job.container_id, "SIGTERM")
            Job.objects.filter(pk=job.pk).update(stop_signalled_at=now)
        elif now - job.stop_signalled_at > grace:
            driver.job_signal(job.container_id, "SIGKILL")
