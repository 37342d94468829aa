"""The log collector: one follower thread per job container, copying what the job writes into its app's log.

Each reconcile pass makes sure every job container on a live host has a follower. A follower reads the
container's output through the host driver (Docker's log stream), following it until the container ends, and
appends each line to the app's log (`apps.logs`). When this process restarts, followers of the containers it
adopts go on from the last line written for their job, so nothing is written twice (and nothing Docker still keeps
is lost). Before the scheduler removes a container that ended, it lets the follower copy its last lines.
"""

import logging
import threading
from dataclasses import dataclass

from apps.logs import app_log_event, app_log_last_time, app_log_write
from paas.wakeups import wakeup
from scheduler.models import Job, JobKind, JobState
from scheduler.oneoff import release_output_append, release_output_written

log = logging.getLogger("paas.scheduler")

FLUSH_SECONDS = 5.0  # how long the scheduler waits for an ended container's last lines
FOLLOWED_STATES = (JobState.STARTING, JobState.UP, JobState.STOPPING)


@dataclass(frozen=True)
class FollowedJob:
    """What a follower needs of one job: nothing it would have to read from the database in its thread."""

    container_id: str
    app_name: str
    job_name: str
    version: int
    job_id: int = 0
    keeps_output: bool = False  # a release phase: its output is also kept on its row, for the deployer

    @property
    def source(self) -> str:
        return f"{self.job_name} v{self.version}"

    @classmethod
    def of(cls, job: Job) -> "FollowedJob":
        keeps_output = job.kind == JobKind.RELEASE
        return cls(job.container_id, job.app.name, job.name, job.release.version, job.pk, keeps_output)


class JobLogFollower(threading.Thread):
    """Copies one container's output into its app's log until the container ends (or the collector stops)."""

    def __init__(self, collector: "LogCollector", driver, job: FollowedJob, since: float | None):
        super().__init__(name=f"logs-{job.app_name}-{job.job_name}", daemon=True)
        self.collector, self.driver, self.job, self.since = collector, driver, job, since
        self.ended = False

    def run(self) -> None:
        try:
            output_written = release_output_written(self.job.job_id) if self.job.keeps_output else 0
            for at, stream, text in self.driver.job_logs(self.job.container_id, self.since):
                if self.collector.stopping.is_set():
                    return
                self.collector.write(self.job, [(at, f"{self.job.source} {stream}", text)])
                if self.job.keeps_output:
                    output_written = release_output_append(self.job.job_id, text + "\n", output_written)
                self.collector.cursors[self.job.container_id] = at
            self.ended = True
            wakeup("scheduler")  # its container has ended: the scheduler restarts it, or moves a deploy on, now
        except Exception as error:  # noqa: BLE001 - the next pass starts another follower from where this stopped
            log.warning("could not follow the logs of %s %s: %s", self.job.app_name, self.job.job_name, error)


class LogCollector:
    """The followers of this process, by container id, and how far each has got."""

    def __init__(self):
        self.followers: dict[str, JobLogFollower] = {}
        self.cursors: dict[str, float] = {}
        self.adopting = True  # the first pass finds containers started before this process
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sink = None  # where lines go: None, this machine's app logs; an agent's sends them to the controllers

    def write(self, job: FollowedJob, entries: list[tuple[float, str, str]]) -> None:
        """Appends a job's lines to its app's log."""
        if self.sink is not None:
            self.sink.write(job.app_name, job.source, entries)
        else:
            app_log_write(app_name=job.app_name, entries=entries)

    def last_time(self, job: FollowedJob) -> float | None:
        """When the last line of `job` that its app's log has was written, for a follower that takes over."""
        if self.sink is not None:
            return self.sink.last_time(job.app_name, job.source)
        return app_log_last_time(app_name=job.app_name, source=job.source)

    def follow(self, targets: list[tuple[object, FollowedJob]]) -> None:
        """Starts a follower for each (driver, job) whose container has none, and forgets containers gone."""
        with self.lock:
            adopting, self.adopting = self.adopting, False
            wanted = {job.container_id for _, job in targets}
            for driver, job in targets:
                follower = self.followers.get(job.container_id)
                if follower is None or not (follower.is_alive() or follower.ended):
                    self._start(driver, job, adopting)
            for container_id in [known for known in self.followers if known not in wanted]:
                if not self.followers[container_id].is_alive():
                    del self.followers[container_id]
                    self.cursors.pop(container_id, None)

    def _start(self, driver, job: FollowedJob, adopting: bool) -> JobLogFollower:
        since = self.cursors.get(job.container_id)
        if since is None and adopting:
            since = self.last_time(job)
        follower = JobLogFollower(self, driver, job, since)
        self.followers[job.container_id] = follower
        if not self.stopping.is_set():
            follower.start()
        return follower

    def flush(self, driver, job: FollowedJob) -> None:
        """Waits until the (ended) container's last lines are in the log, following it now if nothing did."""
        with self.lock:
            follower = self.followers.get(job.container_id)
            if follower is None or not (follower.is_alive() or follower.ended):
                follower = self._start(driver, job, adopting=True)
        if follower.is_alive():
            follower.join(FLUSH_SECONDS)

    def stop(self, timeout: float = 2.0) -> None:
        """Ends every follower: those waiting on Docker end with the process (they are daemon threads)."""
        self.stopping.set()
        for follower in list(self.followers.values()):
            follower.join(timeout / max(len(self.followers), 1))


collector = LogCollector()


def job_logs_collect(live: dict) -> None:
    """A reconcile step: a follower for every job container on a live host (`live`: host id -> LiveHost). The jobs of
    a host run by an agent are followed by that agent (hosts.agent), next to their containers."""
    live = {host_id: host for host_id, host in live.items() if not getattr(host.driver, "remote", False)}
    jobs = Job.objects.filter(host__in=live.keys(), state__in=FOLLOWED_STATES).exclude(container_id="")
    jobs = jobs.exclude(attached=True)  # what a `paas run` terminal shows is its user's alone
    fields = ("host_id", "container_id", "app__name", "process_type", "index", "release__version", "pk", "kind")
    try:
        targets = [
            (live[row[0]].driver, FollowedJob(*row[1:3], f"{row[3]}.{row[4]}", *row[5:7], row[7] == JobKind.RELEASE))
            for row in jobs.values_list(*fields)  # rows, not models: a pass reads every job's
        ]
        collector.follow(targets)
    except Exception as error:  # noqa: BLE001 - logs never stop a pass
        log.warning("could not start log followers: %s", error)


def job_logs_flush(job: Job, driver) -> None:
    """Before the scheduler removes an ended job's container: its last lines go into the app's log first."""
    if not job.container_id or getattr(driver, "remote", False):  # an agent flushes before it removes a container
        return
    try:
        collector.flush(driver, FollowedJob.of(job))
    except Exception as error:  # noqa: BLE001 - logs never stop a pass
        log.warning("could not collect the last logs of %s %s: %s", job.app.name, job.name, error)


def job_crash_event(job: Job, *, exit_code, error: str, delay: int) -> None:
    """`paas[scheduler]: web.1 crashed, exit 1, restarting in 4s` in the app's log."""
    what = f"crashed, exit {exit_code}" if exit_code is not None else "crashed"
    why = f" ({error})" if error else ""
    app_log_event(job.app.name, "scheduler", f"{job.name} {what}{why}, restarting in {delay}s")


def log_collector_stop() -> None:
    """Stops following: the platform is stopping."""
    collector.stop()


def log_collector_reset() -> None:
    """Stops every follower and starts afresh (for tests, whose fake containers' ids repeat)."""
    global collector
    collector.stop(timeout=0.5)
    collector = LogCollector()
