"""Writes on builds and on the git repositories pushes land in."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from apps.models import App, EventAction
from apps.services import event_record
from artifacts.blobstore import blob_put_file
from buildpacks.models import Build, BuildState

HOOK_SOURCE = Path(__file__).parent / "hook.py"


def repo_path(app_name: str) -> Path:
    """Where the app `app_name`'s bare git repository lives."""
    return Path(settings.DATA_DIR) / "repos" / f"{app_name}.git"


def cache_volume_name(app_name: str) -> str:
    """The Docker volume that keeps an app's build cache (pip's downloads) between builds."""
    return f"paas-cache-{settings.PAAS_INSTANCE}-{app_name}"


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
    return path


def build_create(*, app: App, actor, revision: str, source_path: Path) -> Build:
    """Stores the pushed source and queues its build."""
    from buildpacks.tasks import build_run

    digest, _ = blob_put_file(source_path)
    with transaction.atomic():
        build = Build(app=app, revision=revision, source_digest=digest, created_by=actor)
        build.full_clean()
        build.save()
        event_record(app=app, actor=actor, action=EventAction.BUILD, detail=f"build {build.pk} of {revision[:7]}")
        transaction.on_commit(lambda: build_run.delay(build.pk))
    return build


def build_log_append(*, build: Build, text: str) -> None:
    """Appends output to a build's log, where pushers and `paas builds log` read it as it grows."""
    if text:
        Build.objects.filter(pk=build.pk).update(log=Concat("log", Value(text)))


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


def build_succeed(*, build: Build, release) -> None:
    """Records that a build made `release`."""
    Build.objects.filter(pk=build.pk).update(state=BuildState.SUCCEEDED, release=release, finished_at=timezone.now())


def build_fail(*, build: Build, error: str) -> None:
    """Records why a build failed; nothing that runs has changed. A build already ended keeps its outcome."""
    Build.objects.filter(pk=build.pk, state=BuildState.BUILDING).update(
        state=BuildState.FAILED, error=error, finished_at=timezone.now()
    )


def build_fail_interrupted() -> int:
    """Fails the builds this control plane is stopping in the middle of, or an earlier one left (embedded mode)."""
    return Build.objects.filter(state__in=(BuildState.PENDING, BuildState.BUILDING)).update(
        state=BuildState.FAILED,
        error="the platform stopped during this build; push again",
        finished_at=timezone.now(),
    )


def scratch_dir(prefix: str) -> Path:
    """A fresh working directory under DATA_DIR/tmp; the caller removes it."""
    root = Path(settings.DATA_DIR) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def scratch_remove(path: Path) -> None:
    """Removes a working directory made by `scratch_dir`."""
    shutil.rmtree(path, ignore_errors=True)
