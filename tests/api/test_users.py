"""Users (made by staff, with a first token), API tokens (made, listed and revoked by their user), manage.py."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.models import ApiToken, Event, EventAction
from paas.bootstrap import admin_bootstrap
from tests.api.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return client_for(UserFactory(username="operator", is_staff=True))


def _as(key: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {key}")


def test_staff_create_a_user_whose_first_token_works(operator):
    response = operator.post("/api/users/", {"username": "bob"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "bob" and body["is_staff"] is False
    assert _as(body["token"]).get("/api/").json()["user"] == "bob"
    assert _as(body["token"]).get("/api/users/").status_code == 403
    assert Event.objects.filter(action=EventAction.USER_CREATE, detail="created user bob").exists()
    assert [user["username"] for user in operator.get("/api/users/").json()] == ["bob", "operator"]


def test_a_staff_user_is_an_operator(operator):
    body = operator.post("/api/users/", {"username": "ops", "is_staff": True}, format="json").json()
    assert body["is_staff"] is True and get_user_model().objects.get(username="ops").is_superuser
    assert _as(body["token"]).get("/api/users/").status_code == 200


@pytest.mark.parametrize(
    "username, status, message",
    [("operator", 409, "user 'operator' already exists"), ("no spaces", 400, "invalid user name 'no spaces'")],
)
def test_user_creation_refusals(operator, username, status, message):
    response = operator.post("/api/users/", {"username": username}, format="json")
    assert response.status_code == status and message in response.json()["error"]


def test_non_staff_may_not_list_or_create_users(api):
    assert api.get("/api/users/").status_code == 403
    response = api.post("/api/users/", {"username": "bob"}, format="json")
    assert response.status_code == 403 and response.json()["error"] == "only staff may create users"
    assert not get_user_model().objects.filter(username="bob").exists()


def test_tokens_are_made_listed_and_revoked_by_their_user(api, user):
    created = api.post("/api/tokens/", {"name": "laptop", "expires_in": 30 * 86400}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "laptop" and body["prefix"] == body["key"][:8]
    expires = timezone.datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    listed = api.get("/api/tokens/").json()
    assert [token["name"] for token in listed] == ["test", "laptop"] and "key" not in listed[1]
    assert _as(body["key"]).get("/api/tokens/").json()[1]["last_used_at"] is not None
    assert api.delete(f"/api/tokens/{body['id']}/").status_code == 204
    assert _as(body["key"]).get("/api/").status_code == 401
    assert api.delete(f"/api/tokens/{body['id']}/").status_code == 404
    actions = list(Event.objects.filter(actor=user).values_list("action", flat=True))
    assert EventAction.TOKEN_CREATE in actions and EventAction.TOKEN_REVOKE in actions


def test_a_token_without_a_name_or_expiry_never_expires(api):
    body = api.post("/api/tokens/", {}, format="json").json()
    assert body["name"] == "token" and body["expires_at"] is None


def test_a_too_short_lifetime_is_refused(api):
    response = api.post("/api/tokens/", {"expires_in": 5}, format="json")
    assert response.status_code == 400 and "expires_in" in response.json()["error"]


def test_a_malformed_authorization_header_is_401():
    response = APIClient(HTTP_AUTHORIZATION="Token two words").get("/api/")
    assert response.status_code == 401 and "`Token KEY`" in response.json()["error"]
    assert APIClient(HTTP_AUTHORIZATION="Token nope").get("/api/").status_code == 401


def test_an_inactive_users_token_is_refused(api, user):
    user.is_active = False
    user.save()
    assert api.get("/api/").status_code == 401


def test_manage_py_users_create_prints_the_token_alone():
    out, err = io.StringIO(), io.StringIO()
    call_command("users_create", "carol", "--staff", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert "Created staff user carol" in err.getvalue() and "paas login URL < FILE" in err.getvalue()
    me = _as(key).get("/api/").json()
    assert me["user"] == "carol" and me["is_staff"] is True
    recorded = Event.objects.filter(action=EventAction.USER_CREATE, actor=None)
    assert list(recorded.values_list("detail", flat=True)) == ["created user carol (staff)"]


def test_the_admin_token_file_holds_the_key_and_is_kept_while_it_works(tmp_path):
    with override_settings(DATA_DIR=tmp_path):
        token_path, _ = admin_bootstrap()
        key = token_path.read_text().strip()
        assert _as(key).get("/api/").json()["user"] == "admin"
        admin_bootstrap()
        assert token_path.read_text().strip() == key and ApiToken.objects.filter(user__username="admin").count() == 1
        ApiToken.objects.filter(user__username="admin").delete()  # revoked: the next start makes a new one
        admin_bootstrap()
        new_key = token_path.read_text().strip()
    assert new_key != key and _as(new_key).get("/api/").status_code == 200
