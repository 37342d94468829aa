"""What a git push sees: its build's log as it grows, then how the deploy went."""

import asyncio
import functools
import time
from collections.abc import AsyncIterator
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models.functions import Substr

from apps.selectors import app_url
from buildpacks.models import FINAL_STATES, Build, BuildState
from buildpacks.services import build_create
from scheduler.selectors import deploy_status

POLL_SECONDS = 0.3
# Git sessions do blocking work (database, files) in worker threads, never on Django's one shared sync thread.
in_thread = functools.partial(sync_to_async, thread_sensitive=False)


def _build_tail(build_id: int, offset: int) -> tuple[str, str]:
    row = Build.objects.filter(pk=build_id).annotate(tail=Substr("log", offset + 1)).values("state", "tail")
    found = row.get()
    return found["state"], found["tail"] or ""


async def push_stream(*, app, actor, revision: str, archive: Path) -> AsyncIterator[dict]:
    """Builds the pushed commit and yields `{"log": text}` messages, then `{"exit": status}`."""
    build = await in_thread(build_create)(app=app, actor=actor, revision=revision, source_path=archive)
    offset = 0
    while True:
        state, tail = await in_thread(_build_tail)(build.pk, offset)
        if tail:
            offset += len(tail)
            yield {"log": tail}
        if state in FINAL_STATES:
            break
        await asyncio.sleep(POLL_SECONDS)
    build = await in_thread(Build.objects.select_related("release", "app").get)(pk=build.pk)
    if build.state != BuildState.SUCCEEDED:
        yield {"exit": 1}
        return
    async for message in _deploy_stream(build):
        yield message


async def _deploy_stream(build: Build) -> AsyncIterator[dict]:
    release = build.release
    yield {"log": "-----> Launching...\n"}
    deadline = time.monotonic() + settings.PAAS_DEPLOY_TIMEOUT
    while True:
        status = await in_thread(deploy_status)(release=release)
        if status.state in ("done", "superseded"):
            note = f" ({status.message})" if status.message else ""
            yield {"log": f"       v{release.version} deployed to {app_url(build.app.name)}{note}\n"}
            yield {"exit": 0}
            return
        if status.state == "failed" or time.monotonic() > deadline:
            reason = status.message or f"not up after {settings.PAAS_DEPLOY_TIMEOUT:.0f}s"
            yield {
                "log": f" !     v{release.version} did not start: {reason}\n"
                " !     The previous release keeps serving; `paas ps` shows the jobs.\n"
            }
            yield {"exit": 1}
            return
        await asyncio.sleep(POLL_SECONDS)
