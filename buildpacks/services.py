"""Writes on builds and on the git repositories pushes land in."""

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.db.models import Func, IntegerField, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from addons.models import AddonBackup
from apps.models import App, EventAction
from apps.services import event_record
from artifacts.blobstore import blob_delete, blob_exists, blob_put_file
from artifacts.models import Artifact
from buildpacks.models import FINAL_STATES, Build, BuildState
from paas.errors import Conflict, InvalidInput, QuotaExceeded

log = logging.getLogger("paas.builds")

HOOK_SOURCE = Path(__file__).parent / "hook.py"
UNFINISHED_STATES = (BuildState.PENDING, BuildState.BUILDING)
# How long a build may take beyond PAAS_BUILD_TIMEOUT (waiting for a worker, making the stack image, storing the
# slug) before the scheduler counts it as stuck and fails it.
STALE_MARGIN_SECONDS = 300
FAIL_TRIES = 5
FAIL_BACKOFF_SECONDS = 0.5  # doubled after each try: 0.5 + 1 + 2 + 4 seconds in all
LOG_TRUNCATED = "… log truncated at {limit} bytes; the build goes on\n"
LOG_LINE_MAX = 4000  # characters of an error message written to the log


def repo_path(app_name: str) -> Path:
    """Where the app `app_name`'s bare git repository lives."""
    return Path(settings.DATA_DIR) / "repos" / f"{app_name}.git"


def cache_volume_name(app_name: str) -> str:
    """The Docker volume that keeps an app's build cache (pip's downloads) between builds."""
    return f"paas-cache-{settings.PAAS_INSTANCE}-{app_name}"


def build_cache_purge(*, app: App, actor) -> None:
    """Empties `app`'s build cache, and forgets its dependency layer images (the runtime images made on them keep
    what they need), so that its next build installs everything afresh; refused while one of its builds runs (it
    is using the cache)."""
    from buildpacks.layers import layer_images
    from hosts.engine import build_engine

    if Build.objects.filter(app=app, state=BuildState.BUILDING).exists():
        raise Conflict(f"a build of {app.name} is running and using the cache; purge it once the build has ended")
    engine = build_engine()
    engine.volume_remove(cache_volume_name(app.name))
    for image in sorted(layer_images(app, engine)):
        engine.image_untag(image)
    event_record(app=app, actor=actor, action=EventAction.BUILD, detail="build cache purged")


def repo_ensure(app: App) -> Path:
    """`app`'s bare repository, created on first push, with the platform's pre-receive hook installed."""
    path = repo_path(app.name)
    if not (path / "HEAD").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    hook = path / "hooks" / "pre-receive"
    script = f"#!{sys.executable}\n" + HOOK_SOURCE.read_text()
    if not hook.exists() or hook.read_text() != script:
        staged = hook.with_suffix(".new")
        staged.write_text(script)
        staged.chmod(0o755)
        os.replace(staged, hook)
    # git refuses a larger pack before storing any of it (receive-pack passes the limit to index-pack).
    limit = str(settings.PAAS_PUSH_MAX_BYTES)
    subprocess.run(["git", "--git-dir", str(path), "config", "receive.maxInputSize", limit], check=True)
    return path


def size_text(size: float) -> str:
    """A size as people read it: 1536 -> "1.5 KiB", 268435456 -> "256 MiB"."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.1f}".removesuffix(".0") + f" {units[unit]}"


def push_too_large_message() -> str:
    """What a pusher is told when git refused the push for its size."""
    limit = size_text(settings.PAAS_PUSH_MAX_BYTES)
    return (
        f"this push is larger than {limit}, the most this platform accepts in one push (PAAS_PUSH_MAX_BYTES); "
        "remove large files from the history, or ask the operator to raise PAAS_PUSH_MAX_BYTES"
    )


def _quota_check_builds(actor, lock: bool = False) -> None:
    """Refuses a build when `actor` has PAAS_QUOTA_BUILDS pending or running already (staff too: builds use
    the machines); with `lock`, inside a transaction, their user row is locked so that two pushes count right."""
    if actor is None:
        return
    if lock:
        get_user_model().objects.select_for_update().filter(pk=actor.pk).first()
    running = Build.objects.filter(created_by=actor, state__in=UNFINISHED_STATES).count()
    limit = settings.PAAS_QUOTA_BUILDS
    if running >= limit:
        raise QuotaExceeded(
            f"{actor.username} has {running} builds pending or running, the most allowed at once "
            f"(PAAS_QUOTA_BUILDS={limit}); wait for one to finish (paas builds), then push again"
        )


def build_create(*, app: App, actor, revision: str, source_path: Path) -> Build:
    """Stores the pushed source and queues its build; a source larger than PAAS_SOURCE_MAX_BYTES is refused."""
    if source_path.stat().st_size > settings.PAAS_SOURCE_MAX_BYTES:
        limit = size_text(settings.PAAS_SOURCE_MAX_BYTES)
        raise InvalidInput(
            f"the pushed tree is larger than {limit} unpacked, the most this platform builds (PAAS_SOURCE_MAX_BYTES); "
            "remove large files from the repository, or ask the operator to raise PAAS_SOURCE_MAX_BYTES"
        )
    _quota_check_builds(actor)  # before storing the source; again under a lock, below
    digest, _ = blob_put_file(source_path)
    with transaction.atomic():
        _quota_check_builds(actor, lock=True)
        build = Build(app=app, revision=revision, source_digest=digest, created_by=actor)
        build.full_clean()
        build.save()
        event_record(app=app, actor=actor, action=EventAction.BUILD, detail=f"build {build.pk} of {revision[:7]}")
    # Another build of the same content that ended before this one was recorded let the blob go: store it again,
    # now that this build holds it, before the build can start.
    if not blob_exists(digest):
        blob_put_file(source_path)
    transaction.on_commit(lambda: build_enqueue(build.pk))
    return build


BUILD_TASK = "buildpacks.build_run"  # queued by name: these services never import the pipeline that imports them


def build_enqueue(build_id: int) -> None:
    """Queues a build for a build worker (buildpacks.tasks.build_run)."""
    from paas.celery import app as celery_app

    celery_app.send_task(BUILD_TASK, args=[build_id])


class _ByteLength(Func):
    """The size of a text in bytes (UTF-8), where Length counts characters."""

    function = "OCTET_LENGTH"
    output_field = IntegerField()

    def as_sqlite(self, compiler, db_connection, **extra_context):
        template = "LENGTH(CAST(%(expressions)s AS BLOB))"
        return super().as_sql(compiler, db_connection, template=template, **extra_context)


def build_log_append(*, build: Build, text: str) -> bool:
    """Appends output to a build's log, where pushers and `paas builds log` read it as it grows.

    A log keeps at most PAAS_BUILD_LOG_MAX_BYTES of output: the output that does not fit is dropped, with one
    note that says so. Returns whether later output still has room. Each append rewrites the log: append in
    batches (BuildLogBuffer), not chunk by chunk.
    """
    limit = settings.PAAS_BUILD_LOG_MAX_BYTES
    with transaction.atomic():
        rows = Build.objects.select_for_update().filter(pk=build.pk)
        size, state = rows.values_list(_ByteLength("log"), "state").first() or (None, None)
        if size is None or size > limit or state in FINAL_STATES:
            return False  # the build is gone, has ended (its failure stays the last line), or its log is full
        data = text.encode()
        if size + len(data) > limit:
            kept = data[: limit - size].decode(errors="ignore")
            text = kept + ("" if kept.endswith("\n") else "\n") + LOG_TRUNCATED.format(limit=limit)
        if text:
            rows.update(log=Concat("log", Value(text)))
    return size + len(data) <= limit


class BuildLogBuffer:
    """A build's output on its way to the log: appended every `seconds`, or once `batch` characters wait.

    Use as a context manager: a thread appends what waits while the build is quiet, and leaving the block
    appends the rest. Writing never raises: what the database refuses waits for the next append (leaving the
    block tries a few times), and output past the log's cap is dropped here already.
    """

    def __init__(self, build: Build, *, seconds: float = 0.2, batch: int = 64 * 1024):
        self.build = build
        self.seconds = seconds
        self.batch = batch
        self._room = True  # False once the log is full
        self._waiting: list[str] = []
        self._waiting_size = 0
        self._max_waiting = settings.PAAS_BUILD_LOG_MAX_BYTES  # characters: more could never fit in the log
        self._lock = threading.Lock()  # guards _waiting
        self._appending = threading.Lock()  # one append at a time, in order
        self._stopping = threading.Event()
        self._flusher = threading.Thread(target=self._flush_periodically, name=f"build-{build.pk}-log", daemon=True)

    def __enter__(self) -> "BuildLogBuffer":
        self._flusher.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopping.set()
        self._flusher.join()
        try:
            _retried(self._append_waiting, what=f"append to the log of build {self.build.pk}")
        except DatabaseError as error:
            log.warning("the end of the log of build %s is lost: %s", self.build.pk, error)

    def write(self, text: str) -> None:
        """Queues output for the log."""
        with self._lock:
            if self._room and self._waiting_size <= self._max_waiting:
                self._waiting.append(text)
                self._waiting_size += len(text)
            full = self._waiting_size >= self.batch
        if full:
            self.flush()

    def flush(self) -> None:
        """Appends what waits to the log now; if the database refuses, it waits for the next append."""
        try:
            self._append_waiting()
        except DatabaseError as error:
            log.warning("could not append to the log of build %s (%s); trying again", self.build.pk, error)

    def _append_waiting(self) -> None:
        with self._appending:
            with self._lock:
                text, self._waiting, self._waiting_size = "".join(self._waiting), [], 0
            if not text:
                return
            try:
                self._room = build_log_append(build=self.build, text=text)
            except DatabaseError:
                with self._lock:
                    self._waiting.insert(0, text)
                    self._waiting_size += len(text)
                raise

    def _flush_periodically(self) -> None:
        try:
            while not self._stopping.wait(self.seconds):
                self.flush()
        finally:
            connection.close()  # this thread's own database connection


def build_start(*, build: Build) -> bool:
    """Marks a build as building, unless another build of the same app is running (then False)."""
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=build.app_id).get()
        busy = Build.objects.filter(app_id=build.app_id, state=BuildState.BUILDING).exclude(pk=build.pk)
        if busy.exists():
            return False
        started = Build.objects.filter(Q(state=BuildState.PENDING) | Q(state=BuildState.BUILDING), pk=build.pk).update(
            state=BuildState.BUILDING, started_at=timezone.now()
        )
    return bool(started)


def build_succeed(*, build: Build, artifact, processes: dict, crons: list | None = None):
    """Makes the build's release, moves the app's formation to it and records the build's success, in one
    transaction: no build succeeds without its release deploying, and no release deploys for a build that failed
    (say, marked stale meanwhile). Database errors are retried with backoff, as for build_fail. `crons`, the cron
    entries of the source's app.json, replace the app's app.json schedules (None: they stay as they are)."""
    from formations.services import formation_deploy
    from releases.services import release_create
    from scheduler.cron import cron_app_json_sync

    def finish():
        with transaction.atomic():
            state = Build.objects.select_for_update().filter(pk=build.pk).values_list("state", flat=True).first()
            if state != BuildState.BUILDING:
                raise InvalidInput(f"build {build.pk} ended meanwhile ({state}); push again")
            release = release_create(
                app=build.app,
                artifact=artifact,
                processes=processes,
                actor=build.created_by,
                description=f"Deploy {build.revision[:7]}",
            )
            formation_deploy(app=build.app, release=release, actor=build.created_by)
            if crons is not None:
                cron_app_json_sync(app=build.app, entries=crons, actor=build.created_by)
            Build.objects.filter(pk=build.pk).update(
                state=BuildState.SUCCEEDED,
                release=release,
                finished_at=timezone.now(),
                log=Concat("log", Value(f"-----> Released v{release.version}\n")),
            )
        return release

    return _retried(finish, what="record a successful build")


def build_fail(*, build: Build, error: str, slug_digests: Iterable[str] = ()) -> None:
    """Records why a build failed, also as the last line of its log; nothing that runs has changed.

    A build already ended keeps its outcome. Database errors are retried with backoff, so that a build is
    never left `building`. The build's source blob, and the slugs it stored, are removed unless used elsewhere.
    """
    _builds_fail(Build.objects.filter(pk=build.pk), error=error, slug_digests=slug_digests)


def _failed_builds_told(build_ids: list[int], error: str) -> None:
    """Tells the apps' deploy hooks of builds that failed (apps.hooks)."""
    from apps.hooks import hooks_notify
    from apps.models import HookEvent

    for build in Build.objects.filter(pk__in=build_ids).select_related("app"):
        detail = {"build": {"id": build.pk, "revision": build.revision, "error": error}}
        hooks_notify(app=build.app, event=HookEvent.BUILD_FAILED, detail=detail)


def build_fail_interrupted() -> int:
    """Fails the builds this control plane is stopping in the middle of, or an earlier one left (embedded mode)."""
    return _builds_fail(Build.objects.all(), error="the platform stopped during this build; push again")


def build_fail_stale() -> int:
    """Fails the builds that should have ended by now, whose worker died or could not record the outcome.

    A build is stale when it has waited to start, or been building, for longer than PAAS_BUILD_TIMEOUT plus a
    margin (STALE_MARGIN_SECONDS). Returns how many builds it failed. The scheduler runs it on every pass.
    """
    seconds = settings.PAAS_BUILD_TIMEOUT + STALE_MARGIN_SECONDS
    since = timezone.now() - timedelta(seconds=seconds)
    stale = Q(state=BuildState.PENDING, created_at__lt=since) | Q(state=BuildState.BUILDING, started_at__lt=since)
    error = f"this build did not finish within {seconds:.0f}s and was marked failed; push again"
    return _builds_fail(Build.objects.filter(stale), error=error)


def _builds_fail(builds: QuerySet, *, error: str, slug_digests: Iterable[str] = ()) -> int:
    """Fails the unfinished builds among `builds`, retrying on database errors; releases their blobs."""
    line = f" !     {error[:LOG_LINE_MAX]}\n"

    def record() -> tuple[int, set[str]]:
        with transaction.atomic():
            failing = builds.select_for_update().filter(state__in=UNFINISHED_STATES)
            sources = set(failing.values_list("source_digest", flat=True))
            failed = list(failing.values_list("pk", flat=True))
            count = failing.update(
                state=BuildState.FAILED, error=error, finished_at=timezone.now(), log=Concat("log", Value(line))
            )
            _failed_builds_told(failed, error)
        return count, sources

    count, sources = _retried(record, what="record a failed build")
    if count:
        try:
            blobs_release_unused(digests=sources | set(slug_digests))
        except Exception as release_error:  # noqa: BLE001 - a blob left behind only takes disk space
            log.warning("could not remove the blobs of failed builds: %s", release_error)
    return count


def _retried(write: Callable, *, what: str):
    """Runs a database write, trying again with backoff while the database fails (locked, restarting, away)."""
    for attempt in range(FAIL_TRIES - 1):
        try:
            return write()
        except DatabaseError as error:
            log.warning("could not %s (%s); trying again", what, error)
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()  # a lost connection is opened anew
            time.sleep(FAIL_BACKOFF_SECONDS * 2**attempt)
    return write()


def blobs_release_unused(*, digests: Iterable[str]) -> set[str]:
    """Removes the blobs among `digests` that nothing needs any more; returns those it removed.

    A blob is needed while an artifact's slug or dependency layer, an add-on's backup, or the source of a build that
    has not ended, has its digest (the same content pushed twice, or to two apps, is stored once). A build needs its
    source only while it runs: the app's git repository keeps the commit.
    """
    digests = {digest for digest in digests if digest}
    if not digests:
        return set()
    used = Artifact.objects.blobs_used(digests)
    sources = Build.objects.filter(source_digest__in=digests, state__in=UNFINISHED_STATES)
    used |= set(sources.values_list("source_digest", flat=True))
    used |= set(AddonBackup.objects.filter(digest__in=digests).values_list("digest", flat=True))
    for digest in digests - used:
        blob_delete(digest)
    return digests - used


def scratch_dir(prefix: str) -> Path:
    """A fresh working directory under DATA_DIR/tmp; the caller removes it."""
    root = Path(settings.DATA_DIR) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def scratch_remove(path: Path) -> None:
    """Removes a working directory made by `scratch_dir`."""
    shutil.rmtree(path, ignore_errors=True)
