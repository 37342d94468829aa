"""Users and permissions: who sees and changes which app (API, git server, console), API tokens, quotas.

Each test is a finding of the security review, and failed before the fix.
"""

import hashlib
import io
import tarfile
from datetime import timedelta
from unittest import mock

import asyncssh
import pytest
from django.contrib.auth.models import Permission
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.models import ApiToken, App, Event, EventAction, Key
from apps.services import key_add
from artifacts.blobstore import blob_put_file
from artifacts.services import artifact_create
from buildpacks.models import Build, BuildState
from buildpacks.pipeline import build_execute
from buildpacks.services import build_start
from buildpacks.sshd import _authorize
from formations.selectors import formation_get
from hosts.services import host_register_local
from paas.errors import Forbidden, QuotaExceeded
from releases.models import Release
from scheduler.models import Job
from scheduler.services import reconcile
from tests.api.conftest import client_for
from tests.factories import UserFactory, deploy, make_app, token_for

pytestmark = pytest.mark.django_db


def _many_types(count: int) -> dict[str, str]:
    return {f"p{number}": "sleep infinity" for number in range(count)}


def test_one_api_call_can_no_longer_make_30000_jobs():
    """Finding: a Procfile of 300 process types, then one PATCH of 100 each, made 30,000 jobs."""
    owner = UserFactory()
    app = make_app("flood", owner=owner)
    with pytest.raises(QuotaExceeded, match=r"300 process types, over the limit of 20 .*PAAS_QUOTA_PROCESS_TYPES"):
        deploy(app, processes=_many_types(300))
    assert not Release.objects.filter(app=app).exists()

    deploy(app, processes=_many_types(20))  # as many types as allowed
    host_register_local()
    response = client_for(owner).patch(
        "/api/apps/flood/formation/", {"counts": {ptype: 100 for ptype in _many_types(20)}}, format="json"
    )
    assert response.status_code == 409
    assert "2000 replicas of flood, over the limit of 50 per app (PAAS_QUOTA_REPLICAS)" in response.json()["error"]
    reconcile()
    assert formation_get(app=app).counts == {} and not Job.objects.exists()


def test_replicas_are_counted_over_all_of_an_apps_process_types():
    owner = UserFactory()
    deploy(make_app("shop", owner=owner), processes={"web": "serve", "worker": "work"})
    api = client_for(owner)
    assert api.patch("/api/apps/shop/formation/", {"counts": {"web": 30}}, format="json").status_code == 200
    refused = api.patch("/api/apps/shop/formation/", {"counts": {"worker": 21}}, format="json")
    assert refused.status_code == 409 and "web=30 worker=21 is 51 replicas" in refused.json()["error"]
    assert api.patch("/api/apps/shop/formation/", {"counts": {"worker": 20}}, format="json").status_code == 200


def _slug_with_procfile(path, processes: dict) -> None:
    procfile = "".join(f"{ptype}: {command}\n" for ptype, command in processes.items()).encode()
    with tarfile.open(path, "w") as tar:
        member = tarfile.TarInfo("app/Procfile")
        member.size = len(procfile)
        tar.addfile(member, io.BytesIO(procfile))


def test_a_build_whose_procfile_declares_too_many_types_fails_saying_so(tmp_path):
    app = make_app("flood")
    source = tmp_path / "source.tar"
    tarfile.open(source, "w").close()  # a pushed tree with no Dockerfile: buildpacks build it
    digest, _ = blob_put_file(source)
    build = Build.objects.create(app=app, revision="a" * 40, source_digest=digest, created_by=app.owner)
    build_start(build=build)
    slug = tmp_path / "slug.tar"
    _slug_with_procfile(slug, _many_types(300))

    def runtime_artifact(engine, stack, build, *rest):
        return artifact_create(app=build.app, image="paas-app/flood:1", image_id="sha256:" + "1" * 64)

    with (
        mock.patch("buildpacks.pipeline.stack_ensure", return_value="paas/stack"),
        mock.patch("buildpacks.pipeline._compile", return_value=(slug, None)),
        mock.patch("buildpacks.pipeline._runtime_artifact", side_effect=runtime_artifact),
    ):
        build_execute(build)
    build.refresh_from_db()
    assert build.state == BuildState.FAILED
    assert "300 process types, over the limit of 20 in one release (PAAS_QUOTA_PROCESS_TYPES)" in build.error
    assert "PAAS_QUOTA_PROCESS_TYPES" in build.log and not Release.objects.filter(app=app).exists()


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def bob():
    return UserFactory(username="bob")


@pytest.fixture
def shop(alice):
    app = make_app("shop", owner=alice)
    deploy(app, processes={"web": "serve"}, config={"SECRET": "s3cret"})
    return app


def test_a_second_user_cannot_see_push_scale_or_read_config_until_added(alice, bob, shop):
    as_bob = client_for(bob)
    assert as_bob.get("/api/apps/").json() == []
    for path in ("", "config/", "formation/", "releases/", "events/", "access/"):
        response = as_bob.get(f"/api/apps/shop/{path}")
        assert response.status_code == 404 and "app 'shop' not found" in response.json()["error"], path
    assert as_bob.patch("/api/apps/shop/formation/", {"counts": {"web": 2}}, format="json").status_code == 404
    with pytest.raises(Forbidden, match="does not exist or you may not push to it"):
        _authorize(bob.pk, "shop")

    added = client_for(alice).post("/api/apps/shop/access/", {"username": "bob"}, format="json")
    assert added.status_code == 201 and added.json()["user"] == "bob"

    assert [app["name"] for app in as_bob.get("/api/apps/").json()] == ["shop"]
    assert as_bob.get("/api/apps/shop/config/").json()["config"] == {"SECRET": "s3cret"}
    assert as_bob.patch("/api/apps/shop/formation/", {"counts": {"web": 2}}, format="json").status_code == 200
    assert _authorize(bob.pk, "shop") == (bob, shop)


def test_a_collaborator_may_not_destroy_the_app_nor_change_who_has_access(alice, bob, shop):
    client_for(alice).post("/api/apps/shop/access/", {"username": "bob"}, format="json")
    UserFactory(username="carol")
    as_bob = client_for(bob)
    destroy = as_bob.delete("/api/apps/shop/", {"confirm": "shop"}, format="json")
    assert destroy.status_code == 403 and "only alice (the owner of shop) or staff may destroy shop" in destroy.text
    assert as_bob.post("/api/apps/shop/access/", {"username": "carol"}, format="json").status_code == 403
    assert as_bob.delete("/api/apps/shop/access/bob/").status_code == 403
    assert as_bob.get("/api/apps/shop/").status_code == 200


def test_access_removed_is_access_gone(alice, bob, shop):
    as_alice, as_bob = client_for(alice), client_for(bob)
    as_alice.post("/api/apps/shop/access/", {"username": "bob"}, format="json")
    assert as_alice.delete("/api/apps/shop/access/bob/").status_code == 204
    assert as_bob.get("/api/apps/shop/").status_code == 404
    with pytest.raises(Forbidden):
        _authorize(bob.pk, "shop")


def test_staff_see_and_change_every_app(shop):
    operator = UserFactory(username="operator", is_staff=True)
    as_operator = client_for(operator)
    assert [app["name"] for app in as_operator.get("/api/apps/").json()] == ["shop"]
    assert as_operator.patch("/api/apps/shop/formation/", {"counts": {"web": 2}}, format="json").status_code == 200
    assert _authorize(operator.pk, "shop") == (operator, shop)
    assert as_operator.delete("/api/apps/shop/", {"confirm": "shop"}, format="json").status_code == 204


def test_api_tokens_are_stored_hashed(alice):
    created = client_for(alice).post("/api/tokens/", {"name": "laptop"}, format="json")
    assert created.status_code == 201
    key = created.json()["key"]
    row = ApiToken.objects.get(name="laptop")
    assert len(key) >= 40 and row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = " ".join(str(value) for value in model_to_dict(row).values())
    stored += " ".join(Event.objects.values_list("detail", flat=True))
    assert key not in stored and key[8:] not in stored
    assert key not in str(client_for(alice).get("/api/tokens/").json())
    assert APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/").json()["user"] == "alice"


def test_an_expired_token_is_refused_saying_so(alice):
    key = token_for(alice, expires_in=timedelta(days=1))
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/apps/").status_code == 200
    ApiToken.objects.filter(key_prefix=key[:8]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/apps/")
    assert response.status_code == 401
    assert f"token {key[:8]}... expired at" in response.json()["error"]
    assert "paas tokens create" in response.json()["error"]


def test_a_revoked_token_is_refused_and_only_its_user_revokes_it(alice, bob):
    key = token_for(alice)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    token_id = ApiToken.objects.get(key_prefix=key[:8]).pk
    assert client_for(bob).delete(f"/api/tokens/{token_id}/").status_code == 404
    assert client.get("/api/apps/").status_code == 200
    assert client_for(alice).delete(f"/api/tokens/{token_id}/").status_code == 204
    response = client.get("/api/apps/")
    assert response.status_code == 401 and "invalid token (unknown or revoked)" in response.json()["error"]


def test_only_staff_create_users(alice):
    response = client_for(alice).post("/api/users/", {"username": "mallory", "is_staff": True}, format="json")
    assert response.status_code == 403 and not Event.objects.filter(action=EventAction.USER_CREATE).exists()
    assert client_for(alice).get("/api/users/").status_code == 403


def _console_staff(client, username: str):
    """A staff user who is not a superuser, with the console's view and change rights on apps, logged in."""
    staff = UserFactory(username=username, is_staff=True)
    codenames = ["view_app", "change_app", "delete_app", "view_release"]
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(staff)
    return staff


def test_the_console_shows_staff_their_own_and_collaborated_apps_only(client, admin_client, alice, shop):
    staff = _console_staff(client, "dora")
    mine, theirs = make_app("mine", owner=staff), make_app("theirs")
    client_for(alice).post("/api/apps/shop/access/", {"username": "dora"}, format="json")
    page = client.get(reverse("admin:apps_app_changelist")).content.decode()
    assert ">mine<" in page and ">shop<" in page and "theirs" not in page
    assert client.get(reverse("admin:apps_app_scale", args=[shop.pk])).status_code == 200
    assert client.get(reverse("admin:apps_app_scale", args=[theirs.pk])).status_code == 302  # "does not exist"
    releases = client.get(reverse("admin:releases_release_changelist")).content.decode()
    assert "shop" in releases and "theirs" not in releases
    # a collaborator may not destroy the app in the console either; its owner may
    assert client.post(reverse("admin:apps_app_delete", args=[shop.pk]), {"post": "yes"}).status_code == 403
    assert client.post(reverse("admin:apps_app_delete", args=[mine.pk]), {"post": "yes"}).status_code == 302
    assert not App.objects.filter(pk=mine.pk).exists() and App.objects.filter(pk=shop.pk).exists()
    everything = admin_client.get(reverse("admin:apps_app_changelist")).content.decode()  # a superuser's
    assert ">shop<" in everything and ">theirs<" in everything


def test_apps_per_user_are_limited_but_not_for_staff(settings, alice):
    settings.PAAS_QUOTA_APPS = 2
    api = client_for(alice)
    assert [api.post("/api/apps/", {"name": name}, format="json").status_code for name in ("one", "two")] == [201, 201]
    refused = api.post("/api/apps/", {"name": "three"}, format="json")
    assert refused.status_code == 409
    assert "alice owns 2 apps, the most allowed (PAAS_QUOTA_APPS=2)" in refused.json()["error"]
    operator = client_for(UserFactory(is_staff=True))
    made = [operator.post("/api/apps/", {"name": name}, format="json").status_code for name in ("a-1", "a-2", "a-3")]
    assert made == [201, 201, 201]


def test_ssh_keys_per_user_are_limited_but_not_for_staff(settings, alice):
    settings.PAAS_QUOTA_KEYS = 1

    def public_key() -> str:
        return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()

    key_add(user=alice, public_key=public_key())
    with pytest.raises(QuotaExceeded, match=r"you have 1 SSH keys, the most allowed \(PAAS_QUOTA_KEYS=1\)"):
        key_add(user=alice, public_key=public_key())
    operator = UserFactory(is_staff=True)
    for _ in range(2):
        key_add(user=operator, public_key=public_key())
    assert Key.objects.filter(user=alice).count() == 1 and Key.objects.filter(user=operator).count() == 2


def test_concurrent_builds_per_user_are_limited(settings, alice, shop, tmp_path):
    from buildpacks.services import build_create

    settings.PAAS_QUOTA_BUILDS = 2
    source = tmp_path / "source.tar"
    source.write_bytes(b"source")
    with mock.patch("buildpacks.services.build_enqueue"):
        first = build_create(app=shop, actor=alice, revision="a" * 40, source_path=source)
        build_create(app=shop, actor=alice, revision="b" * 40, source_path=source)
        with pytest.raises(QuotaExceeded, match=r"alice has 2 builds pending or running.*PAAS_QUOTA_BUILDS=2"):
            build_create(app=shop, actor=alice, revision="c" * 40, source_path=source)
        Build.objects.filter(pk=first.pk).update(state=BuildState.SUCCEEDED)
        assert build_create(app=shop, actor=alice, revision="c" * 40, source_path=source).state == BuildState.PENDING
