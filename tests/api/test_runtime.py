"""Health checks, limits and what `paas ps` reads, through the REST API."""

import pytest

from hosts.drivers.memory import MemoryHostDriver
from hosts.services import host_register_local
from releases.models import Release
from scheduler.services import reconcile
from tests.api.resources import AppResourceTests
from tests.factories import deploy, make_app

pytestmark = pytest.mark.django_db


class TestChecks(AppResourceTests):
    path = "checks/"


class TestLimits(AppResourceTests):
    path = "limits/"


def test_checks_are_set_in_a_new_release_and_listed(api, user):
    deploy(make_app("shop", owner=user))
    response = api.patch("/api/apps/shop/checks/", {"web": {"path": "/healthz", "timeout": 1}}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"checks": {"web": {"path": "/healthz", "timeout": 1.0, "passes": 2}}, "release": 2}
    assert Release.objects.get(app__name="shop", version=2).checks == response.json()["checks"]
    assert api.get("/api/apps/shop/checks/").json()["checks"]["web"]["path"] == "/healthz"
    response = api.patch("/api/apps/shop/checks/", {"web": None}, format="json")
    assert response.json() == {"checks": {}, "release": 3}


@pytest.mark.parametrize(
    "body", [{"web": {"timeout": 1}}, {"web": "yes"}, {"worker": {"path": "/"}}, ["web"], {"web": {"path": "x"}}]
)
def test_bad_checks_are_a_400(api, user, body):
    deploy(make_app("shop", owner=user))
    response = api.patch("/api/apps/shop/checks/", body, format="json")
    assert response.status_code == 400, response.json()


def test_limits_are_set_listed_and_shown_with_the_defaults(api, user):
    deploy(make_app("shop", owner=user), processes={"web": "serve", "worker": "work"})
    response = api.patch("/api/apps/shop/limits/", {"web": {"memory": "256m", "cpus": 0.5}}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "limits": {"web": {"memory": "256m", "cpus": 0.5}},
        "effective": {
            "web": {"memory": "256m", "cpus": 0.5, "pids": 512},
            "worker": {"memory": "512m", "cpus": 1.0, "pids": 512},
        },
    }
    assert api.patch("/api/apps/shop/limits/", {"web": {"memory": "1k"}}, format="json").status_code == 400
    assert api.patch("/api/apps/shop/limits/", {"web": {"cpus": "x"}}, format="json").status_code == 400


def test_jobs_show_their_check_reason_uptime_and_limits(api, user):
    host_register_local()
    app = make_app("shop", owner=user)
    deploy(app)
    api.patch("/api/apps/shop/limits/", {"web": {"memory": "64m"}}, format="json")
    reconcile()
    [job] = api.get("/api/apps/shop/jobs/").json()
    assert (job["state"], job["last_check"], job["reason"]) == ("up", "port open", "")
    assert job["uptime"] >= 0 and job["limits"] == {"memory": "64m", "cpus": 1.0, "pids": 512}
    MemoryHostDriver.for_host("local").exit(job["container_id"], 137, oom_killed=True)
    reconcile()
    [job] = api.get("/api/apps/shop/jobs/").json()
    assert (job["state"], job["exit_code"], job["uptime"]) == ("crashed", 137, None)
    assert job["reason"] == "killed: out of memory (limit 64m)"
    events = api.get("/api/apps/shop/events/").json()
    assert any(event["action"] == "job.oom" for event in events)
