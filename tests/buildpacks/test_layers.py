"""Dependency layers: a buildpack build's installed dependencies stored and committed once, reused while they do not
change, kept and collected with the releases that use them, and brought back for a rollback."""

import io
import tarfile
from pathlib import Path

import pytest
from django.conf import settings

from artifacts.blobstore import blob_delete, blob_exists, blob_path
from artifacts.collect import garbage_collect
from buildpacks.layers import layer_image_reference
from buildpacks.models import BuildState
from buildpacks.stack import stack_image
from formations.services import release_rollback
from hosts.engine import LAYER_DIR, MemoryBuildEngine
from scheduler.models import Job
from scheduler.services import reconcile
from tests.factories import make_app

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("engine")]

SOURCE = {"requirements.txt": b"flask\n", "app.py": b"VERSION = 1\n", "Procfile": b"web: gunicorn app:app\n"}
KEY_A, KEY_B = "a" * 64, "b" * 64
RELEASE = b"---\ndefault_process_types: {}\n"


def layered(key: str, venv: bytes = b"flask 3.1"):
    """A build whose buildpack leaves a virtualenv as a dependency layer of key `key`."""

    def builder(files, env, env_dir, on_output):
        assert env["PAAS_LAYERS_FILE"] == f"{LAYER_DIR}/declared"
        on_output("-----> Python app detected\n")
        return 0, {**files, ".release": RELEASE}, {"key": key, "files": {".venv/lib/flask.py": venv}}

    return builder


def _tar_names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {member.name for member in tar.getmembers() if member.isfile()}


def _layer_image(app_name: str, key: str) -> str:
    return layer_image_reference(MemoryBuildEngine().image_id(stack_image()), app_name, key)


def test_the_first_build_stores_the_layer_and_commits_it_under_the_slug(push, engine):
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    build = push(app, SOURCE)

    assert build.state == BuildState.SUCCEEDED, build.log
    artifact = build.release.artifact
    assert artifact.layer_key == KEY_A
    layer = blob_path(artifact.layer_digest).read_bytes()
    assert artifact.layer_size == len(layer) and _tar_names(layer) == {"app/.venv/lib/flask.py"}
    assert _tar_names(blob_path(artifact.slug_digest).read_bytes()) == {f"app/{name}" for name in SOURCE} | {
        "app/.release"
    }
    assert "-----> Storing the dependency layer (" in build.log
    assert "Reusing the dependency layer" not in build.log

    # The layer image is the stack plus the layer; the runtime image is the layer image plus the slug.
    layer_image = _layer_image("myapp", KEY_A)
    assert layer_image.startswith(f"paas-app/myapp:{settings.PAAS_INSTANCE}-layer-")
    (layer_ref, layer_archives), (runtime_ref, runtime_archives) = engine.commits
    assert layer_ref == layer_image and layer_archives == [("/", layer)]
    assert runtime_ref == artifact.image and runtime_archives == [("/", blob_path(artifact.slug_digest).read_bytes())]
    assert engine.images[layer_image]["Labels"]["paas.layer"] == KEY_A
    _compiling, layering, committing = engine.containers
    assert layering.image == stack_image() and committing.image == layer_image


def test_a_push_with_the_same_dependencies_reuses_the_layer_and_commits_only_its_code(push, engine):
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    first = push(app, SOURCE).release.artifact
    engine.commits.clear()
    second = push(app, {**SOURCE, "app.py": b"VERSION = 2\n"})

    assert second.state == BuildState.SUCCEEDED, second.log
    assert "-----> Reusing the dependency layer (" in second.log
    assert "Storing the dependency layer" not in second.log
    artifact = second.release.artifact
    assert (artifact.layer_key, artifact.layer_digest) == (KEY_A, first.layer_digest)
    [(reference, archives)] = engine.commits  # the runtime image only: the layer image is there already
    assert reference == artifact.image
    assert engine.containers[-1].image == _layer_image("myapp", KEY_A)
    # The build started from the layer image, its virtualenv in place, and the builder was told so.
    compiling = engine.containers[-2]
    assert compiling.image == _layer_image("myapp", KEY_A)
    assert compiling.env["PAAS_LAYERS_SEEDED"] == ".venv"
    assert compiling.layer == {"key": KEY_A, "files": {".venv/lib/flask.py": b"flask 3.1"}}


def test_the_first_build_starts_from_the_stack(push, engine):
    engine.builder = layered(KEY_A)
    push(make_app("myapp"), SOURCE)
    compiling = engine.containers[0]
    assert compiling.image == stack_image() and "PAAS_LAYERS_SEEDED" not in compiling.env


def test_a_build_after_one_without_a_layer_starts_from_the_stack(push, engine):
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    push(app, SOURCE)
    engine.builder = None  # the default builder declares no layer
    push(app, {**SOURCE, "app.py": b"VERSION = 2\n"})
    engine.builder = layered(KEY_A)
    push(app, {**SOURCE, "app.py": b"VERSION = 3\n"})
    compiling = engine.containers[-2]
    assert compiling.image == stack_image() and "PAAS_LAYERS_SEEDED" not in compiling.env


def test_a_source_with_a_directory_named_as_the_layer_starts_from_the_stack(push, engine):
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    push(app, SOURCE)
    push(app, {**SOURCE, ".venv/bin/python": b"a committed virtualenv"})
    compiling = engine.containers[-2]
    assert compiling.image == stack_image() and "PAAS_LAYERS_SEEDED" not in compiling.env


def test_changed_dependencies_make_a_new_layer(push, engine):
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    first = push(app, SOURCE).release.artifact
    engine.builder = layered(KEY_B, venv=b"flask 3.2")
    second = push(app, {**SOURCE, "requirements.txt": b"flask==3.2\n"}).release.artifact

    assert second.layer_key == KEY_B and second.layer_digest != first.layer_digest
    assert _tar_names(blob_path(second.layer_digest).read_bytes()) == {"app/.venv/lib/flask.py"}
    assert engine.containers[-1].image == _layer_image("myapp", KEY_B)


def test_a_layer_whose_blob_is_gone_is_stored_again(push, engine):
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    first = push(app, SOURCE).release.artifact
    blob_delete(first.layer_digest)
    second = push(app, {**SOURCE, "app.py": b"VERSION = 2\n"})
    assert "-----> Storing the dependency layer (" in second.log
    assert blob_exists(second.release.artifact.layer_digest)


def test_a_build_that_declares_no_layer_keeps_everything_in_its_slug(push, engine):
    app = make_app("myapp")
    build = push(app, SOURCE)  # the default builder declares nothing
    artifact = build.release.artifact
    assert (artifact.layer_key, artifact.layer_digest, artifact.layer_size) == ("", "", None)
    assert engine.containers[-1].image == stack_image()
    assert "dependency layer" not in build.log


def test_a_build_failing_after_its_layer_was_stored_leaves_no_blob(push, engine, settings):
    app = make_app("myapp")
    engine.builder = layered(KEY_A, venv=b"a layer no other test stores")
    settings.PAAS_SLUG_MAX_BYTES = 14000  # the layer fits; the slug (with a large file) does not
    blobs = Path(settings.DATA_DIR) / "blobs"
    before = set(blobs.rglob("*/*/*"))
    build = push(app, {**SOURCE, "big.bin": b"x" * 15000})
    assert build.state == BuildState.FAILED and "the slug with its dependencies is larger than" in build.error
    assert "-----> Storing the dependency layer (" in build.log
    assert set(blobs.rglob("*/*/*")) == before  # the source and the layer both went


def test_the_collection_keeps_layer_images_in_use_and_removes_the_others(push, engine, driver, settings):
    settings.PAAS_KEEP_RELEASES, settings.PAAS_KEEP_SLUGS = 1, 1
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    first = push(app, SOURCE).release.artifact
    engine.builder = layered(KEY_B, venv=b"flask 3.2")
    second = push(app, {**SOURCE, "requirements.txt": b"flask==3.2\n"}).release.artifact
    old, new = _layer_image("myapp", KEY_A), _layer_image("myapp", KEY_B)
    driver.images |= {old, new}  # the host has what the engine committed

    collected = garbage_collect()
    assert old in collected.images and new not in collected.images
    assert old in driver.images_gone and new not in driver.images_gone
    assert not blob_exists(first.layer_digest) and blob_exists(second.layer_digest)


def test_the_collection_leaves_the_layer_images_of_an_app_that_is_building(push, engine, driver, settings):
    from buildpacks.models import Build

    settings.PAAS_KEEP_RELEASES = 1
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    push(app, SOURCE)
    engine.builder = layered(KEY_B, venv=b"flask 3.2")
    push(app, {**SOURCE, "requirements.txt": b"flask==3.2\n"})
    old = _layer_image("myapp", KEY_A)
    driver.images.add(old)
    Build.objects.create(app=app, revision="f" * 40, source_digest="sha256:" + "0" * 64, created_by=app.owner)
    assert old not in garbage_collect().images
    assert old not in driver.images_gone


def test_rollback_to_a_collected_release_makes_its_layer_image_again_from_the_blob(push, engine, driver, settings):
    settings.PAAS_KEEP_RELEASES = 1
    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    first = push(app, SOURCE).release.artifact
    engine.builder = layered(KEY_B, venv=b"flask 3.2")
    push(app, {**SOURCE, "requirements.txt": b"flask==3.2\n"})
    layer_image = _layer_image("myapp", KEY_A)
    driver.images.add(layer_image)
    garbage_collect()
    engine.images.pop(layer_image)  # what the collection removed, the engine no longer has
    engine.commits.clear()

    release = release_rollback(app=app, actor=app.owner, version=1)
    restored = release.artifact
    assert (restored.layer_key, restored.layer_digest, restored.slug_digest) == (
        KEY_A,
        first.layer_digest,
        first.slug_digest,
    )
    (layer_ref, layer_archives), (runtime_ref, _) = engine.commits
    assert layer_ref == layer_image and layer_archives == [("/", blob_path(first.layer_digest).read_bytes())]
    assert runtime_ref == restored.image
    reconcile()
    assert driver.specs[Job.objects.get(release=release).container_id].image == restored.image


def test_after_ten_pushes_only_what_the_kept_releases_use_remains(push, engine, driver):
    """With the default settings (PAAS_KEEP_RELEASES=5, and as many slugs), pushes that change code, and twice
    their dependencies."""
    app = make_app("myapp")
    builds = []
    for number in range(1, 11):
        key = KEY_A if number <= 4 else KEY_B if number <= 8 else "c" * 64
        engine.builder = layered(key, venv=f"dependencies {key[0]}".encode())
        builds.append(push(app, {**SOURCE, "app.py": f"VERSION = {number}\n".encode()}))
    artifacts = [build.release.artifact for build in builds]
    driver.images |= {artifact.image for artifact in artifacts}
    driver.images |= {_layer_image("myapp", key) for key in (KEY_A, KEY_B, "c" * 64)}

    garbage_collect()
    kept, gone = artifacts[5:], artifacts[:5]
    on_host = set(driver.app_images())
    assert on_host == {artifact.image for artifact in kept} | {
        _layer_image("myapp", KEY_B),
        _layer_image("myapp", "c" * 64),
    }
    assert all(blob_exists(artifact.slug_digest) and blob_exists(artifact.layer_digest) for artifact in kept)
    assert not any(blob_exists(artifact.slug_digest) for artifact in gone)
    assert not blob_exists(artifacts[0].layer_digest)  # KEY_A's layer: only the collected releases had it
    assert not any(blob_exists(build.source_digest) for build in builds)  # each build let its source go


def test_purging_the_cache_makes_the_next_build_start_afresh(push, engine):
    from buildpacks.services import build_cache_purge

    app = make_app("myapp")
    engine.builder = layered(KEY_A)
    push(app, SOURCE)
    build_cache_purge(app=app, actor=app.owner)
    assert _layer_image("myapp", KEY_A) not in engine.images
    push(app, {**SOURCE, "app.py": b"VERSION = 2\n"})
    compiling = engine.containers[-2]
    assert compiling.image == stack_image() and "PAAS_LAYERS_SEEDED" not in compiling.env
