"""An app's traffic metrics through the REST API."""

from tests.api.resources import AppResourceTests
from tests.factories import deploy, make_app


class TestMetricsApi(AppResourceTests):
    path = "metrics/"

    def test_minutes_and_deploys(self, api, user):
        app = make_app("shop", owner=user)
        deploy(app)
        answer = api.get("/api/apps/shop/metrics/?minutes=10").json()
        assert len(answer["minutes"]) == 10 and [mark["version"] for mark in answer["deploys"]] == [1]
        bad = api.get("/api/apps/shop/metrics/?minutes=0")
        assert bad.status_code == 400 and "minutes must be a whole number" in bad.json()["error"]
