"""Discovery (`GET /api/apps/APP/discover/`) and the app networks it names, against the in-memory host driver."""

import pytest

from artifacts.collect import garbage_collect
from formations.services import formation_scale
from hosts.models import Host, HostState
from paas.services import app_destroy
from scheduler.models import Job, JobState
from scheduler.runs import RunStart, run_start
from scheduler.services import reconcile
from tests.api.conftest import client_for
from tests.api.resources import AppResourceTests
from tests.factories import UserFactory, deploy, make_app

pytestmark = pytest.mark.django_db

DISCOVER = "/api/apps/shop/discover/"


class TestDiscover(AppResourceTests):
    path = "discover/"


def _settle(passes: int = 3) -> None:
    for _ in range(passes):
        reconcile()


@pytest.fixture
def shop(user, driver):
    """alice's app shop, with web=2 and worker=1 up."""
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "serve", "worker": "work"})
    formation_scale(app=app, counts={"web": 2, "worker": 1}, actor=user)
    _settle()
    return app


def _container(app_name: str, name: str) -> str:
    """The container of the job `name` (web.1) of an app that is up."""
    process_type, _, index = name.partition(".")
    return Job.objects.get(app__name=app_name, state=JobState.UP, process_type=process_type, index=index).container_id


def test_every_healthy_job_is_listed_with_its_router_and_internal_addresses(api, shop):
    response = api.get(DISCOVER)
    assert response.status_code == 200, response.json()
    web1 = Job.objects.get(app=shop, process_type="web", index=1)
    assert response.json()[0] == {
        "job": "web.1",
        "process_type": "web",
        "index": 1,
        "release": 1,
        "host": "local",
        "port": 5000,
        "address": f"127.0.0.1:{web1.host_port}",
        "internal": "web.shop.internal:5000",
    }
    assert [(job["job"], job["address"] is None) for job in response.json()] == [
        ("web.1", False),
        ("web.2", False),
        ("worker.1", True),  # it publishes no port: the router never reaches it
    ]
    assert response.json()[2]["internal"] == "worker.shop.internal:5000"


@pytest.mark.parametrize(
    ("process", "jobs"),
    [("web", ["web.1", "web.2"]), ("Worker", ["worker.1"]), ("clock", []), ("", ["web.1", "web.2", "worker.1"])],
)
def test_the_process_filter_lists_only_that_type(api, shop, process, jobs):
    response = api.get(DISCOVER, {"process": process})
    assert response.status_code == 200 and [job["job"] for job in response.json()] == jobs


@pytest.mark.parametrize(
    ("process", "problem"),
    [("web worker", "give a process type, such as web or worker"), ("w" * 31, "no more than 30 characters")],
)
def test_a_bad_process_is_a_400_that_says_what_to_give(api, shop, process, problem):
    response = api.get(DISCOVER, {"process": process})
    assert response.status_code == 400 and problem in response.json()["error"]
    assert response.json()["error"].startswith("process: ")


def test_only_healthy_jobs_are_listed(api, shop, driver):
    driver.exit(_container("shop", "worker.1"), 1)
    reconcile()
    assert Job.objects.get(app=shop, process_type="worker").state == JobState.CRASHED
    assert [job["job"] for job in api.get(DISCOVER).json()] == ["web.1", "web.2"]
    _settle()  # restarted
    driver.unhealthy_releases.add("v2")  # the new release's web jobs never answer their check
    deploy(shop, processes={"web": "serve", "worker": "work"})
    _settle()
    assert Job.objects.filter(app=shop, release__version=2, process_type="web", state=JobState.STARTING).exists()
    web = api.get(DISCOVER, {"process": "web"}).json()
    assert [(job["job"], job["release"]) for job in web] == [("web.1", 1), ("web.2", 1)]  # the old ones serve
    run_start(app=shop, actor=shop.owner, start=RunStart("sleep 60", attached=False))
    assert Job.objects.filter(app=shop, process_type="run", state=JobState.UP).exists()
    assert "run.1" not in [job["job"] for job in api.get(DISCOVER).json()]  # one-off runs are not services
    Host.objects.update(state=HostState.DOWN)
    assert api.get(DISCOVER).json() == []


def test_a_collaborator_discovers_the_app(shop):
    bob = UserFactory(username="bob")
    assert client_for(bob).get(DISCOVER).status_code == 404
    client_for(shop.owner).post("/api/apps/shop/access/", {"username": "bob"}, format="json")
    assert [job["job"] for job in client_for(bob).get(DISCOVER).json()] == ["web.1", "web.2", "worker.1"]


def test_an_apps_jobs_find_one_another_by_name_and_no_other_app_finds_them(shop, driver):
    other = make_app("other")
    deploy(other)
    _settle()
    worker, web1, web2 = (_container("shop", name) for name in ("worker.1", "web.1", "web.2"))
    assert driver.resolve(worker, "web.shop.internal") == sorted([web1, web2])
    assert driver.resolve(worker, "web.2.shop.internal") == [web2]
    job, _ = run_start(app=shop, actor=shop.owner, start=RunStart("curl web.shop.internal:5000", attached=False))
    assert driver.resolve(job.container_id, "web.shop.internal") == sorted([web1, web2])  # `paas run` too
    outsider = _container("other", "web.1")
    assert driver.resolve(outsider, "web.shop.internal") == []
    assert driver.resolve(outsider, "web.other.internal") == [outsider]


def test_destroying_an_app_removes_its_network(shop, driver, django_capture_on_commit_callbacks):
    assert driver.app_networks() == ["shop"]
    with django_capture_on_commit_callbacks(execute=True):
        app_destroy(app=shop, actor=shop.owner, confirm="shop")
    assert driver.app_networks() == []


def test_the_collection_removes_the_networks_of_destroyed_apps_a_destroy_left(shop, driver):
    make_app("kept")
    driver.networks["kept"] = {}
    app_destroy(app=shop, actor=shop.owner, confirm="shop")  # the removal after the commit never runs here
    for container_id in list(driver.containers):
        driver.job_remove(container_id)
    driver.failing.add("app_network_remove")
    assert garbage_collect().networks == []  # tried again next time
    driver.failing.clear()
    assert garbage_collect().networks == ["shop"]
    assert driver.app_networks() == ["kept"]
