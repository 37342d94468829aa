import pytest

from hosts.services import host_register_local
from scheduler.models import Job, JobState
from scheduler.services import reconcile
from tests.api.resources import AppResourceTests
from tests.factories import deploy, make_app

pytestmark = pytest.mark.django_db


class TestFormation(AppResourceTests):
    path = "formation/"


class TestRollout(AppResourceTests):
    path = "rollout/"


class TestJobs(AppResourceTests):
    path = "jobs/"


def test_scale_an_app(api, user):
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "serve", "worker": "work"})
    response = api.patch("/api/apps/shop/formation/", {"counts": {"web": 2}}, format="json")
    assert response.status_code == 200 and response.json()["counts"] == {"web": 2}
    assert api.get("/api/apps/shop/events/").json()[0]["detail"] == "web=2"


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
    assert response.status_code == 400 and "counts" in response.json()["error"]


def _converge(times: int = 3) -> None:
    for _ in range(times):
        reconcile()


def test_restart_replaces_every_job_and_the_rollout_says_when_it_is_done(api, user):
    host_register_local()
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "serve", "worker": "work"})
    api.patch("/api/apps/shop/formation/", {"counts": {"web": 2, "worker": 1}}, format="json")
    _converge()
    before = set(Job.objects.filter(state=JobState.UP).values_list("pk", flat=True))
    assert len(before) == 3
    assert api.post("/api/apps/shop/restart/", {}, format="json").status_code == 200
    assert api.get("/api/apps/shop/rollout/").json()["state"] == "pending"
    _converge(5)
    after = set(Job.objects.filter(state=JobState.UP).values_list("pk", flat=True))
    assert len(after) == 3 and not before & after
    assert api.get("/api/apps/shop/rollout/").json() == {
        "release": 1,
        "state": "done",
        "message": "",
        "release_phase": None,
    }


def test_restart_of_one_process_type_leaves_the_others(api, user):
    host_register_local()
    deploy(make_app("shop", owner=user), processes={"web": "serve", "worker": "work"})
    api.patch("/api/apps/shop/formation/", {"counts": {"worker": 1}}, format="json")
    _converge()
    worker = Job.objects.get(process_type="worker", state=JobState.UP)
    api.post("/api/apps/shop/restart/", {"process_type": "web"}, format="json")
    _converge(5)
    assert Job.objects.get(process_type="worker", state=JobState.UP) == worker
    assert Job.objects.filter(process_type="web", state=JobState.UP, generation=1).count() == 1


def test_restart_of_an_unknown_type_or_an_undeployed_app_is_400(api, user):
    make_app("empty", owner=user)
    assert "nothing running" in api.post("/api/apps/empty/restart/", {}, format="json").json()["error"]
    deploy(make_app("shop", owner=user))
    response = api.post("/api/apps/shop/restart/", {"process_type": "worker"}, format="json")
    assert response.status_code == 400 and "its types are: web" in response.json()["error"]


def test_rollout_of_an_unknown_release_is_404(api, user):
    deploy(make_app("shop", owner=user))
    assert api.get("/api/apps/shop/rollout/?release=9").status_code == 404
    assert api.get("/api/apps/shop/rollout/?release=99999999999999999999").status_code == 400
