"""Links (`/api/apps/APP/links/`): an app's jobs reach another app's by internal name only once linked to it."""

import pytest

from apps.models import Event, EventAction
from formations.services import formation_scale
from scheduler.models import Job, JobState
from scheduler.services import reconcile
from tests.api.resources import AppResourceTests
from tests.factories import UserFactory, deploy, make_app

pytestmark = pytest.mark.django_db

LINKS = "/api/apps/shop/links/"


class TestLinks(AppResourceTests):
    path = "links/"


def _settle(passes: int = 6) -> None:
    for _ in range(passes):
        reconcile()


@pytest.fixture
def apps(user, driver):
    """alice's apps shop (web and worker) and stock (web), up."""
    shop, stock = make_app("shop", owner=user), make_app("stock", owner=user)
    deploy(shop, processes={"web": "serve", "worker": "work"})
    formation_scale(app=shop, counts={"web": 1, "worker": 1}, actor=user)
    deploy(stock)
    _settle()
    return shop, stock


def _container(app_name: str, name: str) -> str:
    process_type, _, index = name.partition(".")
    return Job.objects.get(app__name=app_name, state=JobState.UP, process_type=process_type, index=index).container_id


def test_a_linked_apps_jobs_reach_the_other_apps_by_name_and_not_the_other_way(api, apps, driver):
    stock_web = _container("stock", "web.1")
    assert driver.resolve(_container("shop", "worker.1"), "web.stock.internal") == []
    answer = api.post(LINKS, {"app": "stock"}, format="json")
    assert answer.status_code == 201 and answer.json() == {"reaches": ["stock"], "reached_by": []}
    _settle()  # the restart: shop's jobs are replaced by jobs on stock's network too
    assert driver.resolve(_container("shop", "worker.1"), "web.stock.internal") == [stock_web]
    assert driver.resolve(_container("shop", "web.1"), "web.shop.internal") == [_container("shop", "web.1")]
    assert driver.resolve(stock_web, "web.shop.internal") == []  # stock did not ask to reach shop
    assert api.get("/api/apps/stock/links/").json() == {"reaches": [], "reached_by": ["shop"]}
    assert Event.objects.filter(app__name="shop", action=EventAction.LINK_ADD, detail="reaches stock").exists()


def test_unlinking_restarts_the_apps_jobs_off_the_other_apps_network(api, apps, driver):
    api.post(LINKS, {"app": "stock"}, format="json")
    _settle()
    assert api.delete(f"{LINKS}stock/").status_code == 204
    _settle()
    assert driver.resolve(_container("shop", "worker.1"), "web.stock.internal") == []
    assert api.get(LINKS).json() == {"reaches": [], "reached_by": []}
    missing = api.delete(f"{LINKS}stock/")
    assert missing.status_code == 404 and "paas links -a shop" in missing.json()["error"]


def test_only_an_app_the_user_may_change_can_be_reached(api, apps):
    make_app("secret", owner=UserFactory(username="bob"))
    refused = api.post(LINKS, {"app": "secret"}, format="json")
    assert refused.status_code == 404 and "app 'secret' not found" in refused.json()["error"]
    itself = api.post(LINKS, {"app": "shop"}, format="json")
    assert itself.status_code == 400 and "always reaches its own jobs" in itself.json()["error"]
    api.post(LINKS, {"app": "stock"}, format="json")
    again = api.post(LINKS, {"app": "stock"}, format="json")
    assert again.status_code == 409 and "already reaches stock" in again.json()["error"]
