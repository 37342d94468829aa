"""Builds are bounded and never stuck: log cap, failing through database errors, stale builds, blobs of failures."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.models.query import QuerySet
from django.utils import timezone

from artifacts.blobstore import blob_path, blob_put_file
from artifacts.services import artifact_create
from buildpacks import services
from buildpacks.models import Build, BuildState
from buildpacks.pipeline import build_execute
from buildpacks.services import (
    BuildLogBuffer,
    build_fail,
    build_log_append,
    build_start,
)
from paas.errors import NotFound
from scheduler.services import reconcile
from tests.factories import make_app

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr(services, "FAIL_BACKOFF_SECONDS", 0)


def _blob(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / f"blob-{len(content)}-{content[:8].hex()}"
    path.write_bytes(content)
    return blob_put_file(path)[0]


def _build(app, *, source_digest: str = "sha256:" + "0" * 64, state=BuildState.PENDING) -> Build:
    return Build.objects.create(app=app, revision="a" * 40, source_digest=source_digest, state=state)


def _stored(digest: str) -> bool:
    try:
        blob_path(digest, verify=False)
    except NotFound:
        return False
    return True


def test_a_build_log_keeps_at_most_the_cap_then_one_note(settings):
    settings.PAAS_BUILD_LOG_MAX_BYTES = 100
    build = _build(make_app())
    build_log_append(build=build, text="a" * 60 + "\n")
    build_log_append(build=build, text="é" * 30 + "\n")  # 61 bytes: 39 of them fit
    build_log_append(build=build, text="more output\n")
    build_log_append(build=build, text="and more\n")
    log = Build.objects.get(pk=build.pk).log
    output, note = log.rsplit("\n", 2)[0], log.rsplit("\n", 2)[1]
    assert output == "a" * 60 + "\n" + "é" * 19
    assert len(output.encode()) <= 100
    assert note == "… log truncated at 100 bytes; the build goes on"
    assert log.count("truncated") == 1 and "more output" not in log


def test_a_log_that_is_exactly_full_gets_the_note_with_the_next_output(settings):
    settings.PAAS_BUILD_LOG_MAX_BYTES = 10
    build = _build(make_app())
    build_log_append(build=build, text="123456789\n")
    assert Build.objects.get(pk=build.pk).log == "123456789\n"
    build_log_append(build=build, text="x")
    assert Build.objects.get(pk=build.pk).log == "123456789\n\n… log truncated at 10 bytes; the build goes on\n"


def test_the_log_buffer_appends_in_batches_not_per_chunk(monkeypatch):
    build = _build(make_app())
    appends = []
    monkeypatch.setattr(services, "build_log_append", lambda *, build, text: appends.append(text) or True)
    with BuildLogBuffer(build, seconds=3600, batch=1000) as log_buffer:
        for number in range(300):
            log_buffer.write(f"line {number:03}\n")  # 9 characters: 2,700 in all
    assert len(appends) == 3
    assert "".join(appends) == "".join(f"line {number:03}\n" for number in range(300))


@pytest.mark.django_db(transaction=True)
def test_the_log_buffer_appends_quiet_output_within_a_second():
    build = _build(make_app())
    with BuildLogBuffer(build, seconds=0.2) as log_buffer:
        log_buffer.write("-----> Installing requirements with pip\n")
        deadline = time.monotonic() + 5
        while not Build.objects.get(pk=build.pk).log and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Build.objects.get(pk=build.pk).log == "-----> Installing requirements with pip\n"


def _failing_once(monkeypatch):
    """The next update of a build's state raises a database error (a locked or restarting database); not later ones."""
    real_update = QuerySet.update
    calls = []

    def update(queryset, **changes):
        if "state" in changes:
            calls.append(changes)
            if len(calls) == 1:
                raise OperationalError("database is locked")
        return real_update(queryset, **changes)

    monkeypatch.setattr(QuerySet, "update", update)
    return calls


def test_failing_a_build_survives_a_database_error(monkeypatch):
    build = _build(make_app())
    assert build_start(build=build)
    calls = _failing_once(monkeypatch)
    build_fail(build=build, error="Build failed: the buildpack exited with status 1")
    build.refresh_from_db()
    assert len(calls) == 2
    assert build.state == BuildState.FAILED
    assert build.error == "Build failed: the buildpack exited with status 1"
    assert build.log.endswith(" !     Build failed: the buildpack exited with status 1\n")
    later = _build(build.app)
    assert build_start(build=later)  # the app builds again


@pytest.mark.django_db(transaction=True)
def test_a_build_that_fails_while_the_database_fails_ends_failed_and_leaves_no_blob(monkeypatch, tmp_path):
    digest = _blob(tmp_path, b"a pushed tree")
    build = _build(make_app(), source_digest=digest)
    assert build_start(build=build)
    _failing_once(monkeypatch)
    build_execute(Build.objects.select_related("app", "created_by").get(pk=build.pk))  # in memory: no Docker
    build.refresh_from_db()
    assert build.state == BuildState.FAILED
    assert build.error.lower().startswith("internal error while building")
    assert build.log.startswith("-----> Building myapp from aaaaaaa\n")
    assert build.log.endswith(f" !     {build.error}\n")
    assert not _stored(digest)


def test_stale_builds_are_failed_by_a_reconcile_pass(settings):
    settings.PAAS_BUILD_TIMEOUT = 60
    app, other = make_app("stuck"), make_app("queued")
    long_ago = timezone.now() - timedelta(seconds=60 + services.STALE_MARGIN_SECONDS + 1)
    stuck = _build(app)
    assert build_start(build=stuck)
    Build.objects.filter(pk=stuck.pk).update(created_at=long_ago, started_at=long_ago)
    queued = _build(other)
    Build.objects.filter(pk=queued.pk).update(created_at=long_ago)
    running = _build(other)
    assert build_start(build=running)
    waiting = _build(app)
    assert not build_start(build=waiting)  # one build per app: the stuck one blocks the app

    reconcile()

    stuck.refresh_from_db(), queued.refresh_from_db(), running.refresh_from_db()
    assert (stuck.state, queued.state, running.state) == (BuildState.FAILED, BuildState.FAILED, BuildState.BUILDING)
    seconds = 60 + services.STALE_MARGIN_SECONDS
    assert stuck.error == f"this build did not finish within {seconds}s and was marked failed; push again"
    assert stuck.log.endswith(f" !     {stuck.error}\n")
    assert build_start(build=waiting)
    reconcile()  # idempotent
    waiting.refresh_from_db()
    assert waiting.state == BuildState.BUILDING


def test_blobs_of_a_failed_build_are_removed_unless_something_else_uses_them(tmp_path):
    app, other = make_app("failing"), make_app("other")
    own_source, shared_source = _blob(tmp_path, b"own tree"), _blob(tmp_path, b"shared tree")
    own_slug, shared_slug = _blob(tmp_path, b"own slug"), _blob(tmp_path, b"shared slug")
    built_source = _blob(tmp_path, b"a built tree")
    artifact_create(app=other, image="paas-app/other:1", image_id="sha256:" + "1" * 64, slug_digest=shared_slug)
    pending_elsewhere = _build(other, source_digest=shared_source)
    failing, failing_too = _build(app, source_digest=own_source), _build(app, source_digest=shared_source)
    built = _build(app, source_digest=built_source, state=BuildState.SUCCEEDED)

    build_fail(build=failing, error="Build failed", slug_digests=[own_slug, shared_slug])
    build_fail(build=failing_too, error="Build failed")
    build_fail(build=built, error="too late")  # a build that ended keeps its outcome, and its source

    assert not _stored(own_source) and not _stored(own_slug)
    assert _stored(shared_source) and _stored(shared_slug) and _stored(built_source)
    built.refresh_from_db()
    assert (built.state, built.error, built.log) == (BuildState.SUCCEEDED, "", "")
    build_fail(build=pending_elsewhere, error="Build failed")  # the last build that needed it
    assert not _stored(shared_source)
