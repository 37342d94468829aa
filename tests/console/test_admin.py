"""The console (Django's admin) through the test client: its pages, and the forms that call the services."""

import asyncssh
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.models import App, Event, EventAction, Key
from apps.services import key_add
from buildpacks.services import build_create, build_log_append, repo_path
from formations.models import Formation
from formations.selectors import formation_get
from hosts.services import host_register_local
from releases.selectors import config_current, release_latest
from scheduler.services import reconcile
from tests.factories import UserFactory, deploy, make_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def host():
    return host_register_local()


@pytest.fixture
def running_app(host, admin_user):
    app = make_app(owner=admin_user)
    deploy(app, processes={"web": "gunicorn app:app", "worker": "python worker.py"})
    reconcile()
    return app


def _public_key(comment: str = "me@laptop") -> str:
    return asyncssh.generate_private_key("ssh-ed25519", comment=comment).export_public_key().decode()


def _action_url(app, action: str) -> str:
    return reverse(f"admin:apps_app_{action}", args=[app.pk])


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_header_names_the_platform(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "<title>Apps, releases, jobs and hosts | paas console</title>" in page
    assert '<div id="site-name"><a href="/admin/">paas console</a></div>' in page
    assert "Django administration" not in page


def test_the_app_list_shows_release_formation_jobs_and_url(admin_client, running_app):
    page = admin_client.get(reverse("admin:apps_app_changelist")).content.decode()
    row = page[page.index('<th class="field-name">') :].split("</tr>")[0]
    assert ">v1<" in row and ">web=1<" in row and ">1 up<" in row
    assert '<a href="http://myapp.localhost:8080/">http://myapp.localhost:8080/</a>' in row


def test_the_app_page_lists_jobs_releases_builds_and_events(admin_client, running_app, tmp_path):
    source = tmp_path / "source.tar"
    source.write_bytes(b"source")
    build = build_create(app=running_app, actor=running_app.owner, revision="a1b2c3d4e5f6a7b8", source_path=source)
    build_log_append(build=build, text="-----> Python app detected\n<done>\n")
    page = admin_client.get(reverse("admin:apps_app_change", args=[running_app.pk])).content.decode()
    for action in ("scale", "restart", "rollback", "config"):
        assert f'href="{_action_url(running_app, action)}"' in page
    assert "Jobs (1)" in page and ">web.1</a>" in page and '<span class="state state-up">up</span>' in page
    assert f'href="{reverse("admin:releases_release_change", args=[running_app.releases.get().pk])}">v1</a>' in page
    assert f'href="{reverse("admin:buildpacks_build_change", args=[build.pk])}">{build.pk}</a>' in page
    assert "<td>App created</td>" in page and "<td>created myapp</td>" in page
    assert 'name="_save"' not in page  # nothing on the page is edited in place
    build_page = admin_client.get(reverse("admin:buildpacks_build_change", args=[build.pk])).content.decode()
    assert '<pre class="build-log">-----&gt; Python app detected\n&lt;done&gt;\n</pre>' in build_page


def test_scale_calls_the_service_and_names_the_counts(admin_client, running_app):
    form = admin_client.get(_action_url(running_app, "scale")).content.decode()
    assert 'name="web"' in form and 'name="worker"' in form
    response = admin_client.post(_action_url(running_app, "scale"), {"web": "3", "worker": "1"}, follow=True)
    assert _messages(response) == ["Scaled myapp: web=3 worker=1."]
    assert formation_get(app=running_app).counts == {"web": 3, "worker": 1}
    assert Event.objects.filter(app=running_app, action=EventAction.SCALE, detail="web=3 worker=1").exists()
    reconcile()
    page = admin_client.get(reverse("admin:apps_app_change", args=[running_app.pk])).content.decode()
    assert "web.3" in page and "worker.1" in page and "Jobs (4)" in page


def test_scale_shows_the_services_refusal(admin_client, running_app):
    response = admin_client.post(_action_url(running_app, "scale"), {"web": "101", "worker": "0"})
    assert response.status_code == 200
    assert _messages(response) == ["web=101: a count is a whole number from 0 to 100"]
    assert formation_get(app=running_app).counts == {"web": 1}


def test_scale_before_the_first_push_says_what_to_do(admin_client, admin_user):
    app = make_app(owner=admin_user)
    page = admin_client.get(_action_url(app, "scale")).content.decode()
    assert "has no process types yet: push code with a Procfile first" in page


def test_restart_calls_the_service(admin_client, running_app):
    response = admin_client.post(_action_url(running_app, "restart"), {"process_type": "web"}, follow=True)
    assert _messages(response) == ["Restarting web of myapp, one job at a time."]
    assert formation_get(app=running_app).generations == {"web": 1}


def test_restart_shows_the_services_refusal(admin_client, admin_user):
    app = make_app(owner=admin_user)
    response = admin_client.post(_action_url(app, "restart"), {"process_type": ""})
    assert _messages(response) == ["myapp has nothing running to restart; deploy with: git push paas main"]


def test_rollback_makes_a_new_release_and_names_it(admin_client, running_app):
    deploy(running_app)
    form = admin_client.get(_action_url(running_app, "rollback")).content.decode()
    assert '<option value="1">v1: ' in form
    response = admin_client.post(_action_url(running_app, "rollback"), {"version": "1"}, follow=True)
    assert _messages(response) == ["Released v3 of myapp: Rollback to v1."]
    assert formation_get(app=running_app).release.version == 3


def test_rollback_shows_the_services_refusal(admin_client, running_app):
    response = admin_client.post(_action_url(running_app, "rollback"), {"version": ""})
    assert _messages(response) == ["myapp has no earlier release to roll back to"]
    assert release_latest(app=running_app).version == 1


def test_config_sets_and_unsets_in_one_release(admin_client, running_app):
    url = _action_url(running_app, "config")
    response = admin_client.post(url, {"set_lines": "GREETING=hello world\nDEBUG=1\n", "unset_keys": ""}, follow=True)
    assert _messages(response) == ["Released v2 of myapp: Set DEBUG, GREETING."]
    response = admin_client.post(url, {"set_lines": "", "unset_keys": "DEBUG"}, follow=True)
    assert _messages(response) == ["Released v3 of myapp: Unset DEBUG."]
    assert config_current(app=running_app) == {"GREETING": "hello world"}
    assert "GREETING" in admin_client.get(url).content.decode()
    response = admin_client.post(url, {"set_lines": "GREETING=hello world", "unset_keys": ""}, follow=True)
    assert _messages(response) == ["Nothing changed: myapp's config already has those values."]


def test_config_shows_the_services_refusal_and_a_malformed_line(admin_client, running_app):
    url = _action_url(running_app, "config")
    response = admin_client.post(url, {"set_lines": "PAAS_APP=x", "unset_keys": ""})
    assert _messages(response) == ["config key 'PAAS_APP' is reserved: keys starting with PAAS_ are the platform's"]
    response = admin_client.post(url, {"set_lines": "no equals sign", "unset_keys": ""})
    assert "line 1 (&#x27;no equals sign&#x27;) is not KEY=value" in response.content.decode()
    assert release_latest(app=running_app).version == 1


def test_adding_an_app_goes_through_app_create(admin_client, admin_user):
    response = admin_client.post(reverse("admin:apps_app_add"), {"name": "fresh"})
    app = App.objects.get(name="fresh")
    assert response.status_code == 302
    assert app.owner == admin_user
    assert Formation.objects.filter(app=app).exists()
    assert Event.objects.filter(app=app, action=EventAction.APP_CREATE, actor=admin_user).exists()


def test_adding_an_app_without_a_name_generates_one(admin_client):
    admin_client.post(reverse("admin:apps_app_add"), {"name": ""})
    app = App.objects.get()
    assert len(app.name.split("-")) == 3 and Formation.objects.filter(app=app).exists()


def test_adding_an_app_with_a_bad_name_shows_the_rule(admin_client):
    response = admin_client.post(reverse("admin:apps_app_add"), {"name": "Bad_Name"})
    assert response.status_code == 200
    assert "lowercase letters, digits and dashes" in response.content.decode()
    assert not App.objects.exists()


def test_deleting_an_app_goes_through_app_destroy(admin_client, running_app, django_capture_on_commit_callbacks):
    repository = repo_path(running_app.name)
    repository.mkdir(parents=True)
    (repository / "HEAD").write_text("ref: refs/heads/main\n")
    url = reverse("admin:apps_app_delete", args=[running_app.pk])
    assert admin_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not App.objects.filter(name="myapp").exists()
    assert not repository.exists()
    assert Event.objects.filter(app_name="myapp", action=EventAction.APP_DESTROY).exists()


def test_deleting_apps_from_the_list_goes_through_app_destroy(
    admin_client, admin_user, django_capture_on_commit_callbacks
):  # noqa: E501
    apps = [make_app(name=name, owner=admin_user) for name in ("one-app", "two-app")]
    for app in apps:
        repo_path(app.name).mkdir(parents=True)
    data = {"action": "delete_selected", "_selected_action": [app.pk for app in apps], "post": "yes"}
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:apps_app_changelist"), data)
    assert not App.objects.exists()
    assert not any(repo_path(app.name).exists() for app in apps)
    assert Event.objects.filter(action=EventAction.APP_DESTROY).count() == 2


@pytest.mark.parametrize(
    "model",
    [
        "releases_release",
        "scheduler_job",
        "buildpacks_build",
        "formations_formation",
        "artifacts_artifact",
        "hosts_host",
        "apps_event",
    ],
)
def test_what_the_platform_makes_cannot_be_added(admin_client, model):
    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403


def test_what_the_platform_makes_is_view_only(admin_client, running_app):
    release = release_latest(app=running_app)
    url = reverse("admin:releases_release_change", args=[release.pk])
    page = admin_client.get(url).content.decode()
    assert "View release" in page and 'name="_save"' not in page
    assert admin_client.post(url, {"description": "changed"}).status_code == 403
    assert admin_client.post(reverse("admin:releases_release_delete", args=[release.pk])).status_code == 403
    changelist = admin_client.get(reverse("admin:releases_release_changelist")).content.decode()
    assert reverse("admin:releases_release_add") not in changelist


def test_staff_who_are_not_superusers_see_their_own_apps(client, host):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_app", "change_app", "view_release"]))
    client.force_login(staff)
    mine, theirs = make_app(name="mine", owner=staff), make_app(name="theirs")
    deploy(theirs)
    page = client.get(reverse("admin:apps_app_changelist")).content.decode()
    assert "mine" in page and "theirs" not in page
    assert client.get(_action_url(theirs, "scale")).status_code == 302  # "does not exist", back to the index
    assert client.get(_action_url(mine, "scale")).status_code == 200
    assert "theirs" not in client.get(reverse("admin:releases_release_changelist")).content.decode()


def test_keys_are_not_added_in_the_console_but_removed_through_the_key_service(admin_client, admin_user):
    assert admin_client.get(reverse("admin:apps_key_add")).status_code == 403
    key = key_add(user=admin_user, public_key=_public_key("me@laptop"))
    admin_client.post(reverse("admin:apps_key_delete", args=[key.pk]), {"post": "yes"})
    assert not Key.objects.exists()
    assert Event.objects.filter(action=EventAction.KEY_REMOVE).exists()


def test_lists_are_titled_with_what_they_list(admin_client, running_app):
    page = admin_client.get(reverse("admin:apps_app_changelist")).content.decode()
    assert "<h1>Apps</h1>" in page and "Select app to change" not in page
    assert "<h1>Releases</h1>" in admin_client.get(reverse("admin:releases_release_changelist")).content.decode()


def test_the_app_page_charts_its_traffic_with_its_deploys_marked(admin_client, running_app):
    from datetime import timedelta

    from django.utils import timezone

    from scheduler.models import TrafficMinute
    from scheduler.traffic import LATENCY_BUCKETS_MS

    minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    latency = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    latency[3] = 90
    TrafficMinute.objects.create(app=running_app, minute=minute, requests=90, latency=latency)
    page = admin_client.get(reverse("admin:apps_app_change", args=[running_app.pk])).content.decode()
    chart = page[page.index('id="app-traffic"') : page.index('id="app-releases"')]
    assert "Traffic, last 60 minutes (90 requests)" in chart
    assert chart.count("<polyline") == 2 and ">v1</text>" in chart
    assert "top 1.5)" in chart  # 90 requests in a minute: 1.5 a second at the top of the chart
