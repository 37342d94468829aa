import asyncssh
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory, deploy, make_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory(username="alice")


@pytest.fixture
def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_requests_without_a_token_are_refused():
    response = APIClient().get("/api/apps/")
    assert response.status_code == 401
    assert "credentials" in response.json()["error"]


def test_api_root_tells_the_user_and_ports(api):
    body = api.get("/api/").json()
    assert body["user"] == "alice" and body["ssh_port"] == 2222 and body["router_port"] == 8080


def test_create_and_list_apps(api):
    response = api.post("/api/apps/", {"name": "shop"}, format="json")
    assert response.status_code == 201 and response.json()["name"] == "shop"
    assert [app["name"] for app in api.get("/api/apps/").json()] == ["shop"]


def test_an_invalid_app_name_gets_the_naming_rule(api):
    response = api.post("/api/apps/", {"name": "Bad_Name"}, format="json")
    assert response.status_code == 400
    assert "lowercase letters, digits and dashes" in response.json()["error"]


def test_a_taken_app_name_is_409(api):
    api.post("/api/apps/", {"name": "shop"}, format="json")
    assert api.post("/api/apps/", {"name": "shop"}, format="json").status_code == 409


def test_other_users_apps_are_invisible(api):
    make_app("secret")
    assert api.get("/api/apps/").json() == []
    assert api.get("/api/apps/secret/").status_code == 404
    assert api.patch("/api/apps/secret/formation/", {"counts": {"web": 2}}, format="json").status_code == 404


def test_keys_add_list_remove(api):
    public = asyncssh.generate_private_key("ssh-ed25519", comment="laptop").export_public_key().decode()
    added = api.post("/api/keys/", {"public_key": public}, format="json")
    assert added.status_code == 201
    fingerprint = added.json()["fingerprint"]
    assert [key["fingerprint"] for key in api.get("/api/keys/").json()] == [fingerprint]
    assert api.delete(f"/api/keys/{fingerprint}/").status_code == 204
    assert api.get("/api/keys/").json() == []


def test_a_bad_key_is_400(api):
    response = api.post("/api/keys/", {"public_key": "hello"}, format="json")
    assert response.status_code == 400 and "not a valid SSH public key" in response.json()["error"]


def test_scale_an_app(api, user):
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "serve", "worker": "work"})
    response = api.patch("/api/apps/shop/formation/", {"counts": {"web": 2}}, format="json")
    assert response.status_code == 200 and response.json()["counts"] == {"web": 2}


def test_scaling_an_unknown_process_type_names_the_known_ones(api, user):
    deploy(make_app("shop", owner=user))
    response = api.patch("/api/apps/shop/formation/", {"counts": {"worker": 1}}, format="json")
    assert response.status_code == 400
    assert "no process type 'worker'" in response.json()["error"] and "web" in response.json()["error"]


def test_scaling_before_any_deploy_says_to_push_first(api, user):
    make_app("shop", owner=user)
    response = api.patch("/api/apps/shop/formation/", {"counts": {"web": 1}}, format="json")
    assert response.status_code == 400 and "push code" in response.json()["error"]


def test_malformed_scale_request_is_400(api, user):
    deploy(make_app("shop", owner=user))
    response = api.patch("/api/apps/shop/formation/", {"counts": {"web": -1}}, format="json")
    assert response.status_code == 400


def test_releases_are_listed_newest_first(api, user):
    app = make_app("shop", owner=user)
    deploy(app)
    deploy(app)
    assert [release["version"] for release in api.get("/api/apps/shop/releases/").json()] == [2, 1]


@pytest.mark.parametrize("path", ["releases/", "jobs/", "builds/", "builds/1/", "formation/"])
def test_another_users_app_resources_are_404(api, path):
    deploy(make_app("secret"))
    response = api.get(f"/api/apps/secret/{path}")
    assert response.status_code == 404 and "not found" in response.json()["error"]


def test_hosts_are_for_operators_only(api, user):
    assert api.get("/api/hosts/").status_code == 403
    user.is_staff = True
    user.save()
    assert api.get("/api/hosts/").status_code == 200
