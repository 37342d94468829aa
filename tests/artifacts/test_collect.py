"""The collection of old runtime images, slugs, build caches and build containers; rollbacks to what it removed."""

import hashlib
import logging
import time

import pytest

from apps.models import App
from artifacts.blobstore import blob_exists, blob_path, blob_put_file
from artifacts.collect import garbage_collect
from artifacts.models import Artifact
from artifacts.services import artifact_create
from buildpacks.services import cache_volume_name
from buildpacks.stack import stack_image
from formations.models import Formation
from formations.services import formation_deploy, release_rollback
from hosts.engine import MemoryBuildEngine
from paas.errors import Conflict, NotFound
from paas.services import app_destroy
from releases.services import release_create
from scheduler.loop import SchedulerLoop
from scheduler.models import Job, JobState
from scheduler.services import reconcile
from tests.factories import make_app

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def engine():
    """The in-memory build engine, with the stack image, and nothing else yet."""
    MemoryBuildEngine.collection_reset()
    MemoryBuildEngine.images[stack_image()] = {}
    yield MemoryBuildEngine()
    MemoryBuildEngine.collection_reset()
    MemoryBuildEngine.images.pop(stack_image(), None)


@pytest.fixture
def pushes(tmp_path):
    """Deploys "builds" of an app: each an artifact with its own slug (or the one of `content`), released, deployed."""

    def push(app, count: int = 1, content: str | None = None):
        releases = []
        for _ in range(count):
            number = Artifact.objects.filter(app=app).count() + 1
            slug = tmp_path / f"{app.name}-{number}.tar"
            slug.write_text(content or f"the slug of {app.name} build {number}")
            digest, size = blob_put_file(slug)
            artifact = artifact_create(
                app=app,
                image=f"paas-app/{app.name}:unittest-build-{number}",
                image_id=f"sha256:{number:064x}",
                revision=f"{number:07x}" + "0" * 33,
                slug_digest=digest,
                slug_size=size,
            )
            release = release_create(app=app, artifact=artifact, processes={"web": "serve"}, actor=app.owner)
            formation_deploy(app=app, release=release, actor=app.owner)
            releases.append(release)
        return releases

    return push


def _slug_present(release) -> bool:
    try:
        blob_path(release.artifact.slug_digest)
    except NotFound:
        return False
    return True


def test_only_the_last_releases_keep_their_images_and_slugs(driver, pushes, settings):
    settings.PAAS_KEEP_RELEASES, settings.PAAS_KEEP_SLUGS = 5, 7
    app = make_app()
    releases = pushes(app, 10)
    collected = garbage_collect()
    assert driver.images_gone == {release.artifact.image for release in releases[:5]}
    assert sorted(collected.images) == sorted(release.artifact.image for release in releases[:5])
    assert [_slug_present(release) for release in releases] == [False] * 3 + [True] * 7
    assert collected.slugs == sorted(release.artifact.slug_digest for release in releases[:3])
    removed = Artifact.objects.filter(image_removed_at__isnull=False)
    assert set(removed.values_list("pk", flat=True)) == {release.artifact_id for release in releases[:5]}
    assert Artifact.objects.count() == 10  # rows stay: releases are immutable, and protect their artifact
    assert not garbage_collect()  # nothing more to do
    assert len(driver.images_gone) == 5


def test_a_release_with_a_job_still_running_is_kept(driver, pushes, settings):
    settings.PAAS_KEEP_RELEASES, settings.PAAS_KEEP_SLUGS = 2, 2
    app = make_app()
    first = pushes(app)[0]
    reconcile()
    assert Job.objects.get(release=first).state == JobState.UP
    later = pushes(app, 5)  # not reconciled: v1's job runs on
    garbage_collect()
    assert driver.images_gone == {release.artifact.image for release in later[:3]}
    assert _slug_present(first) and not _slug_present(later[0])
    for _ in range(5):  # v6 rolls out: v1's job stops, and v6 becomes the one deployed
        reconcile()
    assert Job.objects.get(release=first).state == JobState.STOPPED
    garbage_collect()
    assert first.artifact.image in driver.images_gone and not _slug_present(first)


def test_a_slug_a_kept_release_shares_stays(driver, pushes, settings):
    settings.PAAS_KEEP_RELEASES, settings.PAAS_KEEP_SLUGS = 2, 2
    app = make_app()
    first = pushes(app, content="the same slug")[0]
    middle = pushes(app, 3)
    last = pushes(app, content="the same slug")[0]  # the same content: the same blob
    assert first.artifact.slug_digest == last.artifact.slug_digest
    garbage_collect()
    assert first.artifact.image in driver.images_gone and last.artifact.image not in driver.images_gone
    assert _slug_present(first) and _slug_present(last)
    assert [_slug_present(release) for release in middle] == [False, False, True]


def test_another_apps_kept_slug_is_not_deleted(driver, pushes, settings):
    settings.PAAS_KEEP_RELEASES, settings.PAAS_KEEP_SLUGS = 1, 1
    old = pushes(make_app("one"), content="alike")[0]
    pushes(old.app)
    other = pushes(make_app("two"), content="alike")[0]
    garbage_collect()
    assert old.artifact.image in driver.images_gone
    assert _slug_present(other)


def test_images_and_caches_of_apps_that_no_longer_exist_are_removed(driver, engine, pushes):
    gone, kept = make_app("gone"), make_app("kept")
    pushes(gone, 2)
    pushes(kept)
    reconcile()
    driver.images |= {"paas-app/gone:unittest-build-1", "paas-app/gone:otherplatform-build-1", "python:3.12"}
    engine.cache_volumes |= {cache_volume_name("gone"), cache_volume_name("kept"), "paas-cache-otherplatform-gone"}
    # Destroyed, but the platform stopped before removing what the app left outside the database (the removal
    # runs once the transaction commits: here, never).
    app_destroy(app=gone, actor=gone.owner, confirm="gone")
    assert not App.objects.filter(name="gone").exists() and not driver.images_gone
    collected = garbage_collect()
    assert sorted(collected.orphan_images) == ["paas-app/gone:unittest-build-1", "paas-app/gone:unittest-build-2"]
    assert driver.images_gone == set(collected.orphan_images)
    assert driver.app_images() == ["paas-app/kept:unittest-build-1"]
    assert collected.caches == [cache_volume_name("gone")]
    assert engine.cache_volumes == {cache_volume_name("kept"), "paas-cache-otherplatform-gone"}


def test_build_containers_older_than_the_build_timeout_are_removed(driver, engine, settings):
    settings.PAAS_BUILD_TIMEOUT = 60
    engine.build_containers.update({"left-behind": time.time() - 3600, "building": time.time() - 30})
    assert garbage_collect().build_containers == 1
    assert list(engine.build_containers) == ["building"]


def test_a_host_that_fails_keeps_the_artifact_for_the_next_collection(driver, pushes, settings):
    settings.PAAS_KEEP_RELEASES = 1
    app = make_app()
    first = pushes(app, 2)[0]
    driver.failing.add("image_remove")
    assert garbage_collect().images == []
    assert Artifact.objects.get(pk=first.artifact_id).image_removed_at is None
    driver.failing.clear()
    assert garbage_collect().images == [first.artifact.image]


def test_rollback_to_a_collected_release_makes_its_image_again_from_the_slug(driver, engine, pushes, settings):
    settings.PAAS_KEEP_RELEASES = 2
    app = make_app()
    first = pushes(app, 4)[0]
    garbage_collect()
    assert first.artifact.image in driver.images_gone
    release = release_rollback(app=app, actor=app.owner, version=1)
    assert (release.version, release.description) == (5, "Rollback to v1")
    restored = release.artifact
    assert restored.pk != first.artifact_id
    assert restored.image.startswith(f"paas-app/myapp:unittest-restore-{first.artifact_id}-")
    assert (restored.slug_digest, restored.revision) == (first.artifact.slug_digest, first.artifact.revision)
    assert restored.image_id == engine.image_id(restored.image)
    reference, archives = engine.commits[-1]
    assert reference == restored.image and archives == [("/", b"the slug of myapp build 1")]
    assert Formation.objects.get(app=app).release == release
    reconcile()
    job = Job.objects.get(release=release)
    assert driver.specs[job.container_id].image == restored.image
    garbage_collect()
    assert restored.image not in driver.images_gone


def test_rollback_to_a_release_whose_slug_was_collected_too_is_409(driver, engine, pushes, settings):
    settings.PAAS_KEEP_RELEASES, settings.PAAS_KEEP_SLUGS = 2, 2
    app = make_app()
    releases = pushes(app, 4)
    garbage_collect()
    with pytest.raises(Conflict) as refused:
        release_rollback(app=app, actor=app.owner, version=1)
    assert str(refused.value) == (
        "v1's image and slug were removed by the collection (PAAS_KEEP_RELEASES=2 images, PAAS_KEEP_SLUGS=2 slugs); "
        "it cannot come back: push that revision (0000001) again"
    )
    assert Formation.objects.get(app=app).release.version == 4
    kept = release_rollback(app=app, actor=app.owner, version=3)  # its image is still there: no rebuild
    assert kept.artifact_id == releases[2].artifact_id and engine.commits == []


def test_the_scheduler_loop_collects_at_its_interval_and_survives_a_failing_collection(
    driver, monkeypatch, settings, caplog
):
    settings.PAAS_COLLECT_INTERVAL = 600
    calls = []

    def collect():
        calls.append(1)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("artifacts.collect.garbage_collect", collect)
    loop = SchedulerLoop(interval=1)
    with caplog.at_level(logging.ERROR, logger="paas.scheduler"):
        loop.collect_when_due()
        loop.collect_when_due()  # not due again for 600 s
    assert calls == [1] and "collection failed" in caplog.text
    loop.collected_at -= 601
    loop.collect_when_due()
    assert calls == [1, 1]


def test_sources_of_ended_builds_are_removed_and_those_of_builds_to_come_stay(tmp_path):
    from buildpacks.models import Build, BuildState

    app = make_app()
    digests = []
    for number, state in enumerate((BuildState.SUCCEEDED, BuildState.FAILED, BuildState.PENDING, BuildState.BUILDING)):
        source = tmp_path / f"source-{number}.tar"
        source.write_text(f"source {number}, {state}")
        digest, _ = blob_put_file(source)
        revision = f"{number}" * 40
        Build.objects.create(app=app, revision=revision, source_digest=digest, state=state, created_by=app.owner)
        digests.append(digest)
    collected = garbage_collect()
    assert sorted(collected.sources) == sorted(digests[:2])
    assert [blob_exists(digest) for digest in digests] == [False, False, True, True]


def test_a_source_another_build_let_go_while_this_one_was_recorded_is_stored_again(tmp_path, monkeypatch):
    from buildpacks import services
    from buildpacks.models import Build

    app = make_app()
    source = tmp_path / "source.tar"
    source.write_text("the same tree, pushed twice")
    recorded = services._quota_check_builds

    digest = f"sha256:{hashlib.sha256(source.read_bytes()).hexdigest()}"

    def meanwhile(actor, lock=False):  # as the row is recorded, an ended build of the same tree releases the blob
        if lock:
            services.blobs_release_unused(digests={digest})
        return recorded(actor, lock=lock)

    monkeypatch.setattr(services, "_quota_check_builds", meanwhile)
    monkeypatch.setattr(services, "build_enqueue", lambda build_id: None)
    build = services.build_create(app=app, actor=app.owner, revision="a" * 40, source_path=source)
    assert Build.objects.get(pk=build.pk).source_digest == build.source_digest
    assert blob_exists(build.source_digest)
