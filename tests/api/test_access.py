"""An app's collaborators: listed by anyone who may see the app, changed by its owner or staff."""

import pytest

from apps.models import Event, EventAction
from tests.api.conftest import client_for
from tests.api.resources import AppResourceTests
from tests.factories import UserFactory, deploy, make_app

pytestmark = pytest.mark.django_db


class TestAppAccess(AppResourceTests):
    path = "access/"


@pytest.fixture
def bob():
    return UserFactory(username="bob")


def test_the_owner_adds_lists_and_removes_a_collaborator(api, bob):
    api.post("/api/apps/", {"name": "shop"}, format="json")
    added = api.post("/api/apps/shop/access/", {"username": "bob"}, format="json")
    assert added.status_code == 201 and added.json()["user"] == "bob" and added.json()["role"] == "collaborator"
    listed = api.get("/api/apps/shop/access/").json()
    assert [(row["user"], row["role"]) for row in listed] == [("alice", "owner"), ("bob", "collaborator")]
    assert client_for(bob).get("/api/apps/shop/access/").json() == listed
    assert api.delete("/api/apps/shop/access/bob/").status_code == 204
    assert [row["user"] for row in api.get("/api/apps/shop/access/").json()] == ["alice"]
    details = list(Event.objects.filter(app__name="shop").values_list("action", "detail"))
    assert (EventAction.ACCESS_ADD, "added collaborator bob") in details
    assert (EventAction.ACCESS_REMOVE, "removed collaborator bob") in details


def test_a_collaborator_changes_the_app_but_not_who_has_access(api, bob):
    olive = UserFactory(username="olive")
    deploy(make_app("shop", owner=olive))
    client_for(olive).post("/api/apps/shop/access/", {"username": "alice"}, format="json")
    assert api.patch("/api/apps/shop/config/", {"GREETING": "hi"}, format="json").status_code == 200
    assert api.post("/api/apps/shop/restart/", {}, format="json").status_code == 200
    refused = api.post("/api/apps/shop/access/", {"username": "bob"}, format="json")
    assert refused.status_code == 403
    assert "only olive (the owner of shop) or staff may change who has access to shop" in refused.json()["error"]
    assert api.delete("/api/apps/shop/", {"confirm": "shop"}, format="json").status_code == 403


def test_staff_change_who_has_access_to_any_app(bob):
    make_app("shop")
    operator = client_for(UserFactory(is_staff=True))
    assert operator.post("/api/apps/shop/access/", {"username": "bob"}, format="json").status_code == 201
    assert client_for(bob).get("/api/apps/shop/").status_code == 200


@pytest.mark.parametrize(
    "username, status, message",
    [
        ("nobody", 404, "no user 'nobody'"),
        ("alice", 409, "alice owns shop; an owner needs no access added"),
        ("bob", 409, "bob is already a collaborator on shop"),
    ],
)
def test_adding_refusals(api, bob, username, status, message):
    api.post("/api/apps/", {"name": "shop"}, format="json")
    api.post("/api/apps/shop/access/", {"username": "bob"}, format="json")
    response = api.post("/api/apps/shop/access/", {"username": username}, format="json")
    assert response.status_code == status and message in response.json()["error"]


def test_removing_someone_who_is_not_a_collaborator_is_404(api):
    api.post("/api/apps/", {"name": "shop"}, format="json")
    response = api.delete("/api/apps/shop/access/nobody/")
    assert response.status_code == 404 and "'nobody' is not a collaborator on shop" in response.json()["error"]
