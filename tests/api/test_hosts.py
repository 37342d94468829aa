import pytest

from formations.models import Formation
from formations.services import formation_scale
from hosts.services import host_register_local
from scheduler.services import reconcile
from tests.factories import deploy, make_app

pytestmark = pytest.mark.django_db


def test_hosts_are_for_operators_only(api, user):
    assert api.get("/api/hosts/").status_code == 403
    user.is_staff = True
    user.save()
    assert api.get("/api/hosts/").status_code == 200


def test_a_host_is_listed_with_its_capacity_tags_and_load_and_tagged_and_drained_by_staff(api, user, driver):

    driver.memory, driver.cpus = 8 * 1024**3, 2.0
    app = make_app("shop", owner=user)
    deploy(app)
    formation_scale(app=app, counts={"web": 2}, actor=user)
    host_register_local()
    reconcile()
    assert api.patch("/api/hosts/local/", {"drained": True}, format="json").status_code == 403
    user.is_staff = True
    user.save()
    [host] = api.get("/api/hosts/").json()
    shown = (host["name"], host["memory"], host["cpus"], host["jobs"], host["tags"])
    assert shown == ("local", 8 * 1024**3, 2.0, 2, [])
    changed = api.patch("/api/hosts/local/", {"tags": ["ssd", "eu", "ssd"], "drained": True}, format="json").json()
    assert (changed["tags"], changed["drained"]) == (["eu", "ssd"], True)
    bad = api.patch("/api/hosts/local/", {"tags": ["Not A Tag"]}, format="json")
    assert bad.status_code == 400
    missing = api.patch("/api/hosts/nowhere/", {"drained": False}, format="json")
    assert missing.status_code == 404 and "`paas hosts` lists them" in missing.json()["error"]


def test_constraints_are_set_per_process_type_and_replace_its_jobs(api, user, driver):

    deploy(make_app("shop", owner=user), processes={"web": "serve", "worker": "work"})
    assert api.get("/api/apps/shop/constraints/").json() == {"constraints": {}}
    answer = api.patch("/api/apps/shop/constraints/", {"worker": ["ssd", "eu"]}, format="json")
    assert answer.status_code == 200 and answer.json() == {"constraints": {"worker": ["eu", "ssd"]}}
    formation = Formation.objects.get(app__name="shop")
    assert formation.generation("worker") == 1 and formation.generation("web") == 0  # workers are replaced
    bad = api.patch("/api/apps/shop/constraints/", {"worker": "ssd"}, format="json")
    assert bad.status_code == 400 and "a list of up to 10 host tags" in bad.json()["error"]
    typo = api.patch("/api/apps/shop/constraints/", {"wrker": ["ssd"]}, format="json")
    assert typo.status_code == 400 and "its types are: web, worker" in typo.json()["error"]
    assert api.patch("/api/apps/shop/constraints/", {"worker": None}, format="json").json() == {"constraints": {}}
