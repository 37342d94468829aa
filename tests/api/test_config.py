import threading

import pytest
from django.db import close_old_connections
from rest_framework.test import APIClient

from releases.models import Release
from tests.api.conftest import client_for
from tests.api.resources import AppResourceTests
from tests.factories import deploy, make_app

pytestmark = pytest.mark.django_db


class TestConfig(AppResourceTests):
    path = "config/"


def test_config_set_before_the_first_push_goes_into_the_first_release(api, user):
    app = make_app("shop", owner=user)
    response = api.patch("/api/apps/shop/config/", {"DATABASE_URL": "postgres://db/shop"}, format="json")
    assert response.status_code == 200 and response.json() == {
        "config": {"DATABASE_URL": "postgres://db/shop"},
        "release": 1,
    }
    assert api.get("/api/apps/shop/formation/").json()["release"] is None
    release = deploy(app)  # a push: its release starts from the config so far
    assert release.version == 2 and release.config == {"DATABASE_URL": "postgres://db/shop"}


def test_a_change_makes_a_release_and_deploys_it(api, user):
    deploy(make_app("shop", owner=user), config={"A": "1"})
    body = api.patch("/api/apps/shop/config/", {"B": "two\nlines=ok", "A": None}, format="json").json()
    assert body == {"config": {"B": "two\nlines=ok"}, "release": 2}
    assert api.get("/api/apps/shop/formation/").json()["release"] == 2
    release = api.get("/api/apps/shop/releases/v2/").json()
    assert release["description"] == "Set B; Unset A" and release["image"] == "paas-app/myapp:1"


def test_a_change_that_changes_nothing_makes_no_release(api, user):
    deploy(make_app("shop", owner=user), config={"A": "1"})
    assert api.patch("/api/apps/shop/config/", {"A": "1", "GONE": None}, format="json").json()["release"] is None
    assert Release.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"1BAD": "x"}, "invalid config key '1BAD'"),
        ({"BAD-KEY": "x"}, "invalid config key 'BAD-KEY'"),
        ({"PAAS_APP": "x"}, "'PAAS_APP' is reserved"),
        ({"NUMBER": 5}, "'NUMBER': a value is a string"),
        ({"BIG": "x" * 70_000}, "its largest value is 'BIG'"),
        (["A=1"], "a config change is a JSON object"),
    ],
)
def test_bad_config_is_400_naming_the_key(api, user, changes, message):
    deploy(make_app("shop", owner=user))
    response = api.patch("/api/apps/shop/config/", changes, format="json")
    assert response.status_code == 400 and message in response.json()["error"]
    assert Release.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_get_consecutive_versions_and_none_is_lost(user):
    app = make_app("shop", owner=user)
    deploy(app)
    token = client_for(user)._credentials["HTTP_AUTHORIZATION"]
    clients = [APIClient(HTTP_AUTHORIZATION=token) for _ in range(20)]
    answers = []

    def change(index: int) -> None:
        try:
            response = clients[index].patch("/api/apps/shop/config/", {f"KEY_{index}": str(index)}, format="json")
            answers.append(response.status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=change, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 20
    versions = sorted(Release.objects.filter(app=app).values_list("version", flat=True))
    assert versions == list(range(1, 22))
    latest = Release.objects.get(app=app, version=21)
    assert latest.config == {f"KEY_{index}": str(index) for index in range(20)}
