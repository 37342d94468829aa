"""What a git push sees: its build's log as it grows, then how the deploy went; all of it safe for a terminal."""

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
from buildpacks.services import STALE_MARGIN_SECONDS, build_create, build_fail
from formations.services import RELEASE_PHASE
from paas.terminal import TerminalText, indented
from scheduler.oneoff import release_phase_get
from scheduler.selectors import deploy_status

POLL_SECONDS = 0.1  # a push reads its build log and deploy status this often (one small query)
# A push waits for its build as long as the scheduler lets the build live (see build_fail_stale), and a little more.
WAIT_GRACE_SECONDS = 30
# Git sessions do blocking work (database, files) in worker threads, never on Django's one shared sync thread.
in_thread = functools.partial(sync_to_async, thread_sensitive=False)


def _build_tail(build_id: int, offset: int) -> tuple[str, str]:
    row = Build.objects.filter(pk=build_id).annotate(tail=Substr("log", offset + 1)).values("state", "tail")
    found = row.get()
    return found["state"], found["tail"] or ""


async def push_stream(*, app, actor, revision: str, archive: Path) -> AsyncIterator[dict]:
    """Builds the pushed commit and yields `{"log": text}` messages, then `{"exit": status}`.

    The text is terminal-safe (see `terminal_safe`): what a build prints cannot move the pusher's cursor, set
    the terminal's title or colours, nor ring its bell.
    """
    terminal = TerminalText()
    async for message in _push_messages(app=app, actor=actor, revision=revision, archive=archive):
        text = terminal.feed(message["log"]) if "log" in message else terminal.end()
        if text:
            yield {"log": text}
        if "exit" in message:
            yield message


async def _push_messages(*, app, actor, revision: str, archive: Path) -> AsyncIterator[dict]:
    build = await in_thread(build_create)(app=app, actor=actor, revision=revision, source_path=archive)
    async for message in _build_log_stream(build):
        yield message
    build = await in_thread(Build.objects.select_related("release", "app").get)(pk=build.pk)
    if build.state != BuildState.SUCCEEDED:
        yield {"exit": 1}
        return
    async for message in _deploy_stream(build):
        yield message


async def _build_log_stream(build: Build) -> AsyncIterator[dict]:
    """The build's log as it grows, until the build ends, or has waited or run for longer than it may."""
    offset, state = 0, BuildState.PENDING
    patience = settings.PAAS_BUILD_TIMEOUT + STALE_MARGIN_SECONDS + WAIT_GRACE_SECONDS
    deadline = time.monotonic() + patience
    while True:
        now_state, tail = await in_thread(_build_tail)(build.pk, offset)
        if tail:
            offset += len(tail)
            yield {"log": tail}
        if now_state in FINAL_STATES:
            return
        if now_state != state:  # it started: its own time starts now
            state, deadline = now_state, time.monotonic() + patience
        if time.monotonic() > deadline:
            yield {"log": f" !     {await _give_up(build, state, patience)}\n"}
            return
        await asyncio.sleep(POLL_SECONDS)


async def _give_up(build: Build, state: str, patience: float) -> str:
    """Fails a build the push no longer waits for (the scheduler would, soon); returns why, for the pusher."""
    verb = "start" if state == BuildState.PENDING else "finish"
    reason = f"the build did not {verb} within {patience:.0f}s"
    await in_thread(build_fail)(build=build, error=f"the push stopped waiting: {reason}")
    return f"Gave up waiting: {reason}; see `paas builds -a {build.app.name}`"


async def _deploy_stream(build: Build) -> AsyncIterator[dict]:
    release = build.release
    yield {"log": "-----> Launching...\n"}
    releasing = RELEASE_PHASE in release.processes
    if releasing:
        yield {"log": f"-----> Running release command: {release.processes[RELEASE_PHASE]}\n"}
    deadline = time.monotonic() + settings.PAAS_DEPLOY_TIMEOUT + (settings.PAAS_RELEASE_TIMEOUT if releasing else 0)
    offset = 0
    while True:
        status = await in_thread(deploy_status)(release=release)
        if releasing:
            phase = await in_thread(release_phase_get)(release=release, offset=offset)
            if phase.output:
                offset = phase.offset
                yield {"log": indented(phase.output)}
            if status.state != "releasing":
                releasing = False
                deadline = time.monotonic() + settings.PAAS_DEPLOY_TIMEOUT
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
