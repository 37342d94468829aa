"""The CLI against a live test server: exit codes and what the user reads."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from buildpacks.models import Build
from hosts.services import host_register_local
from paas.cli.main import cli
from scheduler.loop import SchedulerLoop
from scheduler.services import reconcile
from tests.factories import UserFactory, deploy, make_app, token_for
from tests.sshkeys import ssh_key


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "cli.json"

    def invoke(*args, input=None):
        return CliRunner().invoke(cli, list(args), input=input, env={"PAAS_CONFIG": str(config), "PAAS_APP": None})

    return invoke


@pytest.fixture
def user(transactional_db):
    return UserFactory(username="carol")


@pytest.fixture
def logged_in(run, live_server, user):
    result = run("login", live_server.url, input=token_for(user) + "\n")
    assert result.exit_code == 0, result.output
    assert f"Logged in to {live_server.url} as carol." in result.output
    return run


def test_commands_before_login_say_how_to_log_in(run):
    result = run("apps")
    assert result.exit_code == 1 and "not logged in; run: paas login URL (it asks for your API token)" in result.output


def test_a_wrong_token_is_exit_4_with_advice(run, live_server, transactional_db):
    result = run("login", live_server.url, input="wrong\n")
    assert result.exit_code == 4 and "did not accept your token" in result.output


def test_an_unreachable_platform_is_exit_1(run):
    result = run("login", "http://127.0.0.1:9", input="x\n")
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


@pytest.fixture
def scheduler(transactional_db, settings):
    """The scheduler loop, as `paas up` runs it, so that commands that wait for a rollout see it finish."""
    settings.PAAS_SCHEDULER_INTERVAL = 0.2
    host_register_local()
    loop = SchedulerLoop()
    loop.start()
    yield loop
    loop.stop()


def test_config_vars_through_the_cli(logged_in, user, scheduler):
    deploy(make_app("shop", owner=user))
    result = logged_in("env", "set", "GREETING=hello world", "MULTI=a=b", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert "Made v2 of shop" in result.output and "v2 is live." in result.output
    assert logged_in("-a", "shop", "env").output == "GREETING=hello world\nMULTI=a=b\n"
    assert logged_in("env", "--shell", "-a", "shop").output == "export GREETING='hello world'\nexport MULTI=a=b\n"
    assert logged_in("env", "get", "GREETING", "-a", "shop").output == "hello world\n"
    assert logged_in("env", "get", "NOPE", "-a", "shop").exit_code == 1
    assert "Made v3" in logged_in("env", "unset", "MULTI", "-a", "shop").output
    assert logged_in("env", "set", "GREETING=hello world", "-a", "shop").output == "No change; no new release.\n"
    bad = logged_in("env", "set", "PAAS_X=1", "-a", "shop")
    assert bad.exit_code == 4 and "reserved" in bad.output


def test_releases_diff_and_rollback_through_the_cli(logged_in, user, scheduler):
    app = make_app("shop", owner=user)
    deploy(app, config={"TOKEN": "secret-1"})
    deploy(app, config={"TOKEN": "secret-2"}, processes={"web": "python app.py", "worker": "python work.py"})
    diff = logged_in("releases", "diff", "v1", "2", "-a", "shop").output
    assert "process + worker=python work.py" in diff and "config ~ TOKEN" in diff and "secret" not in diff
    shown = logged_in("-a", "shop", "releases", "diff", "1", "2", "--show-values").output
    assert "config ~ TOKEN: secret-1 -> secret-2" in shown
    result = logged_in("rollback", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert "Rollback to v1: made v3 of shop" in result.output and "v3 is live." in result.output
    assert logged_in("releases", "-a", "shop").output.split()[:4] == ["v3", "Rollback", "to", "v1"]


def test_restart_waits_until_every_job_is_replaced(logged_in, user, scheduler):
    deploy(make_app("shop", owner=user))
    result = logged_in("restart", "-a", "shop", "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert "Restarting every process type of shop" in result.output and "v1 is live." in result.output


def test_destroy_asks_for_the_name(logged_in, user):
    make_app("shop", owner=user)
    refused = logged_in("destroy", "-a", "shop", "--confirm", "shoe")
    assert refused.exit_code == 1 and "not destroyed" in refused.output
    assert logged_in("destroy", "-a", "shop", "--confirm", "shop").output == "Destroyed shop\n"
    assert "No apps yet" in logged_in("apps").output
    assert "app.destroy" in logged_in("events", "--all", "--json").output


def test_events_builds_and_whoami(logged_in, user):
    app = make_app("shop", owner=user)
    Build.objects.create(app=app, revision="b" * 40, source_digest="sha256:" + "2" * 64, log="-----> Building\n")
    assert "created shop" in logged_in("events", "-a", "shop").output
    assert logged_in("builds", "-a", "shop").output.split()[1:3] == ["pending", "bbbbbbb"]
    build_id = Build.objects.get().pk
    assert logged_in("builds", "log", str(build_id), "-a", "shop").output == "-----> Building\n"
    assert logged_in("whoami").output.startswith("carol at http://")


def test_version_help_and_completion(logged_in):
    version = logged_in("version").output
    assert version.startswith("paas CLI ") and "server   0." in version
    help_text = logged_in("help").output
    assert help_text.index("Getting started:") < help_text.index("Releases and config:")
    env_help = logged_in("help", "env").output
    assert env_help.startswith("Usage: paas env") and "unset  Unset config vars" in env_help
    assert "_PAAS_COMPLETE" in logged_in("completion", "bash").output


def test_keys_add_proves_that_the_key_is_yours_with_its_private_key(logged_in, tmp_path):
    key = ssh_key(tmp_path, "laptop")
    result = logged_in("keys", "add", f"{key}.pub")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Added key SHA256:") and result.output.endswith(" laptop@test\n")
    assert "laptop@test" in logged_in("keys").output


def test_keys_add_needs_the_keys_own_private_key(logged_in, tmp_path, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key, other = ssh_key(tmp_path, "laptop"), ssh_key(tmp_path, "other")
    public_only = tmp_path / "copied.pub"
    public_only.write_text(Path(f"{key}.pub").read_text())
    result = logged_in("keys", "add", str(public_only))
    assert result.exit_code == 1 and f"no private key found beside {public_only}" in result.output
    assert "--private-key PATH" in result.output
    result = logged_in("keys", "add", str(public_only), "--private-key", str(other))
    assert result.exit_code == 4 and "not with the key you are adding" in result.output
    assert logged_in("keys", "add", str(public_only), "--private-key", str(key)).exit_code == 0
