"""The git server as an attacker tries it, over real SSH: hostile commands and paths, strangers and collaborators."""

import contextlib
import subprocess

import pytest

from tests.e2e.conftest import commit
from tests.e2e.test_git_push_deploy import deploy_new_app, write_app

pytestmark = pytest.mark.e2e


def ssh(platform, command: str) -> subprocess.CompletedProcess:
    """Runs `command` on the git server with the platform's key, as a hostile user would try."""
    options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
    args = ["ssh", "-i", str(platform.key), *options, "-p", str(platform.ssh_port), "git@127.0.0.1", command]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    "command",
    [
        "cat /etc/passwd",
        "sh -c id",
        "git-receive-pack '/../../etc.git'",
        "git-receive-pack '../repos/victim.git'",
        "git-upload-pack '--upload-pack=touch /tmp/paas-pwned'",
        "git-receive-pack 'target.git'; touch /tmp/paas-pwned",
        "git-upload-pack '$(touch /tmp/paas-pwned)'",
        "git-upload-pack 'target.git' extra",
        "git-upload-pack '/TARGET.GIT'",
        "run ../../etc -- touch /tmp/paas-pwned",
        "run nosuchapp -- touch /tmp/paas-pwned",
        "run 'target; touch /tmp/paas-pwned'",
    ],
)
def test_hostile_commands_and_paths_are_refused_and_run_nothing(logged_in, command):
    result = ssh(logged_in, command)
    assert result.returncode != 0
    assert (
        "only git push and fetch are" in result.stderr
        or "is not an app repository" in result.stderr
        or ("does not exist or you may not push to it" in result.stderr)
        or ("say what to run" in result.stderr)
    ), result.stderr
    assert subprocess.run(["test", "-e", "/tmp/paas-pwned"]).returncode != 0


def test_an_unregistered_key_cannot_log_in(logged_in, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    key, logged_in.key = logged_in.key, stranger
    try:
        result = ssh(logged_in, "git-upload-pack '/target.git'")
    finally:
        logged_in.key = key
    assert result.returncode == 255 and "Permission denied" in result.stderr


@contextlib.contextmanager
def as_user(platform, name: str):
    """Runs the CLI and git as another user of the platform: their own login config and SSH key."""
    saved = platform.cli_config, platform.key
    platform.cli_config, platform.key = platform.root / f"{name}.json", platform.root / f"{name}_ed25519"
    try:
        yield platform
    finally:
        platform.cli_config, platform.key = saved


def test_a_second_user_cannot_push_until_added_as_a_collaborator(logged_in):
    platform = logged_in
    deploy_new_app(platform, "target", "target v1")
    token = platform.paas_json("users", "create", "bob")["token"]
    source = platform.root / "bob-target"
    write_app(source, "target by bob")
    commit(platform, source, "bob's change")
    remote = f"ssh://git@127.0.0.1:{platform.ssh_port}/target.git"
    with as_user(platform, "bob"):
        assert platform.paas("login", platform.url, input=token + "\n").exit_code == 0
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(platform.key)], check=True)
        assert platform.paas("keys", "add", f"{platform.key}.pub").exit_code == 0
        assert platform.paas_json("apps") == []
        assert platform.paas("env", "-a", "target").exit_code == 4
        assert platform.paas("scale", "web=2", "-a", "target").exit_code == 4
        assert platform.paas("run", "-a", "target", "--", "id").exit_code == 4
        push = platform.git("push", remote, "HEAD:main", cwd=source)
        assert push.returncode != 0 and "does not exist or you may not push to it" in push.stderr
        run = ssh(platform, "run target -- touch /tmp/paas-pwned")
        assert run.returncode != 0 and "does not exist or you may not push to it" in run.stderr
    assert "bob" in platform.paas("access", "add", "bob", "-a", "target").output
    with as_user(platform, "bob"):
        push = platform.git("push", "--force", remote, "HEAD:main", cwd=source)
        assert push.returncode == 0, push.stderr
        assert platform.curl("target").startswith("target by bob from job")
        assert platform.paas("destroy", "-a", "target", "--confirm", "target").exit_code == 4
