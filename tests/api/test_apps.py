from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apps.models import Event
from artifacts.blobstore import blob_path, blob_put_file
from artifacts.services import artifact_create
from buildpacks.services import cache_volume_name, repo_path
from formations.models import Formation
from hosts.drivers.memory import MemoryHostDriver
from hosts.engine import MemoryBuildEngine
from hosts.services import host_register_local
from paas.errors import NotFound
from releases.models import Release
from tests.api.resources import AppResourceTests
from tests.factories import deploy, make_app

pytestmark = pytest.mark.django_db


class TestAppDetail(AppResourceTests):
    path = ""


class TestAppEvents(AppResourceTests):
    path = "events/"


def test_requests_without_a_token_are_refused():
    response = APIClient().get("/api/apps/")
    assert response.status_code == 401
    assert "credentials" in response.json()["error"]


def test_api_root_tells_the_user_and_ports(api):
    body = api.get("/api/").json()
    assert body["user"] == "alice" and body["ssh_port"] == 2222 and body["router_port"] == 8080
    assert body["is_staff"] is False and body["version"]


def test_create_and_list_apps(api):
    response = api.post("/api/apps/", {"name": "shop"}, format="json")
    assert response.status_code == 201 and response.json()["name"] == "shop"
    assert [app["name"] for app in api.get("/api/apps/").json()] == ["shop"]
    assert Formation.objects.filter(app__name="shop", counts={}).exists()


def test_an_invalid_app_name_gets_the_naming_rule(api):
    response = api.post("/api/apps/", {"name": "Bad_Name"}, format="json")
    assert response.status_code == 400
    assert "lowercase letters, digits and dashes" in response.json()["error"]


def test_a_taken_app_name_is_409(api):
    api.post("/api/apps/", {"name": "shop"}, format="json")
    assert api.post("/api/apps/", {"name": "shop"}, format="json").status_code == 409


def test_a_malformed_body_is_a_json_error(api):
    response = api.post("/api/apps/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["error"]


def test_other_users_apps_are_invisible(api):
    make_app("secret")
    assert api.get("/api/apps/").json() == []
    assert api.get("/api/apps/secret/").status_code == 404
    assert api.patch("/api/apps/secret/formation/", {"counts": {"web": 2}}, format="json").status_code == 404
    assert api.delete("/api/apps/secret/", {"confirm": "secret"}, format="json").status_code == 404


def test_destroy_needs_the_name_as_confirmation(api, user):
    make_app("shop", owner=user)
    response = api.delete("/api/apps/shop/", {"confirm": "shoe"}, format="json")
    assert response.status_code == 400 and "--confirm shop" in response.json()["error"]
    assert api.delete("/api/apps/shop/", format="json").status_code == 400
    assert api.get("/api/apps/shop/").status_code == 200


def test_destroy_removes_everything_and_a_new_app_of_that_name_starts_empty(
    api, user, django_capture_on_commit_callbacks
):
    app = make_app("shop", owner=user)
    deploy(app)
    repo = Path(repo_path("shop"))
    (repo / "objects").mkdir(parents=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete("/api/apps/shop/", {"confirm": "shop"}, format="json").status_code == 204
    assert api.get("/api/apps/shop/").status_code == 404 and not repo.exists()
    assert api.post("/api/apps/", {"name": "shop"}, format="json").status_code == 201
    assert api.get("/api/apps/shop/releases/").json() == []
    assert [event["action"] for event in api.get("/api/apps/shop/events/").json()] == ["app.create"]
    assert not Release.objects.filter(app__name="shop").exists()


def test_events_record_who_did_what_and_never_config_values(api, user):
    api.post("/api/apps/", {"name": "shop"}, format="json")
    api.patch("/api/apps/shop/config/", {"SECRET": "hunter2"}, format="json")
    events = api.get("/api/apps/shop/events/").json()
    assert [(event["action"], event["actor"]) for event in events] == [("config", "alice"), ("app.create", "alice")]
    assert "SECRET" in events[0]["detail"] and "hunter2" not in str(events)


def test_destroy_removes_images_cache_and_only_unshared_slugs(api, user, tmp_path, django_capture_on_commit_callbacks):
    host = host_register_local()
    slug, shared = tmp_path / "slug.tar", tmp_path / "shared.tar"
    slug.write_bytes(b"only shop's slug")
    shared.write_bytes(b"a slug two apps built alike")
    own_digest, _ = blob_put_file(slug)
    shared_digest, _ = blob_put_file(shared)
    shop = make_app("shop", owner=user)
    for digest in (own_digest, shared_digest):
        artifact_create(app=shop, image=f"paas-app/shop:{digest[7:15]}", image_id="sha256:1", slug_digest=digest)
    artifact_create(app=make_app("other"), image="paas-app/other:1", image_id="sha256:2", slug_digest=shared_digest)
    with django_capture_on_commit_callbacks(execute=True):
        api.delete("/api/apps/shop/", {"confirm": "shop"}, format="json")
    assert MemoryHostDriver.for_host(host.name).images_gone == {
        f"paas-app/shop:{own_digest[7:15]}",
        f"paas-app/shop:{shared_digest[7:15]}",
    }
    assert cache_volume_name("shop") in MemoryBuildEngine.volumes_removed
    assert blob_path(shared_digest).exists()
    with pytest.raises(NotFound):
        blob_path(own_digest)


def test_platform_wide_events_are_for_staff(api, user):
    make_app("theirs")
    api.post("/api/apps/", {"name": "mine"}, format="json")
    assert {event["app"] for event in api.get("/api/events/").json()} == {"mine"}
    user.is_staff = True
    user.save()
    assert {event["app"] for event in api.get("/api/events/").json()} == {"mine", "theirs"}
    assert Event.objects.count() == 2


def test_json_nested_too_deep_is_a_400_not_a_500(api):
    response = api.post("/api/apps/", "[" * 100_000 + "]" * 100_000, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]


def test_a_form_body_is_415(api):
    response = api.post("/api/apps/", {"name": "shop"})
    assert response.status_code == 415 and "application/json" in response.json()["error"]
