import pytest

from buildpacks.hook import _deploy_update
from buildpacks.sshd import parse_git_command
from paas.errors import InvalidInput

OLD, NEW = "0" * 40, "a" * 40


@pytest.mark.parametrize(
    "command, expected",
    [
        ("git-receive-pack '/myapp.git'", ("git-receive-pack", "myapp")),
        ("git-receive-pack 'myapp.git'", ("git-receive-pack", "myapp")),
        ("git-upload-pack '/my-app'", ("git-upload-pack", "my-app")),
    ],
)
def test_git_commands_name_the_app(command, expected):
    assert parse_git_command(command) == expected


@pytest.mark.parametrize(
    "command", [None, "", "bash", "rm -rf /", "git-receive-pack '../etc/passwd'", "git-receive-pack a b"]
)
def test_anything_else_is_refused(command):
    with pytest.raises(InvalidInput):
        parse_git_command(command)


def test_a_push_to_main_or_master_deploys():
    assert _deploy_update([f"{OLD} {NEW} refs/heads/main"]) == ([OLD, NEW, "refs/heads/main"], None)
    assert _deploy_update([f"{OLD} {NEW} refs/heads/master"])[1] is None


def test_other_branches_and_deletes_are_refused():
    assert "push the main or master branch" in _deploy_update([f"{OLD} {NEW} refs/heads/feature"])[1]
    assert "deleting" in _deploy_update([f"{NEW} {OLD} refs/heads/main"])[1]
    assert "one branch" in _deploy_update([f"{OLD} {NEW} refs/heads/main", f"{OLD} {NEW} refs/heads/master"])[1]
