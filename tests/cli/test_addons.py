"""`paas addons` and `paas volumes` against a live test server, on the in-memory host driver."""

import json

import pytest

from addons import services
from tests.cli.test_cli import logged_in, run, scheduler, user  # noqa: F401 - the fixtures
from tests.factories import deploy, make_app


@pytest.fixture
def provision_now(monkeypatch):
    """Add-ons are made at their commit, in the request's thread, rather than by a worker."""
    monkeypatch.setattr(services, "_provision_later", services.addon_provision)


def test_addons_through_the_cli(logged_in, user, scheduler, provision_now):  # noqa: F811
    deploy(make_app("shop", owner=user))
    assert "has no add-ons" in logged_in("addons", "-a", "shop").output
    created = logged_in("addons", "create", "postgres", "-a", "shop")
    assert created.exit_code == 0, created.output
    assert "postgres is up; DATABASE_URL is set" in created.output
    assert logged_in("addons", "-a", "shop").output.split()[:5] == ["postgres", "postgres", "DATABASE_URL", "up", "0"]
    assert "postgres://app:" in logged_in("env", "-a", "shop").output
    taken = logged_in("addons", "backup", "postgres", "-a", "shop")
    assert taken.exit_code == 0 and "Backup b1 of postgres taken" in taken.output
    assert logged_in("addons", "backups", "postgres", "-a", "shop").output.split()[:3] == [
        "b1",
        "69",
        "B",
    ]  # the memory driver's dumps
    assert "restored from b1" in logged_in("addons", "restore", "postgres", "b1", "-a", "shop").output
    wrong = logged_in("addons", "destroy", "postgres", "--confirm", "nope", "-a", "shop")
    assert wrong.exit_code != 0 and "--confirm shop" in wrong.output
    assert "destroyed" in logged_in("addons", "destroy", "postgres", "--confirm", "shop", "-a", "shop").output
    assert "DATABASE_URL" not in logged_in("env", "-a", "shop").output
    missing = logged_in("addons", "psql", "-a", "shop")
    assert missing.exit_code != 0 and "its postgres add-ons: none" in missing.output


def test_volumes_through_the_cli(logged_in, user, scheduler):  # noqa: F811
    deploy(make_app("shop", owner=user), processes={"web": "app", "worker": "work"})
    created = logged_in("volumes", "create", "files", "--mount", "/data", "--process", "worker", "-a", "shop")
    assert created.exit_code == 0, created.output
    assert "mounted at /data in worker jobs" in created.output
    assert json.loads(logged_in("volumes", "--json", "-a", "shop").output)[0]["path"] == "/data"
    refused = logged_in("scale", "worker=2", "-a", "shop")
    assert refused.exit_code != 0 and "mounts the volume files" in refused.output
    assert "removed" in logged_in("volumes", "remove", "files", "--confirm", "shop", "-a", "shop").output
    assert "has no volumes" in logged_in("volumes", "-a", "shop").output
