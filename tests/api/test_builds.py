import pytest

from buildpacks.models import Build, BuildState
from tests.api.resources import AppResourceTests
from tests.factories import make_app

pytestmark = pytest.mark.django_db


class TestBuilds(AppResourceTests):
    path = "builds/"


def test_builds_are_listed_and_one_shows_its_log(api, user):
    app = make_app("shop", owner=user)
    build = Build.objects.create(
        app=app, revision="a" * 40, source_digest="sha256:" + "1" * 64, state=BuildState.FAILED, log="pip said no\n"
    )
    listed = api.get("/api/apps/shop/builds/").json()
    assert [(item["id"], item["state"]) for item in listed] == [(build.pk, "failed")] and "log" not in listed[0]
    assert api.get(f"/api/apps/shop/builds/{build.pk}/").json()["log"] == "pip said no\n"
    assert api.get(f"/api/apps/shop/builds/{build.pk + 1}/").status_code == 404
