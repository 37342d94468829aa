"""Add-ons and volumes through the REST API, on the in-memory host driver: made in the background and their URL set
in the config, confined to their app's network, backed up and restored, removed with their app; volumes mounted into
one process type's jobs, pinning them to its host, and refusing a scale above one unless shared."""

import pytest
from django.db import transaction
from django.utils import timezone

from addons import services
from addons.collect import storage_collect
from addons.models import Addon, AddonBackup, AddonState, Volume
from apps.models import Event, EventAction
from hosts.drivers.memory import MemoryHostDriver
from hosts.models import Host, HostState
from releases.selectors import release_latest
from scheduler.models import Job, JobKind
from scheduler.services import job_spec, reconcile
from tests.api.resources import AppResourceTests
from tests.factories import deploy, make_app


@pytest.fixture
def provision_now(monkeypatch):
    """What waits for a commit runs at once (the test's transaction is never committed), and add-ons are made in
    this thread rather than by a worker."""
    monkeypatch.setattr(services, "_provision_later", services.addon_provision)
    monkeypatch.setattr(transaction, "on_commit", lambda callback, using=None, robust=False: callback())


def _create(api, app: str, body: dict):
    return api.post(f"/api/apps/{app}/addons/", body, format="json")


class TestAddons(AppResourceTests):
    path = "addons/"

    def test_an_addon_is_made_then_its_url_is_set_in_the_config_in_a_new_release(
        self, api, user, driver, provision_now
    ):
        app = make_app("shop", owner=user)
        before = deploy(app).version
        created = _create(api, "shop", {"kind": "postgres"})
        assert created.status_code == 202, created.json()
        assert created.json()["state"] == "creating" and created.json()["config_var"] == "DATABASE_URL"
        addon = Addon.objects.get(app=app)
        assert addon.state == AddonState.UP
        latest = release_latest(app=app)
        assert latest.version == before + 1
        assert latest.config["DATABASE_URL"] == f"postgres://app:{addon.password}@postgres.addon.shop.internal:5432/app"
        spec = driver.service_specs[addon.pk]
        assert spec.aliases == ("postgres.addon.shop.internal",) and spec.env["PAAS_ADDON_PASSWORD"] == addon.password
        assert spec.command == ("paas-addon", "serve", "postgres") and spec.image.startswith("paas/addon:")
        assert Event.objects.filter(app=app, action=EventAction.ADDON_CREATE).exists()
        listed = api.get("/api/apps/shop/addons/").json()
        assert [(row["name"], row["state"], row["server"], row["size"]) for row in listed] == [
            ("postgres", "up", "running", 0)
        ]
        assert "password" not in str(listed) and addon.password not in str(listed)

    def test_only_the_apps_own_network_has_its_addon(self, api, user, driver, provision_now):
        shop, other = make_app("shop", owner=user), make_app("other", owner=user)
        deploy(shop), deploy(other)
        _create(api, "shop", {"kind": "redis"})
        reconcile()
        shop_job = Job.objects.get(app=shop, process_type="web").container_id
        other_job = Job.objects.get(app=other, process_type="web").container_id
        assert driver.resolve(shop_job, "redis.addon.shop.internal")
        assert not driver.resolve(other_job, "redis.addon.shop.internal")
        assert release_latest(app=shop).config["REDIS_URL"].startswith("redis://default:")

    def test_a_named_addon_sets_name_url_and_clashes_are_refused(self, api, user, driver, provision_now):
        app = make_app("shop", owner=user)
        deploy(app, config={"DATABASE_URL": "postgres://elsewhere/db"})
        refused = _create(api, "shop", {"kind": "postgres"})
        assert refused.status_code == 409 and "paas config unset DATABASE_URL" in refused.json()["error"]
        assert _create(api, "shop", {"kind": "postgres", "name": "reports"}).status_code == 202
        assert "REPORTS_URL" in release_latest(app=app).config
        again = _create(api, "shop", {"kind": "redis", "name": "reports"})
        assert again.status_code == 409 and "named reports already" in again.json()["error"]
        bad = _create(api, "shop", {"kind": "postgres", "name": "Bad_Name"})
        assert bad.status_code == 400 and "not an add-on name" in bad.json()["error"]
        assert _create(api, "shop", {"kind": "mysql"}).status_code == 400

    def test_a_server_that_cannot_be_made_fails_the_addon_and_leaves_the_config(self, api, user, driver, provision_now):
        app = make_app("shop", owner=user)
        version = deploy(app).version
        driver.failing.add("service_start")
        _create(api, "shop", {"kind": "postgres"})
        addon = Addon.objects.get(app=app)
        assert addon.state == AddonState.FAILED and "service_start failed" in addon.error
        assert release_latest(app=app).version == version
        backup = api.post("/api/apps/shop/addons/postgres/backups/")
        assert backup.status_code == 409 and "postgres is failed" in backup.json()["error"]

    def test_the_quota_refuses_one_too_many(self, api, user, driver, settings, provision_now):
        settings.PAAS_QUOTA_ADDONS = 1
        deploy(make_app("shop", owner=user))
        _create(api, "shop", {"kind": "postgres"})
        refused = _create(api, "shop", {"kind": "redis"})
        assert refused.status_code == 409 and "PAAS_QUOTA_ADDONS=1" in refused.json()["error"]

    def test_destroy_needs_the_apps_name_and_unsets_the_config_var(self, api, user, driver, provision_now):
        app = make_app("shop", owner=user)
        deploy(app)
        _create(api, "shop", {"kind": "postgres"})
        refused = api.delete("/api/apps/shop/addons/postgres/", {"confirm": "postgres"}, format="json")
        assert refused.status_code == 400 and "--confirm shop" in refused.json()["error"]
        assert api.delete("/api/apps/shop/addons/postgres/", {"confirm": "shop"}, format="json").status_code == 204
        assert "DATABASE_URL" not in release_latest(app=app).config
        assert not driver.service_specs and not driver.volume_set

    def test_backups_are_numbered_pruned_and_restored(self, api, user, driver, settings, provision_now):
        settings.PAAS_KEEP_BACKUPS = 2
        deploy(make_app("shop", owner=user))
        _create(api, "shop", {"kind": "postgres"})
        for number in (1, 2, 3):
            taken = api.post("/api/apps/shop/addons/postgres/backups/")
            assert taken.status_code == 201 and taken.json()["name"] == f"b{number}"
        key = Addon.objects.get().pk
        assert (key, ("paas-addon", "backup", "postgres")) in driver.execs
        assert len({url for _, _, url in driver.uploads}) == 3  # a URL of its own for each
        listed = api.get("/api/apps/shop/addons/postgres/backups/").json()
        assert [backup["name"] for backup in listed] == ["b2", "b3"]
        restored = api.post("/api/apps/shop/addons/postgres/restore/", {"backup": "b3"}, format="json")
        assert restored.status_code == 200, restored.json()
        assert driver.received == [(key, services.RESTORE_PATH, listed[1]["digest"])]
        missing = api.post("/api/apps/shop/addons/postgres/restore/", {"backup": "b1"}, format="json")
        assert missing.status_code == 404 and "no backup 'b1'" in missing.json()["error"]
        assert Event.objects.filter(action=EventAction.ADDON_RESTORE).count() == 1

    def test_destroying_the_app_removes_its_addons_and_volumes(self, api, user, driver, provision_now):
        deploy(make_app("shop", owner=user), processes={"web": "app", "worker": "work"})
        _create(api, "shop", {"kind": "redis"})
        volume = {"name": "files", "path": "/files", "process_type": "worker"}
        assert api.post("/api/apps/shop/volumes/", volume, format="json").status_code == 201
        assert api.delete("/api/apps/shop/", {"confirm": "shop"}, format="json").status_code == 204
        assert not driver.service_specs and not Addon.objects.exists() and not AddonBackup.objects.exists()

    def test_a_run_of_an_addons_shell_uses_its_image_on_its_host(self, user, driver, provision_now):
        from scheduler.runs import RunStart, run_start

        app = make_app("shop", owner=user)
        deploy(app)
        services.addon_create(app=app, kind="postgres", actor=user)
        start = RunStart('psql "$DATABASE_URL"', attached=False, addon="postgres")
        job, _ = run_start(app=app, actor=user, start=start)
        spec = driver.specs[job.container_id]
        assert spec.image == services.addon_image()[0] and spec.shell
        assert spec.env["DATABASE_URL"].startswith("postgres://app:")


def test_the_collection_removes_addons_and_volumes_nothing_owns(db, driver, provision_now, user):
    app = make_app("shop", owner=user)
    deploy(app)
    services.addon_create(app=app, kind="redis", actor=user)
    key = Addon.objects.get().pk
    driver.volume_set.add((999, "gone", "files", "volume"))
    driver.service_specs[998] = driver.service_specs[key]
    driver.service_ids[998] = "addon-x"
    assert sorted(storage_collect()) == ["gone/files", "shop/redis"]  # owned by no volume, by no add-on
    assert list(driver.service_specs) == [key]


class TestVolumes(AppResourceTests):
    path = "volumes/"

    def _app(self, user, counts=None):
        app = make_app("shop", owner=user)
        deploy(app, processes={"web": "app", "worker": "work"})
        if counts:
            from formations.services import formation_scale

            formation_scale(app=app, counts=counts, actor=user)
        return app

    def test_a_volume_is_mounted_into_its_process_types_jobs_only(self, api, user, driver):
        app = self._app(user, {"worker": 1})
        body = {"name": "files", "path": "/data/", "process_type": "worker"}
        created = api.post(self.url("shop"), body, format="json")
        assert created.status_code == 201, created.json()
        assert created.json()["path"] == "/data" and created.json()["host"] == "local"
        reconcile()
        worker = Job.objects.get(app=app, process_type="worker", kind=JobKind.FORMATION, superseded=False)
        assert [(m.name, m.path) for m in job_spec(worker).volumes] == [("files", "/data")]
        web = Job.objects.get(app=app, process_type="web")
        assert job_spec(web).volumes == ()
        assert Event.objects.filter(app=app, action=EventAction.VOLUME_CREATE).exists()
        assert [(v["name"], v["size"]) for v in api.get(self.url("shop")).json()] == [("files", 0)]

    @pytest.mark.parametrize(
        ("path", "said"),
        [
            ("data", "absolute path"),
            ("/app", "hide what jobs need"),
            ("//app/", "hide"),
            ("/usr/lib", "hide"),
            ("/proc/x", "hide"),
            ("/", "not a mount path"),
            ("/data:ro", "not a mount path"),
            ("/data\nx", "not a mount path"),
        ],
    )
    def test_a_bad_mount_path_is_refused(self, api, user, driver, path, said):
        self._app(user)
        refused = api.post(self.url("shop"), {"name": "files", "path": path, "process_type": "worker"}, format="json")
        assert refused.status_code == 400 and said in refused.json()["error"]

    def test_scaling_above_one_is_refused_unless_the_volume_is_shared(self, api, user, driver):
        self._app(user, {"worker": 1})
        api.post(self.url("shop"), {"name": "files", "path": "/data", "process_type": "worker"}, format="json")
        refused = api.patch("/api/apps/shop/formation/", {"counts": {"worker": 2}}, format="json")
        assert refused.status_code == 409 and "mounts the volume files" in refused.json()["error"]
        body = {"name": "shared", "path": "/shared", "process_type": "web", "shared": True}
        assert api.post(self.url("shop"), body, format="json").status_code == 201

    def test_a_volume_for_a_scaled_out_process_type_must_be_shared(self, api, user, driver):
        self._app(user, {"worker": 2})
        body = {"name": "files", "path": "/data", "process_type": "worker"}
        refused = api.post(self.url("shop"), body, format="json")
        assert refused.status_code == 409 and "--shared" in refused.json()["error"]
        assert not Volume.objects.exists()

    def test_removing_needs_the_apps_name_and_restarts_its_jobs(self, api, user, driver):
        app = self._app(user, {"worker": 1})
        api.post(self.url("shop"), {"name": "files", "path": "/data", "process_type": "worker"}, format="json")
        refused = api.delete(self.url("shop") + "files/", {"confirm": "files"}, format="json")
        assert refused.status_code == 400 and "--confirm shop" in refused.json()["error"]
        assert api.delete(self.url("shop") + "files/", {"confirm": "shop"}, format="json").status_code == 204
        assert not Volume.objects.exists()
        assert Event.objects.filter(app=app, action=EventAction.RESTART).count() == 2  # on create, on remove


def test_a_volume_pins_its_jobs_to_its_host(user, driver):
    second = Host.objects.create(name="two", state=HostState.UP, docker_url="unix:///two", address="127.0.0.2")
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "app", "worker": "work"})
    from addons.volumes import volume_create
    from formations.services import formation_scale

    volume_create(app=app, name="files", path="/data", process_type="worker", shared=True, actor=user)
    Volume.objects.update(host=second)
    formation_scale(app=app, counts={"worker": 3, "web": 4}, actor=user)
    reconcile()
    workers = Job.objects.filter(app=app, process_type="worker")
    assert [job.host for job in workers] == [second] * 3
    assert Job.objects.filter(app=app, process_type="web").exclude(host=second).exists()  # web is not pinned
    assert len(MemoryHostDriver.for_host("two").volume_set) == 1


def test_a_deploy_stops_the_job_with_an_unshared_volume_before_its_replacement_starts(user, driver, settings):
    from addons.volumes import volume_create
    from formations.services import formation_scale

    settings.PAAS_STOP_GRACE = 0
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "app", "worker": "work"})
    formation_scale(app=app, counts={"worker": 1}, actor=user)
    volume_create(app=app, name="files", path="/data", process_type="worker", actor=user)
    for _ in range(3):
        reconcile()
    [old] = Job.objects.filter(app=app, process_type="worker", state="up")
    deploy(app, processes={"web": "app", "worker": "work"})
    seen = []
    for _ in range(10):
        reconcile()
        holding = Job.objects.filter(app=app, process_type="worker").exclude(container_id="")
        seen.append(sorted(job.pk for job in holding.filter(state__in=["starting", "up", "stopping"])))
        if old.pk not in seen[-1] and seen[-1]:
            break
        for job in Job.objects.filter(pk=old.pk, state="stopping"):
            driver.exit(job.container_id, 0)  # it ends on its SIGTERM
    assert all(len(holders) <= 1 for holders in seen), seen  # never two containers on the volume at once
    new = Job.objects.get(app=app, process_type="worker", state__in=["starting", "up"])
    assert new.pk != old.pk and [m.name for m in driver.specs[new.container_id].volumes] == ["files"]


def test_only_the_owner_destroys_restores_or_removes_data(api, user, driver, provision_now):
    from apps.services import access_add
    from tests.api.conftest import client_for
    from tests.factories import UserFactory

    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "app", "worker": "work"})
    _create(api, "shop", {"kind": "redis"})
    api.post("/api/apps/shop/addons/redis/backups/")
    api.post("/api/apps/shop/volumes/", {"name": "files", "path": "/data", "process_type": "worker"}, format="json")
    bob = UserFactory(username="bob")
    access_add(app=app, username="bob", actor=user)
    collaborator = client_for(bob)
    assert collaborator.get("/api/apps/shop/addons/").status_code == 200
    for response in (
        collaborator.delete("/api/apps/shop/addons/redis/", {"confirm": "shop"}, format="json"),
        collaborator.post("/api/apps/shop/addons/redis/restore/", {"backup": "b1"}, format="json"),
        collaborator.delete("/api/apps/shop/volumes/files/", {"confirm": "shop"}, format="json"),
    ):
        assert response.status_code == 403 and "only alice" in response.json()["error"]
    assert collaborator.post("/api/apps/shop/addons/redis/backups/").status_code == 201


def test_a_second_backup_while_one_runs_is_refused(api, user, driver, provision_now):
    deploy(make_app("shop", owner=user))
    _create(api, "shop", {"kind": "postgres"})
    Addon.objects.update(busy="backing up", busy_since=timezone.now())
    refused = api.post("/api/apps/shop/addons/postgres/backups/")
    assert refused.status_code == 409 and "postgres is backing up" in refused.json()["error"]
    Addon.objects.update(busy="", busy_since=None)
    driver.failing.add("service_file_send")
    failed = api.post("/api/apps/shop/addons/postgres/backups/")
    assert failed.status_code == 409 and "could not do it" in failed.json()["error"]
    assert Addon.objects.get().busy == "" and not AddonBackup.objects.exists()


def test_a_config_var_set_while_the_addon_was_made_is_left_as_it_is(api, user, driver, monkeypatch):
    from formations.services import config_update

    monkeypatch.setattr(services, "_provision_later", lambda addon_id: None)
    app = make_app("shop", owner=user)
    deploy(app)
    addon = services.addon_create(app=app, kind="postgres", actor=user)
    config_update(app=app, changes={"DATABASE_URL": "postgres://mine/db"}, actor=user)
    services.addon_provision(addon.pk)
    assert release_latest(app=app).config["DATABASE_URL"] == "postgres://mine/db"
    assert Addon.objects.get().state == AddonState.UP
