import pytest

from hosts.drivers.memory import MemoryHostDriver
from hosts.services import host_register_local
from tests.api.resources import AppResourceTests
from tests.factories import deploy, make_app, make_release

pytestmark = pytest.mark.django_db


class TestReleases(AppResourceTests):
    path = "releases/"


class TestReleaseDetail(AppResourceTests):
    path = "releases/v1/"


class TestReleaseDiff(AppResourceTests):
    path = "releases/diff/?from=1&to=1"


def test_releases_are_listed_newest_first(api, user):
    app = make_app("shop", owner=user)
    deploy(app)
    deploy(app)
    assert [release["version"] for release in api.get("/api/apps/shop/releases/").json()] == [2, 1]


def test_one_release_with_its_config(api, user):
    deploy(make_app("shop", owner=user), config={"DEBUG": "1"})
    body = api.get("/api/apps/shop/releases/v1/").json()
    assert body["version"] == 1 and body["config"] == {"DEBUG": "1"} and body["processes"] == {"web": "python app.py"}
    assert api.get("/api/apps/shop/releases/v2/").status_code == 404
    assert api.get("/api/apps/shop/releases/v99999999999999999999/").status_code == 404


def test_diff_masks_values_unless_asked(api, user):
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "a", "clock": "c"}, config={"KEEP": "1", "OLD": "x", "CHANGED": "before"})
    deploy(app, processes={"web": "b", "worker": "w"}, config={"KEEP": "1", "NEW": "y", "CHANGED": "after"})
    diff = api.get("/api/apps/shop/releases/diff/?from=1&to=2").json()
    assert diff["from"]["version"] == 1 and diff["to"]["version"] == 2
    assert list(diff["config"]["added"]) == ["NEW"] and list(diff["config"]["removed"]) == ["OLD"]
    assert list(diff["config"]["changed"]) == ["CHANGED"] and "after" not in str(diff)
    assert diff["processes"] == {
        "added": {"worker": "w"},
        "removed": {"clock": "c"},
        "changed": {"web": {"from": "a", "to": "b"}},
    }
    shown = api.get("/api/apps/shop/releases/diff/?from=1&to=2&show_values=true").json()
    assert shown["config"]["changed"]["CHANGED"] == {"from": "before", "to": "after"}


def test_diff_needs_two_versions(api, user):
    deploy(make_app("shop", owner=user))
    response = api.get("/api/apps/shop/releases/diff/?from=1")
    assert response.status_code == 400 and "to_version" in response.json()["error"]
    assert api.get("/api/apps/shop/releases/diff/?from=1&to=5").status_code == 404


def test_rollback_copies_the_previous_release_and_deploys_it(api, user):
    host_register_local()
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "one"}, config={"V": "1"})
    deploy(app, processes={"web": "two"}, config={"V": "2"})
    response = api.post("/api/apps/shop/releases/rollback/", {}, format="json")
    assert response.status_code == 201
    assert response.json()["version"] == 3 and response.json()["description"] == "Rollback to v1"
    assert api.get("/api/apps/shop/releases/v3/").json()["config"] == {"V": "1"}
    assert api.get("/api/apps/shop/formation/").json()["release"] == 3
    assert api.get("/api/apps/shop/events/").json()[0]["action"] == "rollback"


def test_rollback_to_a_named_version(api, user):
    host_register_local()
    app = make_app("shop", owner=user)
    for _ in range(3):
        deploy(app)
    response = api.post("/api/apps/shop/releases/rollback/", {"version": 1}, format="json")
    assert response.status_code == 201 and response.json()["description"] == "Rollback to v1"
    assert api.post("/api/apps/shop/releases/rollback/", {"version": 9}, format="json").status_code == 404


def test_rollback_with_nothing_to_go_back_to_is_400(api, user):
    deploy(make_app("shop", owner=user))
    response = api.post("/api/apps/shop/releases/rollback/", {}, format="json")
    assert response.status_code == 400 and "no earlier release" in response.json()["error"]


def test_rollback_to_a_release_whose_image_is_gone_is_409(api, user):
    MemoryHostDriver.for_host(host_register_local().name).image_remove("paas-app/shop:old")
    app = make_app("shop", owner=user)
    make_release(app, image="paas-app/shop:old")
    deploy(app)
    response = api.post("/api/apps/shop/releases/rollback/", {"version": 1}, format="json")
    assert response.status_code == 409 and "paas-app/shop:old is no longer on any host" in response.json()["error"]
    assert api.get("/api/apps/shop/formation/").json()["release"] == 2
