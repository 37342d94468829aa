"""The checks every app-scoped API resource shares: a token is needed, and other users' apps do not exist."""

from rest_framework.test import APIClient

from tests.api.conftest import client_for
from tests.factories import UserFactory, deploy, make_app


class AppResourceTests:
    """Mixed into a resource's test class; `path` is the resource under /api/apps/APP/ (e.g. `releases/`)."""

    path = ""

    def url(self, app_name: str) -> str:
        return f"/api/apps/{app_name}/{self.path}"

    def test_needs_a_token(self, db):
        deploy(make_app("shop"))
        response = APIClient().get(self.url("shop"))
        assert response.status_code == 401 and "credentials" in response.json()["error"]

    def test_another_users_app_is_not_found(self, api):
        deploy(make_app("secret"))
        response = api.get(self.url("secret"))
        assert response.status_code == 404 and "app 'secret' not found" in response.json()["error"]

    def test_the_owner_reads_it(self, db):
        owner = UserFactory()
        deploy(make_app("mine", owner=owner))
        assert client_for(owner).get(self.url("mine")).status_code == 200
