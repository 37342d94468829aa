"""The scheduler's reconcile pass: formations to jobs, jobs to containers on hosts.

Level-triggered: each pass reads the desired state (formations) and what the hosts report, and
converges. A pass may run any number of times with the same result; a lost wake-up or a
restarted control plane only delays convergence. Running containers are adopted, never restarted.
"""

import contextlib
import dataclasses
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from addons.placement import HOST_TAG, exclusive_process_types, job_pin, pinned_hosts
from addons.volumes import job_volume_mounts
from apps.hooks import hooks_notify
from apps.logs import app_log_event
from apps.models import EventAction, HookEvent
from apps.services import event_record
from artifacts.blobstore import blob_url, signed_url
from artifacts.models import ArtifactKind
from buildpacks.models import Build
from buildpacks.services import build_fail_stale
from formations.models import Formation
from formations.services import formation_roll_back, memory_bytes
from hosts.drivers import CheckResult, HealthCheck, ImageSource, JobContainer, JobSpec, host_driver
from hosts.models import Host, HostState
from hosts.services import host_heartbeat, host_mark_down
from scheduler.logs import job_crash_event, job_logs_collect, job_logs_flush
from scheduler.models import ACTIVE_STATES, CRASHES_BEFORE_FAILED, ONE_OFF_KINDS, Job, JobKind, JobState
from scheduler.oneoff import one_off_ended, one_off_exit_error, release_phase_step, runs_never_started
from scheduler.placement import UNKNOWN_MEMORY, HostRoom, JobNeed, placement_plan
from scheduler.router import ADMIN_ERRORS, router, router_sync
from scheduler.routes import address_parse, address_text, job_upstream
from scheduler.selectors import (
    crash_looping_job,
    crash_reason,
    job_is_current,
    job_limits,
    limits_for,
    rollout_status,
    serving_release,
)

log = logging.getLogger("paas.scheduler")

WEB_PORT = 5000
BOOT_TIMEOUT = timedelta(seconds=60)
STABLE_AFTER = timedelta(seconds=30)
MAX_BACKOFF_SECONDS = 60
START_WORKERS = 8  # containers started, and health checks run, at once in one pass
CHECK_SPACING = 0.05  # seconds between the checks a job passes in a row
START_CHECK_BUDGET = 2.0  # seconds a pass checks a web job it has just started, so that it takes traffic at once
CHECK_FAILURES_BEFORE_KILL = 5  # answered checks failed in a row (HTTP 500, say) before a starting job is killed,
CHECK_GRACE = timedelta(seconds=10)  # once it has had this long to warm up
DRAIN_SETTLE = 0.05  # seconds after a job leaves the router before its requests in flight are counted
DRAIN_WAIT = 0.5  # seconds a pass waits for those requests to end; a job still answering waits for the next pass
DRAIN_POLL = 0.02  # seconds between two questions to the router meanwhile
_pass_lock = threading.Lock()
_unplaced_told: set[int] = set()  # jobs no host could take, whose warning has been logged


@dataclass
class LiveHost:
    """A host that answered this pass, its driver, and the job containers it reported."""

    host: Host
    driver: object
    containers: dict[int, JobContainer]


def reconcile() -> None:
    """Runs one reconcile pass; passes never overlap within a process."""
    with _pass_lock:
        began = timezone.now()
        live = _observe()
        facts = PassFacts.read()
        for formation in Formation.objects.select_related("app", "release", "releasing"):
            _formation_step(formation, facts)
        _start_due_jobs(live, facts.exclusive)
        _check_health(live)
        _converge_replaced(since=began)
        job_logs_collect(live)
        router_sync()
        _announce_deployed()
        _drain_stopping(live)
        _forgive_stable_jobs()
        _fail_stale_builds()
        runs_never_started()


@dataclass
class SlotJob:
    """A formation's active job as a pass reads it to converge the formation: the columns it needs, as a row (a pass
    reads every one), not a model."""

    pk: int
    app_id: int
    release_id: int
    process_type: str
    index: int
    generation: int
    host_id: int | None
    state: str
    container_id: str
    created_at: object
    superseded: bool


@dataclass
class PassFacts:
    """What a pass reads once for every formation, so that a formation with nothing to do costs no query: the
    active jobs of each app's formation, the apps with a release phase running, the releases with a job that
    crash-loops, and the drained hosts."""

    jobs: dict[int, list[SlotJob]]
    releasing_apps: set[int]
    crash_looping: set[int]
    drained: set[int]
    exclusive: set[tuple[int, str]]  # (app id, process type) of the types with a volume one job at a time uses

    @classmethod
    def read(cls) -> "PassFacts":
        jobs: dict[int, list[SlotJob]] = {}
        active = Job.objects.filter(kind=JobKind.FORMATION, state__in=ACTIVE_STATES)
        for row in active.values_list(*(field.name for field in dataclasses.fields(SlotJob))):
            job = SlotJob(*row)
            jobs.setdefault(job.app_id, []).append(job)
        release_jobs = Job.objects.filter(kind=JobKind.RELEASE, state__in=ACTIVE_STATES)
        crashing = Job.objects.filter(state=JobState.CRASHED, crash_streak__gte=CRASHES_BEFORE_FAILED)
        return cls(
            jobs=jobs,
            releasing_apps=set(release_jobs.values_list("app_id", flat=True)),
            crash_looping=set(crashing.values_list("release_id", flat=True)),
            drained=set(Host.objects.filter(drained=True).values_list("pk", flat=True)),
            exclusive=exclusive_process_types(),
        )


def _formation_step(formation: Formation, facts: PassFacts) -> None:
    """One app's share of a pass; an app whose step fails is retried next pass and never stops the others."""
    try:
        if formation.releasing_id or formation.app_id in facts.releasing_apps:
            formation = release_phase_step(formation)
        if formation.release_id in facts.crash_looping:
            formation = _roll_back_failed_deploy(formation)
        _converge_formation(formation, facts.jobs.get(formation.app_id, []), facts.drained, facts.exclusive)
    except Exception:
        log.exception("could not converge %s", formation.app.name)


@contextlib.contextmanager
def _job_step(job: Job, action: str):
    """One job's failure is logged and retried next pass; it never stops the pass for other jobs."""
    try:
        yield
    except Exception as error:  # noqa: BLE001
        log.warning("could not %s %s %s: %s", action, job.app.name, job.name, error)


def _observe() -> dict[int, LiveHost]:
    """Reads every host's containers and brings job rows in line with them; returns the hosts that answered.

    A host whose engine this process drives (`paas up`'s) is down while it does not answer: its jobs leave the
    router and are back once it answers again. An agent's host is down once its heartbeats have stopped for
    PAAS_HOST_DOWN_AFTER seconds, and its jobs are lost: they start on the other hosts. Hosts are asked at once, so
    that one slow to answer holds the pass up by one wait, not one per host."""
    live = {}
    listed_at = timezone.now()
    hosts = list(Host.objects.all())
    agents = any(host.agent for host in hosts)  # none on one machine: their queries are not made
    silent = _silent_agents() if agents else set()
    for host in hosts:
        if host.pk in silent:
            _host_lost(host)
    for host, driver, containers in _listings([host for host in hosts if host.pk not in silent]):
        if isinstance(containers, Exception):
            log.warning("host %s did not answer: %s", host.name, containers)
            if not host.agent:
                host_mark_down(host=host)
            continue
        if not host.agent:  # an agent's heartbeats say it is up
            host_heartbeat(host=host)
        live[host.pk] = LiveHost(host, driver, containers)
        _observe_host(live[host.pk], listed_at)
    if any(host.agent and (host.pk in silent or host.state == HostState.DOWN) for host in hosts):
        _jobs_lost_with_hosts()
    return live


def _listings(hosts: list[Host]) -> list[tuple[Host, object, dict | Exception]]:
    """(host, its driver, its job containers or why it did not list them), for each host, asked in parallel."""

    def listing(host: Host):
        driver = host_driver(host)
        try:
            return host, driver, driver.job_containers()
        except Exception as error:  # noqa: BLE001 - any failure to reach a host counts against it
            return host, driver, error

    if len(hosts) < 2:
        return [listing(host) for host in hosts]
    with ThreadPoolExecutor(max_workers=min(len(hosts), START_WORKERS)) as pool:
        return list(pool.map(listing, hosts))


def _silent_agents() -> set[int]:
    """The agents' hosts not heard from for PAAS_HOST_DOWN_AFTER seconds, by the database's clock (agents stamp
    their heartbeats with it: the one clock every machine shares)."""
    down_after = timedelta(seconds=settings.PAAS_HOST_DOWN_AFTER)
    cutoff = ExpressionWrapper(Now() - down_after, output_field=DateTimeField())
    silent = Host.objects.filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff), agent=True)
    return set(silent.values_list("pk", flat=True))


def _host_lost(host: Host) -> None:
    """Marks a host that went silent down, once."""
    if host.state != HostState.DOWN:
        log.warning(
            "host %s has not answered for %.0fs: down; its jobs start elsewhere",
            host.name,
            settings.PAAS_HOST_DOWN_AFTER,
        )
        host_mark_down(host=host)


def _jobs_lost_with_hosts() -> None:
    """The jobs of agents' hosts that are down stop counting: the router leaves them and their slots are filled
    elsewhere. Should the host come back, its containers of these jobs are removed (_observe_host), so an app
    never runs more copies than its formation asks for."""
    lost = Job.objects.filter(host__state=HostState.DOWN, host__agent=True)
    lost = lost.filter(state__in=(*ACTIVE_STATES, JobState.STOPPING))
    for job in lost.select_related("app", "host"):
        job.state, job.error = JobState.STOPPED, f"lost with host {job.host.name}, which is down"
        job.save(update_fields=["state", "error", "updated_at"])
        app_log_event(
            job.app.name, "scheduler", f"{job.name} lost with host {job.host.name} (down); starting it elsewhere"
        )


class ObservedJob(NamedTuple):
    """The columns of a job that tell whether its container, as listed, changes anything for it."""

    pk: int
    state: str
    kind: str
    container_id: str
    private_address: str
    started_at: object


def _observe_host(live: LiveHost, listed_at) -> None:
    """Removes the containers no job owns, then brings in line the jobs whose container changed anything; the
    others (most, on an idle platform) cost a row each, not a model."""
    rows = Job.objects.filter(host=live.host).exclude(state=JobState.STOPPED).values_list(*ObservedJob._fields)
    jobs = {row[0]: ObservedJob(*row) for row in rows}
    for job_id, container in live.containers.items():
        job = jobs.get(job_id)
        being_started = job is not None and job.state == JobState.PENDING and not job.container_id  # a `paas run`
        if job is None or (job.container_id != container.container_id and not being_started):
            with contextlib.suppress(Exception):
                live.driver.job_remove(container.container_id)
    changed = [pk for pk, job in jobs.items() if _container_changes(job, live.containers.get(pk), listed_at)]
    for job in Job.objects.filter(pk__in=changed).select_related("app"):
        with _job_step(job, "observe"):
            _observe_job(job, live.driver, live.containers.get(job.pk))


def _container_changes(job: ObservedJob, container: JobContainer | None, listed_at) -> bool:
    """Whether _observe_job has something to do for this job, given its container as listed."""
    gone = container is None or container.container_id != job.container_id or not container.running
    if job.kind in ONE_OFF_KINDS:
        started_since = job.started_at is not None and job.started_at >= listed_at  # not in the listing yet
        return not started_since and job.state in (JobState.STARTING, JobState.UP, JobState.STOPPING) and gone
    if job.state in (JobState.STARTING, JobState.UP):
        moved = bool(container and container.private_address)
        return gone or (moved and address_text(container.private_address) != job.private_address)
    return job.state == JobState.STOPPING and (container is None or not container.running)


def _observe_job(job: Job, driver, container: JobContainer | None) -> None:
    if job.kind in ONE_OFF_KINDS:
        _observe_one_off(job, driver, container)
    elif job.state in (JobState.STARTING, JobState.UP):
        if container is None or container.container_id != job.container_id:
            _job_crashed(job, driver, exit_code=None, error="its container disappeared")
        elif not container.running:
            _job_crashed(job, driver, exit_code=container.exit_code, error=_exit_error(job, container))
        elif container.private_address and address_text(container.private_address) != job.private_address:
            job.private_address = address_text(container.private_address)  # adopted, or known only now
            job.save(update_fields=["private_address", "updated_at"])
    elif job.state == JobState.STOPPING and (container is None or not container.running):
        _job_stopped(job, driver)


def _observe_one_off(job: Job, driver, container: JobContainer | None) -> None:
    """A one-off job whose container has ended (or gone) is over: never restarted."""
    if job.state not in (JobState.STARTING, JobState.UP, JobState.STOPPING):
        return
    if container is None or container.container_id != job.container_id or not container.running:
        exit_code = container.exit_code if container and container.container_id == job.container_id else None
        one_off_ended(job, driver, exit_code=exit_code, error=one_off_exit_error(job, container))


def _job_crashed(job: Job, driver, *, exit_code, error: str) -> None:
    if job.container_id:
        job_logs_flush(job, driver)
        driver.job_remove(job.container_id)
    job.crash_streak += 1
    delay = min(2 ** (job.crash_streak - 1), MAX_BACKOFF_SECONDS)
    job_crash_event(job, exit_code=exit_code, error=error, delay=delay)
    log.info("job %s %s crashed (exit %s); restarting in %ss", job.app.name, job.name, exit_code, delay)
    job.state = JobState.CRASHED
    job.exit_code = exit_code
    job.error = error
    job.restarts += 1
    job.container_id = ""
    job.host_port = None
    job.private_address = ""
    job.routed_at = job.unrouted_at = None
    job.restart_at = timezone.now() + timedelta(seconds=delay)
    job.save()
    detail = {"job": job.name, "release": job.release.version, "exit_code": exit_code, "error": error}
    hooks_notify(app=job.app, event=HookEvent.CRASHED, detail=detail)


def _exit_error(job: Job, container: JobContainer) -> str:
    """Why a container stopped, when the engine knows more than its exit code: the kernel killed it for memory."""
    if not container.oom_killed:
        return ""
    error = f"killed: out of memory (limit {job_limits(job)['memory']})"
    event_record(app=job.app, actor=None, action=EventAction.JOB_OOM, detail=f"{job.name} {error}")
    app_log_event(job.app.name, "scheduler", f"{job.name} {error}")
    return error


def _job_stopped(job: Job, driver) -> None:
    if job.container_id:
        job_logs_flush(job, driver)
        driver.job_remove(job.container_id)
    job.state = JobState.STOPPED
    job.container_id = ""
    job.save(update_fields=["state", "container_id", "updated_at"])


def _announce_deployed() -> None:
    """`paas[deploy]: v7 deployed` in the app's log once a release's rollout has finished, whatever made it
    (a push, a config change, a rollback). Runs after the router has synced: routed jobs count as deployed."""
    waiting = Formation.objects.exclude(release=None).exclude(deployed_release=F("release"))
    for formation in waiting.select_related("app", "release"):
        status = rollout_status(formation=formation)
        if status.state != "done":
            continue
        Formation.objects.filter(pk=formation.pk).update(deployed_release=formation.release)
        note = f" ({status.message})" if status.message else ""
        app_log_event(formation.app.name, "deploy", f"v{formation.release.version} deployed{note}")
        release = {"version": formation.release.version, "description": formation.release.description}
        hooks_notify(app=formation.app, event=HookEvent.DEPLOY, detail={"release": release})


def _roll_back_failed_deploy(formation: Formation) -> Formation:
    """When the new release crash-loops while an older one still serves, the formation goes back to the older one."""
    if formation.release is None:
        return formation
    crash = crash_looping_job(release=formation.release)
    previous = serving_release(app=formation.app, besides=formation.release) if crash else None
    if previous is None:
        return formation
    reason = crash_reason(crash)
    log.warning(
        "deploy of %s v%s failed (%s); back to v%s",
        formation.app.name,
        formation.release.version,
        reason,
        previous.version,
    )
    return formation_roll_back(app=formation.app, failed_release=formation.release, to_release=previous, reason=reason)


def _converge_replaced(*, since) -> None:
    """Converges again the formations with a job that came up in this pass: the jobs it replaces stop now, and
    leave the router in the same sync that routes their replacements (a deploy takes one pass, not two)."""
    up = Job.objects.filter(state=JobState.UP, kind=JobKind.FORMATION, updated_at__gte=since)
    for formation in Formation.objects.filter(app_id__in=up.values("app_id")).select_related("app", "release"):
        try:
            _converge_formation(formation)
        except Exception:
            log.exception("could not converge %s", formation.app.name)


def _converge_formation(
    formation: Formation, jobs: list | None = None, drained: set[int] | None = None, exclusive: set | None = None
) -> None:
    """Creates the jobs the formation lacks and marks for stopping the ones it no longer wants (`jobs`: its active
    jobs, read here when not given). A job on a drained host is replaced as a stale one is: it stops once its
    replacement, placed elsewhere, is up. A job of a process type whose volume one job at a time uses (`exclusive`)
    stops first, and its replacement starts once it has (`_place_due_jobs`)."""
    if exclusive is None:
        exclusive = exclusive_process_types(formation.app_id)
    if jobs is None:
        jobs = list(Job.objects.filter(app=formation.app, kind=JobKind.FORMATION, state__in=ACTIVE_STATES))
    if drained is None:
        drained = set(Host.objects.filter(drained=True).values_list("pk", flat=True))
    desired = set()
    if formation.release is not None:
        desired = {(ptype, i) for ptype, count in formation.counts.items() for i in range(1, count + 1)}
    current = _current_slots(formation, jobs, desired, drained)
    _slots_claimed(jobs, current)
    for ptype, index in sorted(desired - current.keys()):
        current[(ptype, index)] = Job.objects.create(
            app=formation.app,
            release=formation.release,
            process_type=ptype,
            index=index,
            generation=formation.generation(ptype),
        )
    for job in jobs:
        replacement = current.get((job.process_type, job.index))
        if replacement is not job and (not job_is_current(job, formation) or job.host_id in drained):
            alone = (formation.app_id, job.process_type) in exclusive
            if replacement is None or replacement.state == JobState.UP or alone:
                _job_stop(job)


def _current_slots(formation: Formation, jobs: list, desired: set, drained: set[int]) -> dict:
    """(process type, index) -> the job that fills that slot of the formation; current jobs with no slot to fill
    are stopped, and a current job on a drained host fills none (it is replaced)."""
    current = {}
    for job in sorted(jobs, key=lambda job: job.created_at):  # an older job keeps its slot until replaced
        if not job_is_current(job, formation):
            continue
        if job.host_id in drained and not job.container_id:
            _job_stop(job)  # crashed on a drained host: its replacement starts elsewhere, not it as well
            continue
        slot = (job.process_type, job.index)
        if slot in desired and slot not in current and job.host_id not in drained:
            current[slot] = job
        elif slot not in desired or slot in current:
            _job_stop(job)
    return current


def _slots_claimed(jobs: list, current: dict) -> None:
    """Marks superseded the active jobs that no longer fill their slot, and not the ones that do, before any job is
    made for a slot: the database holds one unsuperseded active job per slot (scheduler_job_one_per_slot)."""
    holders = {job.pk for job in current.values()}
    replaced = [job.pk for job in jobs if job.pk not in holders and job.state in ACTIVE_STATES and not job.superseded]
    reclaimed = [job.pk for job in current.values() if job.superseded]
    if replaced:
        Job.objects.filter(pk__in=replaced).update(superseded=True)
    if reclaimed:  # a rollback to the release it runs
        Job.objects.filter(pk__in=reclaimed).update(superseded=False)
    for job in jobs:
        job.superseded = job.pk not in holders and (job.superseded or job.pk in replaced)


def _job_stop(job: Job | SlotJob) -> None:
    """Takes a job out of the router; its container gets SIGTERM once the router has synced."""
    job.state = JobState.STOPPING if job.container_id else JobState.STOPPED
    Job.objects.filter(pk=job.pk).update(state=job.state, updated_at=timezone.now())


def _start_due_jobs(live: dict[int, LiveHost], exclusive: set[tuple[int, str]]) -> None:
    """Starts pending jobs, and crashed ones whose backoff has passed, on the least busy live hosts.

    The containers start in parallel (the engine calls only); the job rows are saved afterwards, here.
    """
    placed = _place_due_jobs(live, exclusive)
    with ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
        outcomes = list(pool.map(lambda start: _container_start(start[0], start[1].driver, start[2]), placed))
    for (job, host, _spec), outcome in zip(placed, outcomes, strict=True):
        with _job_step(job, "start"):
            _job_started(job, host, outcome)


def _place_due_jobs(live: dict[int, LiveHost], exclusive: set[tuple[int, str]]) -> list[tuple[Job, LiveHost, JobSpec]]:
    """The jobs due to start, each with the live host placement picks for it (scheduler.placement) and the
    container it runs as. A job no host can take (none up and undrained, none with room or with the tags it
    needs) waits for the next pass."""
    now = timezone.now()
    due = Job.objects.filter(
        Q(state=JobState.PENDING, kind__in=(JobKind.FORMATION, JobKind.RELEASE))
        | Q(state=JobState.CRASHED, kind=JobKind.FORMATION)
    ).select_related("app", "release__artifact")
    due = [job for job in due if not (job.restart_at and job.restart_at > now)]
    due = _exclusive_ones_free(due, exclusive)
    if not due:
        return []
    formations = {row[0]: row[1:] for row in Formation.objects.values_list("app_id", "limits", "constraints")}
    pins = pinned_hosts()
    needs = [_job_need(job, *formations.get(job.app_id, ({}, {})), pins) for job in due]
    plan = placement_plan(needs, *_host_rooms(live, {app_id: limits for app_id, (limits, _) in formations.items()}))
    placed = []
    for job, need in zip(due, needs, strict=True):
        host_pk = plan[need.key]
        if host_pk is None:
            if job.pk not in _unplaced_told:
                log.warning("no host can take %s %s now: %s", job.app.name, job.name, _unplaced_reason(need, live))
                _unplaced_told.add(job.pk)
            continue
        _unplaced_told.discard(job.pk)
        with _job_step(job, "prepare"):
            if _job_claimed(job, live[host_pk].host):
                placed.append((job, live[host_pk], job_spec(job, job.host)))
    return placed


def _exclusive_ones_free(due: list[Job], exclusive: set[tuple[int, str]]) -> list[Job]:
    """The due jobs without those of a process type whose volume another of its jobs still has (one stopping)."""
    waiting = [job for job in due if job.kind == JobKind.FORMATION and (job.app_id, job.process_type) in exclusive]
    if not waiting:
        return due
    holding = Job.objects.filter(
        kind=JobKind.FORMATION,
        app_id__in={job.app_id for job in waiting},
        state__in=(JobState.STARTING, JobState.UP, JobState.STOPPING),
    ).exclude(container_id="")
    holders: dict[tuple[int, str], set[int]] = {}
    for pk, app_id, process_type in holding.values_list("pk", "app_id", "process_type"):
        holders.setdefault((app_id, process_type), set()).add(pk)
    held = {job.pk for job in waiting if holders.get((job.app_id, job.process_type), set()) - {job.pk}}
    return [job for job in due if job.pk not in held]


def _job_claimed(job: Job, host: Host) -> bool:
    """Takes a due job for `host`, unless it changed since this pass read it (another scheduler took it: the lease
    keeps that from happening, this makes sure); whether it is this pass's to start."""
    now = timezone.now()
    claim = Job.objects.filter(pk=job.pk, state=job.state, updated_at=job.updated_at).update(host=host, updated_at=now)
    if claim:
        job.host, job.updated_at = host, now
    return bool(claim)


def _job_need(job: Job, limits: dict, constraints: dict, pins: dict) -> JobNeed:
    """What placement needs to know of a job (`limits`, `constraints`: its formation's): its group, its memory
    limit, and the tags its host must have (its own name's, where an add-on or a volume pins it: addons.placement)."""
    tags = frozenset((constraints or {}).get(job.process_type, [])) | job_pin(pins, job.app_id, job.process_type)
    return JobNeed(job.pk, (job.app.name, job.process_type), _memory_limit(limits, job.process_type), tags)


def _memory_limit(limits: dict | None, process_type: str) -> int:
    """A process type's memory limit in bytes, from its formation's limits (the default when unset)."""
    return memory_bytes(limits_for((limits or {}).get(process_type, {}))["memory"])


def _host_rooms(live: dict[int, LiveHost], limits: dict[int, dict]) -> tuple[list[HostRoom], Counter]:
    """The live hosts that take new jobs, with the memory their jobs' limits leave (`limits`: each app's
    formation's), and how many jobs of each (app, process type) every live host runs."""
    running_states = (JobState.STARTING, JobState.UP)  # with a container: a crashed or pending job holds nothing
    active = Job.objects.filter(host__in=live.keys(), state__in=running_states).exclude(container_id="")
    used, running = Counter(), Counter()
    for host_id, app_id, app_name, process_type in active.values_list("host_id", "app_id", "app__name", "process_type"):
        used[host_id] += _memory_limit(limits.get(app_id), process_type)
        running[((app_name, process_type), host_id)] += 1
    rooms = [
        HostRoom(
            pk,
            _memory_offered(entry.host) - used[pk],
            frozenset((*(entry.host.tags or ()), HOST_TAG + entry.host.name)),
        )
        for pk, entry in live.items()
        if not entry.host.drained
    ]
    return rooms, running


def _memory_offered(host: Host) -> int:
    """The memory limits a host takes jobs up to: PAAS_MEMORY_OVERCOMMIT times its memory (limits are caps)."""
    return int(host.memory * settings.PAAS_MEMORY_OVERCOMMIT) if host.memory else UNKNOWN_MEMORY


def _unplaced_reason(need: JobNeed, live: dict[int, LiveHost]) -> str:
    takers = [entry.host for entry in live.values() if not entry.host.drained]
    if not takers:
        return "no host is up and taking jobs"
    pinned = sorted(tag.removeprefix(HOST_TAG) for tag in need.constraints if tag.startswith(HOST_TAG))
    if pinned and not any(host.name == pinned[0] for host in takers):
        return f"it runs on host {pinned[0]}, where its app's add-ons or volume are, and that host is down or drained"
    if need.constraints and not any(need.constraints <= {*(host.tags or ()), HOST_TAG + host.name} for host in takers):
        return f"no host up has the tags {', '.join(sorted(need.constraints))}"
    return (
        f"no host up has {need.memory // 1024**2} MiB of memory left for it (its jobs' limits may add up to "
        f"{settings.PAAS_MEMORY_OVERCOMMIT:g}x its memory: PAAS_MEMORY_OVERCOMMIT)"
    )


@dataclass(frozen=True)
class Started:
    """A container just started for a job, and how its first health checks went (none for non-web jobs)."""

    container: JobContainer
    passes: int = 0
    result: CheckResult | None = None


def _container_start(job: Job, driver, spec: JobSpec) -> Started | Exception:
    """Starts one job's container, then checks a web job until healthy or for START_CHECK_BUDGET seconds, so that
    it takes traffic in this very pass (in a worker thread: no database here); a failure is returned, not raised."""
    try:
        container = driver.job_start(spec)
    except Exception as error:  # noqa: BLE001 - a job that cannot start is retried with backoff
        return error
    if job.process_type != "web" or job.kind != JobKind.FORMATION:
        return Started(container)
    check = job_check(job)
    deadline = time.monotonic() + START_CHECK_BUDGET
    while True:
        passes, result = _checks_in_a_row(job, driver, container, check, passes_before=0)
        if passes or time.monotonic() > deadline:
            return Started(container, passes, result)
        time.sleep(CHECK_SPACING)


def job_spec(job: Job, host: Host | None = None) -> JobSpec:
    """The container a job runs as on `host` (else its own): its release's image and command, with the platform's
    variables.

    A buildpack build's image starts the command through the stack's launcher; a Docker image (a Dockerfile build,
    a deployed image) runs its own command, or a Procfile's through /bin/sh, and listens where it EXPOSEs.
    """
    host = host or job.host
    release = job.release
    artifact = release.artifact
    port = artifact.port or WEB_PORT
    env = {str(key): str(value) for key, value in release.config.items()}
    env.update(
        PORT=str(port),
        DYNO=job.name,
        PAAS_APP=job.app.name,
        PAAS_RELEASE=f"v{release.version}",
        PAAS_PROCESS_TYPE=job.process_type,
        PAAS_JOB_ID=str(job.pk),
    )
    limits = job_limits(job)
    return JobSpec(
        job_id=job.pk,
        name=f"paas-{settings.PAAS_INSTANCE}-{job.app.name}-{job.name}-{job.pk}",
        app=job.app.name,
        process_type=job.process_type,
        image=artifact.image,
        command=job.command or release.processes[job.process_type],
        env=env,
        port=port if job.process_type == "web" else None,
        memory=limits["memory"],
        cpus=limits["cpus"],
        shell=artifact.kind == ArtifactKind.IMAGE,
        links=tuple(job.app.links.values_list("target__name", flat=True)),
        image_source=image_source(artifact) if host is not None and host.agent else None,
        volumes=job_volume_mounts(job),
    )


def image_source(artifact) -> ImageSource | None:
    """How a host that did not build it makes an artifact's image: from its blobs, or its image archive (a Docker
    image's), at URLs the controller signed."""
    if artifact.kind == ArtifactKind.IMAGE:
        url = signed_url(f"images/{artifact.pk}")
        return ImageSource(app=artifact.app.name, archive_url=url, image_id=artifact.image_id)
    if not artifact.slug_digest:
        return None
    digests = [digest for digest in (artifact.slug_digest, artifact.layer_digest) if digest]
    build_id = Build.objects.filter(release__artifact=artifact).values_list("pk", flat=True).first() or 0
    return ImageSource(
        app=artifact.app.name,
        build_id=build_id,
        slug_digest=artifact.slug_digest,
        layer_key=artifact.layer_key,
        layer_digest=artifact.layer_digest,
        layer_size=artifact.layer_size,
        urls={digest: blob_url(digest) for digest in digests},
    )


def job_check(job: Job) -> HealthCheck | None:
    """The HTTP health check of a job's release for its process type, or None: the TCP check."""
    check = job.release.checks.get(job.process_type)
    return HealthCheck(check["path"], check.get("timeout", 2.0), check.get("passes", 2)) if check else None


STARTED_FIELDS = ("host", "container_id", "host_port", "private_address", "state", "started_at", "restart_at")
STARTED_FIELDS += ("stop_signalled_at", "routed_at", "unrouted_at", "check_passes", "check_failures", "last_check")
STARTED_FIELDS += ("updated_at",)


def _job_started(job: Job, live: LiveHost, outcome: Started | Exception) -> None:
    if isinstance(outcome, Exception):
        log.warning("could not start %s %s: %s", job.app.name, job.name, outcome)
        if job.kind in ONE_OFF_KINDS:
            one_off_ended(job, live.driver, exit_code=None, error=f"could not start: {outcome}")
            return
        _job_crashed(job, live.driver, exit_code=None, error=f"could not start: {outcome}")
        return
    container, host = outcome.container, live.host
    job.host = host
    job.container_id = container.container_id
    job.host_port = container.host_port
    job.private_address = address_text(container.private_address)
    job.state = JobState.STARTING
    job.started_at = timezone.now()
    job.restart_at = None  # exit_code and error stay: why it last stopped, for `paas ps`
    job.stop_signalled_at = None
    job.routed_at = job.unrouted_at = None
    job.check_passes = job.check_failures = 0
    job.last_check = ""
    job.save(update_fields=STARTED_FIELDS)  # these only: another step may have changed others meanwhile
    if outcome.result is not None:
        _check_recorded(job, live, job_check(job), outcome.passes, outcome.result)


def _check_health(live: dict[int, LiveHost]) -> None:
    """Marks starting jobs up once healthy; enforces the boot timeout. The checks run in parallel.

    Web jobs pass their HTTP check (or, without one, their port accepts connections) as many times in a row as
    the check asks; other jobs are up once running.
    """
    starting = Job.objects.filter(state=JobState.STARTING, host__in=live.keys()).select_related("app", "release")
    checks = [(job, live[job.host_id], _job_container(job, live[job.host_id]), job_check(job)) for job in starting]
    with ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
        results = list(pool.map(lambda item: _checks_in_a_row(item[0], item[1].driver, item[2], item[3]), checks))
    for (job, live_host, _container, check), (passes, result) in zip(checks, results, strict=True):
        with _job_step(job, "check"):
            _check_recorded(job, live_host, check, passes, result)


def _job_container(job: Job, live: LiveHost) -> JobContainer:
    container = live.containers.get(job.pk)
    if container is None or container.container_id != job.container_id:
        container = JobContainer(  # started this pass
            job.pk, job.container_id, True, None, job.host_port, private_address=address_parse(job.private_address)
        )
    return container


def _checks_in_a_row(
    job: Job, driver, container: JobContainer, check: HealthCheck | None, passes_before: int | None = None
) -> tuple[int, CheckResult]:
    """Checks a job until it has passed as many times in a row as needed, or fails (in a worker thread)."""
    if job.process_type != "web":
        return (1, CheckResult(True, "running")) if container.running else (0, CheckResult(False, "not running"))
    needed = check.passes if check else 1
    try:
        result = driver.job_check(container, check)
        passes = (job.check_passes if passes_before is None else passes_before) + 1 if result.passed else 0
        while result.passed and passes < needed:
            time.sleep(CHECK_SPACING)
            result = driver.job_check(container, check)
            passes = passes + 1 if result.passed else 0
    except Exception as error:  # noqa: BLE001 - a host that cannot check is a check that failed
        return 0, CheckResult(False, f"could not check: {error}")
    return passes, result


def _check_recorded(job: Job, live: LiveHost, check: HealthCheck | None, passes: int, result: CheckResult) -> None:
    job.check_passes, job.last_check = passes, result.detail[:200]
    job.check_failures = job.check_failures + 1 if result.answered and not result.passed else 0
    if passes >= (check.passes if check and job.process_type == "web" else 1):
        job.state = JobState.UP
        job.save(update_fields=["state", "check_passes", "check_failures", "last_check", "updated_at"])
        return
    booted_for = timezone.now() - job.started_at
    gave_up = job.check_failures >= CHECK_FAILURES_BEFORE_KILL and booted_for > CHECK_GRACE
    if gave_up or booted_for > BOOT_TIMEOUT:
        live.driver.job_signal(job.container_id, "SIGKILL")
        _job_crashed(job, live.driver, exit_code=None, error=_check_error(job, check, result))
        return
    job.save(update_fields=["check_passes", "check_failures", "last_check", "updated_at"])


def _check_error(job: Job, check: HealthCheck | None, result: CheckResult) -> str:
    """Why a job never got healthy, in words for `paas ps` and the pusher."""
    if job.process_type != "web":
        return "it did not start"
    if check is None:
        return f"web process did not listen on $PORT within {BOOT_TIMEOUT.seconds}s"
    seen = f"answered {result.detail.removeprefix('HTTP ')}" if result.answered else f"got {result.detail}"
    error = f"health check failed: GET {check.path} {seen}"
    event_record(app=job.app, actor=None, action=EventAction.JOB_CHECK_FAILED, detail=f"{job.name} {error}")
    return error


def _forgive_stable_jobs() -> None:
    """A job that has stayed up for a while starts its next crash count, and backoff, from zero."""
    stable_since = timezone.now() - STABLE_AFTER
    stable = Job.objects.filter(state=JobState.UP, crash_streak__gt=0, started_at__lt=stable_since)
    stable.update(crash_streak=0, updated_at=timezone.now())


def _fail_stale_builds() -> None:
    """Builds past their time (their worker died, or could not record the outcome) fail, so the app builds again."""
    try:
        failed = build_fail_stale()
    except Exception as error:  # noqa: BLE001 - the next pass tries again
        log.warning("could not fail stale builds: %s", error)
        return
    if failed:
        log.warning("failed %d stale build(s)", failed)


def _drain_stopping(live: dict[int, LiveHost]) -> None:
    """SIGTERM for jobs the router no longer sends traffic to, once it has no request in flight to them (a stream
    held open waits at most PAAS_STOP_GRACE after the job left the router); SIGKILL the grace period after SIGTERM.

    Under load a request can wait in a job's accept queue well after the router switched away from it; a SIGTERM
    then would close that queue and reset the request."""
    grace = timedelta(seconds=settings.PAAS_STOP_GRACE)
    stopping = Job.objects.filter(state=JobState.STOPPING, routed_at__isnull=True, host__in=live.keys())
    stopping = list(stopping.select_related("app", "host"))
    recently_unrouted = [job for job in stopping if job.stop_signalled_at is None and _left_router_within(job, grace)]
    answering = _still_answering(recently_unrouted)
    now = timezone.now()
    for job in stopping:
        driver = live[job.host_id].driver
        with _job_step(job, "stop"):
            if job.stop_signalled_at is None and job.pk not in answering:
                driver.job_signal(job.container_id, "SIGTERM")
                Job.objects.filter(pk=job.pk).update(stop_signalled_at=now, updated_at=now)
            elif job.stop_signalled_at is not None and now - job.stop_signalled_at > grace:
                driver.job_signal(job.container_id, "SIGKILL")


def _left_router_within(job: Job, period: timedelta) -> bool:
    return job.unrouted_at is not None and timezone.now() - job.unrouted_at < period


def _still_answering(jobs: list[Job]) -> set[int]:
    """The jobs the router still has requests in flight to. Jobs that have just left it get up to DRAIN_WAIT for
    those to end; the others are asked about once (a stream can keep one answering until its grace ends). When the
    router cannot tell, all of them: their grace period bounds the wait."""
    if not jobs:
        return set()
    newest = max(job.unrouted_at for job in jobs)
    time.sleep(max(0.0, DRAIN_SETTLE - (timezone.now() - newest).total_seconds()))
    deadline = time.monotonic() + DRAIN_WAIT - (timezone.now() - newest).total_seconds()
    upstreams = {job.pk: job_upstream(job) for job in jobs}
    while True:
        try:
            in_flight = router().in_flight()
        except ADMIN_ERRORS as error:
            log.warning("the router did not say which jobs it still has requests in flight to (%s)", error)
            return set(upstreams)
        upstreams = {pk: upstream for pk, upstream in upstreams.items() if in_flight.get(upstream)}
        if not upstreams or time.monotonic() >= deadline:
            return set(upstreams)
        time.sleep(DRAIN_POLL)
