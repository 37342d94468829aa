"""Reads on jobs, and on how far a deploy has got."""

from dataclasses import dataclass

from django.conf import settings

from formations.models import Formation
from formations.selectors import formation_get
from scheduler.models import ACTIVE_STATES, CRASHES_BEFORE_FAILED, Job, JobKind, JobState


def job_list(*, app):
    """`app`'s jobs that are running or meant to run."""
    return (
        Job.objects.filter(app=app, state__in=(*ACTIVE_STATES, JobState.STOPPING))
        .select_related("release", "host")
        .order_by("process_type", "index", "created_at")
    )


def limits_effective(*, formation) -> dict:
    """Process type -> the memory, CPU and process limits its jobs get: the formation's, else the defaults."""
    types = set(formation.release.processes) if formation.release else set()
    return {ptype: limits_for(formation.limits.get(ptype, {})) for ptype in types | set(formation.limits)}


def limits_for(limits: dict) -> dict:
    """Limits as set on a formation for one process type, completed with the defaults."""
    return {
        "memory": limits.get("memory") or settings.PAAS_JOB_MEMORY,
        "cpus": limits.get("cpus") or settings.PAAS_JOB_CPUS,
        "pids": settings.PAAS_PIDS_LIMIT,
    }


def job_limits(job: Job) -> dict:
    """The memory, CPU and process limits `job` runs (or will run) with."""
    limits = Formation.objects.filter(app_id=job.app_id).values_list("limits", flat=True).first() or {}
    return limits_for(limits.get(job.process_type, {}))


def jobs_starting() -> bool:
    """Whether any job is starting, not yet healthy."""
    return Job.objects.filter(state=JobState.STARTING).exists()


ROLLOUT_STATES = ("releasing", "pending", "done", "failed", "superseded")


@dataclass(frozen=True)
class DeployStatus:
    """Where a release's rollout stands: `releasing` (its release phase runs), `pending`, `done`, `failed` or
    `superseded`, with a reason."""

    state: str
    message: str = ""


def job_is_current(job: Job, formation) -> bool:
    """Whether a job runs the formation's release in its process type's current restart generation."""
    return job.release_id == formation.release_id and job.generation == formation.generation(job.process_type)


def deploy_status(*, release) -> DeployStatus:
    """How far `release` has got in replacing the app's running jobs."""
    formation = formation_get(app=release.app)
    if formation.failed_release_id == release.pk:
        return DeployStatus("failed", formation.failure)
    if formation.releasing_id == release.pk:
        return DeployStatus("releasing", "its release command runs")
    if formation.release_id != release.pk:
        return DeployStatus("superseded", "a newer deploy has taken over")
    return rollout_status(formation=formation)


def rollout_status(*, formation) -> DeployStatus:
    """Whether the formation's current jobs (release and restart generation) have replaced all others."""
    wanted = {ptype: count for ptype, count in formation.counts.items() if count}
    if formation.release is None or not wanted:
        return DeployStatus("done", "no processes are scaled up")
    crash = crash_looping_job(release=formation.release)
    if crash is not None:
        return DeployStatus("failed", crash_reason(crash))
    up: dict[str, int] = {}
    stale_routed = False
    for job in Job.objects.filter(app=formation.app_id, kind=JobKind.FORMATION).exclude(state=JobState.STOPPED):
        current = job_is_current(job, formation)
        stale_routed = stale_routed or (not current and job.routed_at is not None)
        routed = job.process_type != "web" or job.routed_at is not None
        if current and job.state == JobState.UP and routed:
            up[job.process_type] = up.get(job.process_type, 0) + 1
    if all(up.get(ptype, 0) >= count for ptype, count in wanted.items()) and not stale_routed:
        return DeployStatus("done")
    return DeployStatus("pending")


def crash_looping_job(*, release):
    """A job of `release` that has crashed on start again and again, or None."""
    return (
        Job.objects.filter(release=release, state=JobState.CRASHED, crash_streak__gte=CRASHES_BEFORE_FAILED)
        .order_by("process_type", "index")
        .first()
    )


def crash_reason(job: Job) -> str:
    """Why a crash-looping job keeps failing, in words for the pusher."""
    reason = job.error or f"it exited with status {job.exit_code}"
    return f"{job.name} crashed {job.crash_streak} times on start: {reason}"


def serving_release(*, app, besides):
    """The newest release other than `besides` with a job up, or None."""
    job = (
        Job.objects.filter(app=app, kind=JobKind.FORMATION, state=JobState.UP)
        .exclude(release=besides)
        .select_related("release")
        .order_by("-release__version")
        .first()
    )
    return job.release if job else None
