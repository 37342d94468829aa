"""One-off jobs: runs (`paas run`) and release phases. They run once, are never restarted nor routed, are not
counted in the formation, and their containers are removed when they end.

A release phase is level-triggered like the rest of the scheduler: while a formation is `releasing` a release,
each pass makes sure that release has its release job, and once the job has ended moves the formation on (or
marks the release failed). What the job prints is kept on its row for the deployer (and in the app's log).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from apps.logs import app_log_event
from formations.models import Formation
from formations.services import RELEASE_PHASE, formation_release_phase_ended
from scheduler.models import ACTIVE_STATES, Job, JobKind, JobState

log = logging.getLogger("paas.scheduler")

RELEASE_OUTPUT_MAX = 256 * 1024  # characters of a release phase's output kept for the deployer
OUTPUT_TRUNCATED = "… output truncated; `paas logs -p release` has all of it\n"


def one_off_ended(job: Job, driver, *, exit_code: int | None, error: str = "") -> bool:
    """Records that a one-off job ended (its exit code, or why it could not run) and removes its container.

    Returns False when it had been recorded already (the scheduler and an attached terminal may both see the end).
    """
    if job.container_id and not job.attached:
        from scheduler.logs import job_logs_flush

        job_logs_flush(job, driver)  # its last lines (and, for a release phase, its output) are kept first
    ended = Job.objects.filter(pk=job.pk).exclude(state=JobState.STOPPED)
    recorded = ended.update(state=JobState.STOPPED, exit_code=exit_code, error=error[:2000], updated_at=timezone.now())
    if job.container_id:
        driver.job_remove(job.container_id)
    if recorded:
        outcome = f"exited with status {exit_code}" if exit_code is not None else "ended"
        app_log_event(job.app.name, job.kind, f"{job.name} {outcome}{f' ({error})' if error else ''}")
    return bool(recorded)


def one_off_exit_error(job: Job, container) -> str:
    """Why a one-off job's container ended, beyond its exit code."""
    if container is None:
        return "its container disappeared"
    if container.oom_killed:
        return "killed: out of memory"
    return job.error  # e.g. that its release phase timed out


def release_phase_step(formation: Formation) -> Formation:
    """Runs the release phase of the release the formation waits on; moves the deploy on once it has ended."""
    _release_jobs_superseded(formation)
    release = formation.releasing
    if release is None:
        return formation
    job = Job.objects.filter(kind=JobKind.RELEASE, release=release).order_by("-created_at").first()
    if job is None:
        command = release.processes[RELEASE_PHASE]
        Job.objects.create(
            app=formation.app,
            release=release,
            kind=JobKind.RELEASE,
            process_type=RELEASE_PHASE,
            index=1,
            command=command,
            created_by=release.created_by,
        )
        app_log_event(formation.app.name, "deploy", f"v{release.version}: running `{command}`")
        return formation
    if job.state != JobState.STOPPED:
        _release_job_time_out(job)
        return formation
    return formation_release_phase_ended(app=formation.app, release=release, error=_release_job_error(job))


def _release_job_error(job: Job) -> str:
    """Why an ended release phase failed; empty when it succeeded."""
    if job.error:
        return job.error
    if job.exit_code == 0:
        return ""
    return f"exit status {job.exit_code}" if job.exit_code is not None else "it did not run"


def _release_jobs_superseded(formation: Formation) -> None:
    """Stops the release phases of releases a newer deploy took over from."""
    stale = Job.objects.filter(app=formation.app, kind=JobKind.RELEASE, state__in=ACTIVE_STATES)
    for job in stale.exclude(release_id=formation.releasing_id):
        job.error = "a newer deploy took over"
        job.state = JobState.STOPPING if job.container_id else JobState.STOPPED
        job.save(update_fields=["state", "error", "updated_at"])


def _release_job_time_out(job: Job) -> None:
    limit = settings.PAAS_RELEASE_TIMEOUT
    if timezone.now() - job.created_at < timedelta(seconds=limit):
        return
    job.error = f"it did not finish within {limit:.0f}s (PAAS_RELEASE_TIMEOUT) and was stopped"
    job.state = JobState.STOPPING if job.container_id else JobState.STOPPED  # one that never started just ends
    job.save(update_fields=["state", "error", "updated_at"])


def release_output_append(job_id: int, text: str, written: int) -> int:
    """Adds a line to a release phase's output, up to RELEASE_OUTPUT_MAX; returns how much has been written."""
    if written > RELEASE_OUTPUT_MAX:
        return written
    full = written + len(text) > RELEASE_OUTPUT_MAX
    Job.objects.filter(pk=job_id).update(output=Concat("output", Value(OUTPUT_TRUNCATED if full else text)))
    return RELEASE_OUTPUT_MAX + 1 if full else written + len(text)


def release_output_written(job_id: int) -> int:
    """How much of a release phase's output is kept already (a follower that starts again goes on from there)."""
    output = Job.objects.filter(pk=job_id).values_list("output", flat=True).first() or ""
    return RELEASE_OUTPUT_MAX + 1 if output.endswith(OUTPUT_TRUNCATED) else len(output)


@dataclass(frozen=True)
class ReleasePhase:
    """A release phase as its deployer follows it: `pending`, `running`, `succeeded` or `failed`, the output
    after an offset, and the offset to ask from next."""

    state: str
    output: str = ""
    offset: int = 0
    exit_code: int | None = None


def release_phase_get(*, release, offset: int = 0) -> ReleasePhase | None:
    """Where `release`'s release phase stands, with its output from `offset`; None if it has none."""
    if RELEASE_PHASE not in release.processes:
        return None
    job = (
        Job.objects.filter(kind=JobKind.RELEASE, release=release)
        .annotate(tail=Substr("output", offset + 1))
        .values("state", "exit_code", "error", "tail")
        .order_by("-created_at")
        .first()
    )
    if job is None:
        return ReleasePhase("pending", offset=offset)
    tail = job["tail"] or ""
    if job["state"] != JobState.STOPPED:
        state = "running"
    else:
        state = "succeeded" if job["exit_code"] == 0 and not job["error"] else "failed"
    return ReleasePhase(state, tail, offset + len(tail), job["exit_code"])


RUN_START_PATIENCE = timedelta(minutes=2)


def runs_never_started() -> None:
    """Ends runs whose start was interrupted (the request died between recording the run and starting it)."""
    since = timezone.now() - RUN_START_PATIENCE
    stuck = Job.objects.filter(kind=JobKind.RUN, state=JobState.PENDING, container_id="", created_at__lt=since)
    stuck.update(state=JobState.STOPPED, error="it never started", updated_at=timezone.now())


def runs_orphaned_stop() -> int:
    """Stops the attached runs whose terminals were connected to this control plane before it restarted: nobody
    can type into them or read them any more. Returns how many."""
    orphans = Job.objects.filter(kind=JobKind.RUN, attached=True).exclude(state=JobState.STOPPED)
    stopping = orphans.exclude(container_id="").update(
        state=JobState.STOPPING, error="its terminal went away when the platform restarted", updated_at=timezone.now()
    )
    return stopping + orphans.filter(container_id="").update(state=JobState.STOPPED, updated_at=timezone.now())
