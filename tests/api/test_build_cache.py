"""`paas builds purge-cache` through the REST API."""

import pytest

from apps.models import Event
from buildpacks.models import Build, BuildState
from hosts.engine import MemoryBuildEngine
from tests.factories import make_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def removed(monkeypatch):
    monkeypatch.setattr(MemoryBuildEngine, "volumes_removed", [])
    return MemoryBuildEngine.volumes_removed


def test_purging_removes_the_apps_cache_volume_and_says_who(api, user, removed, settings):
    make_app("shop", owner=user)
    response = api.delete("/api/apps/shop/builds/cache/")
    assert response.status_code == 204
    assert removed == [f"paas-cache-{settings.PAAS_INSTANCE}-shop"]
    assert Event.objects.filter(app__name="shop", detail="build cache purged", actor=user).exists()


def test_a_running_build_keeps_its_cache(api, user, removed):
    app = make_app("shop", owner=user)
    Build.objects.create(app=app, revision="a" * 40, source_digest="sha256:" + "0" * 64, state=BuildState.BUILDING)
    response = api.delete("/api/apps/shop/builds/cache/")
    assert response.status_code == 409 and "is running and using the cache" in response.json()["error"]
    assert removed == []


def test_another_users_cache_is_not_found(api, removed):
    make_app("secret")
    assert api.delete("/api/apps/secret/builds/cache/").status_code == 404 and removed == []
