"""One-off runs (`paas run`): a job of the app's current release, with its config, not routed and not counted in
the formation. Attached runs are connected to their user's terminal (the API's output stream, or an SSH session
with a pseudo-terminal); detached ones write to the app's log. Every run goes through the host driver.
"""

import asyncio
import codecs
import concurrent.futures
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from addons.placement import addons_host
from addons.services import addon_image, addon_up_get
from apps.logs import app_log_event
from apps.models import App, EventAction
from apps.services import event_record
from formations.selectors import formation_get
from hosts.drivers import JobSession, host_driver
from hosts.models import Host, HostState
from paas.errors import Conflict, InvalidInput, QuotaExceeded
from scheduler.models import ACTIVE_STATES, Job, JobKind, JobState
from scheduler.oneoff import one_off_ended
from scheduler.services import job_spec

COMMAND_MAX_CHARS = 16 * 1024
EXIT_PATIENCE_SECONDS = 30  # how long an ended run's exit code may take to be known


@dataclasses.dataclass
class RunStart:
    """What to run, and how it meets its user."""

    command: str
    attached: bool = True
    tty: bool = False
    stdin: bool = False
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    size: tuple[int, int] | None = None  # the terminal's rows and columns
    addon: str = ""  # run in the image of this add-on, on its host (its shell: psql, redis-cli)


def run_start(*, app: App, actor, start: RunStart) -> tuple[Job, JobSession | None]:
    """Starts a one-off job of `app`'s current release; an attached one comes with its session."""
    command = _command_validated(start.command)
    release = formation_get(app=app).release
    if release is None or release.artifact_id is None:
        raise InvalidInput(f"{app.name} has no release to run yet; deploy it first: git push paas main")
    addon = addon_up_get(app=app, name=start.addon) if start.addon else None
    job = _run_recorded(app, actor, release, command, start.attached, addon.host if addon else None)
    spec = job_spec(job)
    spec = dataclasses.replace(spec, port=None, tty=start.tty, stdin=start.stdin, env={**spec.env, **start.env})
    if addon is not None:  # the add-on's client, with the app's config, where the add-on answers
        spec = dataclasses.replace(spec, image=addon.image or addon_image()[0], image_source=None, shell=True)
    driver = host_driver(job.host)
    try:
        if start.attached:
            container, session = driver.job_start_attached(spec)
        else:
            container, session = driver.job_start(spec), None
    except Exception as error:
        one_off_ended(job, driver, exit_code=None, error=f"could not start: {error}")
        raise Conflict(f"{job.name} could not start on host {job.host.name}; try again, or see `paas ps`") from error
    started = Job.objects.filter(pk=job.pk, state=JobState.PENDING)
    if not started.update(container_id=container.container_id, state=JobState.UP, started_at=timezone.now()):
        with contextlib.suppress(Exception):  # ended meanwhile (its app destroyed, its start given up)
            if session is not None:
                session.close()
            driver.job_remove(container.container_id)
        raise Conflict(f"{job.name} was ended while it started; run it again")
    job = Job.objects.select_related("app", "release", "host").get(pk=job.pk)
    if start.tty and start.size:
        driver.job_resize(container.container_id, *start.size)
    return job, session


def _command_validated(command: str) -> str:
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput("say what to run, e.g. paas run -- python manage.py migrate")
    if len(command) > COMMAND_MAX_CHARS or "\x00" in command:
        raise InvalidInput(f"a command is at most {COMMAND_MAX_CHARS} characters, without NUL bytes")
    return command.strip()


def _run_recorded(app: App, actor, release, command: str, attached: bool, host: Host | None = None) -> Job:
    """The run's job row (numbered run.1, run.2, ... per app), on `host`, else where the app's add-ons are (when that
    host is up), else on the least busy host that is up."""
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).get()
        runs = Job.objects.filter(app=app, kind=JobKind.RUN)
        running = runs.exclude(state=JobState.STOPPED).count()
        if running >= settings.PAAS_QUOTA_RUNS:
            raise QuotaExceeded(
                f"{app.name} has {running} one-off runs going, the most allowed at once (PAAS_QUOTA_RUNS="
                f"{settings.PAAS_QUOTA_RUNS}); wait for one to end (paas ps), or stop it"
            )
        index = (runs.aggregate(last=Max("index"))["last"] or 0) + 1
        job = Job.objects.create(
            app=app,
            release=release,
            kind=JobKind.RUN,
            process_type="run",
            index=index,
            command=command,
            attached=attached,
            created_by=actor,
            host=host or addons_host(app) or _least_busy_host(),
        )
        event_record(app=app, actor=actor, action=EventAction.RUN, detail=f"{job.name}: {command[:150]}")
    by = f" by {actor.username}" if getattr(actor, "username", None) else ""
    how = "attached" if attached else "detached"
    app_log_event(app.name, "run", f"{job.name} of v{release.version} started{by} ({how}): {command[:500]}")
    return job


def _least_busy_host() -> Host:
    hosts = list(Host.objects.filter(state=HostState.UP, drained=False))
    if not hosts:
        raise Conflict("no host is up and taking jobs to run on; see `paas hosts`")
    busy = {host.pk: Job.objects.filter(host=host, state__in=ACTIVE_STATES).count() for host in hosts}
    return min(hosts, key=lambda host: busy[host.pk])


def run_exit_code(job: Job) -> int | None:
    """Once an attached run's output has ended: its exit code (recorded, and its container removed)."""
    driver = host_driver(job.host)
    try:
        exit_code = driver.job_wait(job.container_id, timeout=EXIT_PATIENCE_SECONDS)
    except Exception:  # noqa: BLE001 - still running after its output closed, or the host is away
        with contextlib.suppress(Exception):
            driver.job_signal(job.container_id, "SIGKILL")
        one_off_ended(job, driver, exit_code=None, error="it did not end when its output did, and was killed")
        return None
    if exit_code is None or not one_off_ended(job, driver, exit_code=exit_code):
        exit_code = _recorded_exit_code(job)  # the scheduler saw it end first
    return exit_code


def _recorded_exit_code(job: Job) -> int | None:
    deadline = time.monotonic() + EXIT_PATIENCE_SECONDS
    while time.monotonic() < deadline:
        row = Job.objects.filter(pk=job.pk).values("state", "exit_code").first()
        if row is None or row["state"] == JobState.STOPPED:
            return row and row["exit_code"]
        time.sleep(0.2)
    return None


def run_abandoned(job: Job) -> None:
    """Its user went away before it ended: it is killed and removed."""
    driver = host_driver(job.host)
    with contextlib.suppress(Exception):
        driver.job_signal(job.container_id, "SIGKILL")
    one_off_ended(job, driver, exit_code=None, error="its terminal went away")


def run_output(job: Job, session: JobSession) -> Iterator[str]:
    """An attached run's output as NDJSON lines: {"stdout": text} and {"stderr": text}, then {"exit": code}."""
    ended = False
    try:
        decoders = _Decoders()
        while (item := session.read()) is not None:
            yield decoders.message(*item)
        ended = True
        yield json.dumps({"exit": run_exit_code(job)}) + "\n"
    finally:
        session.close()
        if not ended:
            run_abandoned(job)


async def run_output_async(job: Job, session: JobSession) -> AsyncIterator[str]:
    """`run_output` for the ASGI server: the session is read in a thread of its own."""
    from asgiref.sync import sync_to_async

    ended = False
    try:
        decoders = _Decoders()
        async for item in session_items(session):
            yield decoders.message(*item)
        ended = True
        exit_code = await sync_to_async(run_exit_code, thread_sensitive=False)(job)
        yield json.dumps({"exit": exit_code}) + "\n"
    finally:
        session.close()
        if not ended:
            await sync_to_async(run_abandoned, thread_sensitive=False)(job)


class _Decoders:
    """UTF-8 decoding of each output stream, across chunks that split a character."""

    def __init__(self):
        self._decoders = {}

    def message(self, stream: str, data: bytes) -> str:
        decoder = self._decoders.setdefault(stream, codecs.getincrementaldecoder("utf-8")("replace"))
        return json.dumps({stream: decoder.decode(data)}) + "\n"


async def session_items(session: JobSession) -> AsyncIterator[tuple[str, bytes]]:
    """A session's output for asyncio code: a thread of its own reads it (reads block until output comes). When
    the reader stops early (its user went away), the thread ends too, once the session is closed."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue(maxsize=64)
    stopping = threading.Event()

    def hand_over(item) -> bool:
        handed = asyncio.run_coroutine_threadsafe(items.put(item), loop)
        while not stopping.is_set():
            try:
                handed.result(timeout=1)
                return True
            except concurrent.futures.TimeoutError:
                continue
        handed.cancel()
        return False

    def pump() -> None:
        try:
            while (item := session.read()) is not None and hand_over(item):
                pass
        except Exception:  # noqa: BLE001 - the loop went away, or the session broke: it ends either way
            pass
        finally:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(items.put(None), loop)  # waits for room, not for the reader

    threading.Thread(target=pump, name="run-output", daemon=True).start()
    try:
        while (item := await items.get()) is not None:
            yield item
    finally:
        stopping.set()
