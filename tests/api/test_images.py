"""Image deploys through the REST API, on the in-memory build engine and host driver."""

import io
import json
import tarfile

import pytest

from hosts.engine import MemoryBuildEngine
from releases.models import Release
from tests.factories import make_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setattr(
        MemoryBuildEngine, "images", {"web/site:1": {"Cmd": ["serve"], "ExposedPorts": {"7000/tcp": {}}}}
    )
    return MemoryBuildEngine


def test_an_image_the_engine_has_becomes_a_release_under_the_apps_name(api, user, engine, driver):
    make_app("shop", owner=user)
    response = api.post("/api/apps/shop/images/", {"image": "web/site:1"}, format="json")
    assert response.status_code == 201, response.json()
    release = Release.objects.get(app__name="shop", version=response.json()["release"])
    assert release.processes == {"web": ""} and release.description == "Deploy image web/site:1"
    assert release.artifact.image.startswith("paas-app/shop:") and release.artifact.port == 7000
    assert release.artifact.image in engine.images  # tagged as the app's, so clean-up knows whose it is


@pytest.mark.parametrize(
    ("image", "problem"),
    [("nosuch/image:1", "has no image nosuch/image:1"), ("Bad Name!", "is not a Docker image reference")],
)
def test_an_image_the_engine_lacks_or_a_bad_name_is_a_400(api, user, engine, image, problem):
    make_app("shop", owner=user)
    response = api.post("/api/apps/shop/images/", {"image": image}, format="json")
    assert response.status_code == 400 and problem in response.json()["error"]
    assert not Release.objects.filter(app__name="shop").exists()


def _saved(images: list[str], tags: list[str] = ("web/site:2",)) -> bytes:
    """A `docker save` archive's manifest: one entry per image (its config id), each naming `tags`."""
    entries = [{"Config": image, "RepoTags": list(tags)} for image in images]
    data, manifest = io.BytesIO(), json.dumps(entries).encode()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return data.getvalue()


def test_an_uploaded_archive_is_loaded_and_released(api, user, engine, driver):
    make_app("shop", owner=user)
    response = api.put("/api/apps/shop/images/upload/", _saved(["web/site:1"]), content_type="application/x-tar")
    assert response.status_code == 201, response.json()
    assert Release.objects.get(app__name="shop").artifact.port == 7000


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "no image came"),
        (b"garbage", "not an image archive"),
        (_saved(["web/site:1", "web/site:1"]), "holds 2 images"),
    ],
)
def test_a_bad_upload_is_a_400_and_releases_nothing(api, user, engine, body, problem):
    make_app("shop", owner=user)
    response = api.put("/api/apps/shop/images/upload/", body, content_type="application/x-tar")
    assert response.status_code == 400 and problem in response.json()["error"]
    assert not Release.objects.filter(app__name="shop").exists()


def test_an_upload_over_the_limit_is_refused(api, user, engine, settings):
    settings.PAAS_IMAGE_MAX_BYTES = 100
    make_app("shop", owner=user)
    response = api.put("/api/apps/shop/images/upload/", _saved(["web/site:1"]), content_type="application/x-tar")
    assert response.status_code == 400 and "PAAS_IMAGE_MAX_BYTES" in response.json()["error"]


def test_another_users_app_is_not_found(api, engine):
    make_app("secret")
    response = api.post("/api/apps/secret/images/", {"image": "web/site:1"}, format="json")
    assert response.status_code == 404 and not Release.objects.exists()


def test_an_upload_cannot_name_its_image_as_another_apps_or_the_stack(api, user, engine, driver):
    make_app("shop", owner=user)
    victim = "paas-app/victim:abc-build-41"
    archive = _saved(["web/site:1"], tags=[victim, "paas/stack:bookworm-1"])
    response = api.put("/api/apps/shop/images/upload/", archive, content_type="application/x-tar")
    assert response.status_code == 201, response.json()
    assert victim not in engine.images and "paas/stack:bookworm-1" not in engine.images  # the names were dropped
    assert Release.objects.get(app__name="shop").artifact.image.startswith("paas-app/shop:")


@pytest.mark.parametrize("image", ["paas-app/victim:abc-build-41", "paas/stack:latest", "sha256:" + "a" * 64])
def test_images_the_platform_made_and_bare_ids_cannot_be_deployed_by_name(api, user, engine, image):
    make_app("shop", owner=user)
    engine.images[image] = {"Cmd": ["serve"]}
    response = api.post("/api/apps/shop/images/", {"image": image}, format="json")
    assert response.status_code == 400 and "an image this platform made or an image id" in response.json()["error"]
