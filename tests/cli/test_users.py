"""`paas users`, `paas tokens` and `paas access` against a live test server."""

import json

import pytest
from click.testing import CliRunner
from django.contrib.auth import get_user_model

from apps.models import ApiToken
from paas.cli.main import cli
from tests.factories import UserFactory, make_app, token_for


@pytest.fixture
def as_user(tmp_path, monkeypatch, live_server, transactional_db):
    """Runs the CLI as a user (by name), with their token in PAAS_TOKEN, as a script would."""
    monkeypatch.chdir(tmp_path)

    def invoke(username: str, *args, token: str | None = None):
        user = get_user_model().objects.filter(username=username).first() or UserFactory(username=username)
        env = {
            "PAAS_CONFIG": str(tmp_path / "cli.json"),
            "PAAS_URL": live_server.url,
            "PAAS_TOKEN": token or token_for(user),
            "PAAS_APP": None,
        }
        return CliRunner().invoke(cli, list(args), env=env)

    return invoke


def test_staff_create_a_user_who_logs_in_with_the_printed_token(as_user):
    UserFactory(username="ops", is_staff=True)
    result = as_user("ops", "users", "create", "bob")
    assert result.exit_code == 0, result.output
    assert "Created user bob." in result.output and "paas login http://" in result.output
    key = result.stdout.strip().splitlines()[-1]
    assert as_user("bob", "whoami", token=key).output.startswith("bob at http://")
    listed = as_user("ops", "users").output.splitlines()
    assert listed[0].split()[:2] == ["bob", "user"] and listed[1].split()[:2] == ["ops", "staff"]


def test_only_staff_create_users(as_user):
    result = as_user("carol", "users", "create", "mallory", "--staff")
    assert result.exit_code == 4 and "only staff may create users" in result.output


def test_tokens_create_list_and_revoke(as_user):
    created = as_user("carol", "tokens", "create", "laptop", "--expires", "30d", "--json")
    assert created.exit_code == 0, created.output
    token = json.loads(created.output)
    assert token["name"] == "laptop" and token["expires_at"]
    listed = as_user("carol", "tokens").output
    assert f"{token['prefix']}...  laptop  expires " in listed and token["key"] not in listed
    plain = as_user("carol", "tokens", "create")
    assert "never expires" in plain.output and plain.stdout.strip().splitlines()[-1] not in listed
    revoked = as_user("carol", "tokens", "revoke", f"{token['prefix']}...")
    assert revoked.exit_code == 0 and f"Revoked token {token['id']}" in revoked.output
    assert not ApiToken.objects.filter(pk=token["id"]).exists()
    refused = as_user("carol", "whoami", token=token["key"])
    assert refused.exit_code == 4
    assert as_user("carol", "tokens", "revoke", "nope").exit_code == 1


def test_a_bad_duration_is_refused_before_any_request(as_user):
    result = as_user("carol", "tokens", "create", "--expires", "soon")
    assert result.exit_code == 1 and "'soon' is not a duration such as 30d" in result.output


def test_access_add_list_and_remove(as_user):
    make_app("shop", owner=UserFactory(username="alice"))
    UserFactory(username="bob")
    assert as_user("bob", "info", "-a", "shop").exit_code == 4
    added = as_user("alice", "access", "add", "bob", "-a", "shop")
    assert added.exit_code == 0 and "Added bob to shop" in added.output
    listed = as_user("bob", "-a", "shop", "access").output.splitlines()
    assert [line.split()[:2] for line in listed] == [["alice", "owner"], ["bob", "collaborator"]]
    refused = as_user("bob", "access", "remove", "bob", "-a", "shop")
    assert refused.exit_code == 4 and "only alice (the owner of shop) or staff" in refused.output
    assert as_user("alice", "access", "-a", "shop", "remove", "bob").output == "Removed bob from shop\n"
    assert as_user("bob", "info", "-a", "shop").exit_code == 4


def test_help_lists_the_new_commands(as_user):
    help_text = as_user("carol", "help").output
    assert "Sharing and accounts:" in help_text
    for command in ("access", "tokens", "users"):
        assert f"  {command} " in help_text
