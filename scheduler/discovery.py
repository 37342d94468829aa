"""Discovery: where an app's healthy jobs answer, as the router reaches them and as the app's own jobs do."""

from dataclasses import dataclass

from hosts.drivers import internal_name
from hosts.models import HostState
from scheduler.models import Job, JobKind, JobState
from scheduler.services import WEB_PORT


@dataclass(frozen=True)
class Endpoint:
    """One healthy job of an app and its addresses."""

    job: str  # web.1
    process_type: str
    index: int
    release: int
    host: str
    port: int  # its $PORT, inside its container
    address: str | None  # HOST_ADDRESS:HOST_PORT, where the router reaches it; None for a job that publishes no port
    internal: str  # web.APP.internal:PORT, where the app's other jobs on its host reach it


def endpoint_list(*, app, process_type: str | None = None) -> list[Endpoint]:
    """The healthy jobs of `app`'s formation (up, on a host that is up), of `process_type` only when given (one
    the app does not have: none), by process type and index; one-off runs and release phases are not listed.

    `internal` is the process type's name on the app's own network (`web.APP.internal`, every job of the type;
    `web.1.APP.internal` is one job's), which only the app's jobs on the same host resolve; `address` is how the
    router, from the host side, reaches a job that publishes its port (a web job).
    """
    jobs = Job.objects.filter(app=app, kind=JobKind.FORMATION, state=JobState.UP, host__state=HostState.UP)
    if process_type is not None:
        jobs = jobs.filter(process_type=process_type)
    jobs = jobs.select_related("release__artifact", "host").order_by("process_type", "index", "created_at")
    return [_endpoint(app.name, job) for job in jobs]


def _endpoint(app_name: str, job: Job) -> Endpoint:
    artifact = job.release.artifact
    port = (artifact.port if artifact else None) or WEB_PORT  # as scheduler.services.job_spec gives it
    return Endpoint(
        job=job.name,
        process_type=job.process_type,
        index=job.index,
        release=job.release.version,
        host=job.host.name,
        port=port,
        address=f"{job.host.address}:{job.host_port}" if job.host_port else None,
        internal=f"{internal_name(app_name, job.process_type)}:{port}",
    )
