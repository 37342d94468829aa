"""The CLI against a live test server: exit codes and what the user reads."""

import pytest
from click.testing import CliRunner
from rest_framework.authtoken.models import Token

from hosts.services import host_register_local
from paas.cli.main import cli
from scheduler.services import reconcile
from tests.factories import UserFactory, deploy, make_app


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "cli.json"

    def invoke(*args):
        return CliRunner().invoke(cli, list(args), env={"PAAS_CONFIG": str(config), "PAAS_APP": None})

    return invoke


@pytest.fixture
def user(transactional_db):
    return UserFactory(username="carol")


@pytest.fixture
def logged_in(run, live_server, user):
    result = run("login", live_server.url, "--token", Token.objects.create(user=user).key)
    assert result.exit_code == 0, result.output
    assert f"Logged in to {live_server.url} as carol." in result.output
    return run


def test_commands_before_login_say_how_to_log_in(run):
    result = run("apps")
    assert result.exit_code == 1 and "not logged in; run: paas login URL --token TOKEN" in result.output


def test_a_wrong_token_is_exit_4_with_advice(run, live_server, transactional_db):
    result = run("login", live_server.url, "--token", "wrong")
    assert result.exit_code == 4 and "did not accept your token" in result.output


def test_an_unreachable_platform_is_exit_1(run):
    result = run("login", "http://127.0.0.1:9", "--token", "x")
    assert result.exit_code == 1 and "cannot reach the platform" in result.output


def test_listing_apps_releases_and_jobs(logged_in, user):
    assert "No apps yet" in logged_in("apps").output
    host_register_local()
    app = make_app("shop", owner=user)
    deploy(app)
    deploy(app)
    reconcile()
    reconcile()
    assert logged_in("apps").output.startswith("shop  carol")
    releases = logged_in("releases", "-a", "shop").output.splitlines()
    assert [line.split()[0] for line in releases] == ["v2", "v1"]
    assert logged_in("ps", "-a", "shop").output.split()[:4] == ["web.1", "up", "v2", "local"]
    assert "web=1 (v2)" in logged_in("scale", "-a", "shop").output


def test_app_commands_need_an_app(logged_in):
    result = logged_in("ps")
    assert result.exit_code == 1 and "which app?" in result.output


def test_scale_arguments_are_checked_before_any_request(logged_in):
    result = logged_in("scale", "web:2", "-a", "shop")
    assert result.exit_code == 1 and "'web:2' is not TYPE=N" in result.output


def test_create_outside_a_checkout_adds_no_remote(logged_in):
    result = logged_in("create", "fresh")
    assert result.exit_code == 0 and result.output == "Created fresh\n"


def test_another_users_app_is_not_found(logged_in):
    make_app("theirs")
    result = logged_in("releases", "-a", "theirs")
    assert result.exit_code == 4 and "app 'theirs' not found" in result.output
