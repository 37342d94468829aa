"""Network defaults: the API, console and git server listen on loopback unless PAAS_BIND says otherwise; the API
answers only the host names it is configured with; `paas login` never takes the token on the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.conf import settings
from django.test import override_settings

from paas.cli.main import cli
from paas.runner import _banner

REPOSITORY = Path(__file__).resolve().parents[2]


def _fresh_settings(tmp_path, **environment) -> dict:
    """PAAS_BIND and ALLOWED_HOSTS as a fresh process reads them from this environment."""
    env = {name: value for name, value in os.environ.items() if name not in ("PAAS_BIND", "PAAS_ALLOWED_HOSTS")}
    env.update(PAAS_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="paas.settings", **environment)
    code = "import json; from paas import settings; print(json.dumps([settings.PAAS_BIND, settings.ALLOWED_HOSTS]))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPOSITORY, capture_output=True, text=True, check=True
    )
    bind, allowed = json.loads(result.stdout)
    return {"bind": bind, "allowed": allowed}


def test_by_default_the_platform_listens_on_loopback_and_answers_loopback_names_only(tmp_path):
    fresh = _fresh_settings(tmp_path)
    assert fresh == {"bind": "127.0.0.1", "allowed": ["localhost", "127.0.0.1", "[::1]"]}


def test_other_host_names_are_configured(tmp_path):
    fresh = _fresh_settings(tmp_path, PAAS_BIND="10.0.0.5", PAAS_ALLOWED_HOSTS="paas.example.com, api.example.com")
    assert fresh["allowed"] == ["localhost", "127.0.0.1", "[::1]", "10.0.0.5", "paas.example.com", "api.example.com"]
    assert _fresh_settings(tmp_path, PAAS_BIND="0.0.0.0")["allowed"] == ["localhost", "127.0.0.1", "[::1]"]


@pytest.mark.django_db
def test_a_request_for_a_foreign_host_name_is_refused(client):
    assert settings.ALLOWED_HOSTS != ["*"] and "*" not in settings.ALLOWED_HOSTS
    assert client.get("/api/", HTTP_HOST="attacker.example").status_code == 400
    assert client.get("/admin/login/", HTTP_HOST="attacker.example:8000").status_code == 400
    assert client.get("/api/", HTTP_HOST="localhost:8000").status_code == 401  # known name: asks for a token


def _login(url: str, *args: str, input: str | None = None, config: Path):
    return CliRunner().invoke(cli, ["login", url, *args], input=input, env={"PAAS_CONFIG": str(config)})


def test_paas_login_takes_no_token_on_the_command_line(tmp_path):
    result = _login("http://127.0.0.1:9", "--token", "s3cret", config=tmp_path / "cli.json")
    assert result.exit_code == 2 and "No such option '--token'" in result.output
    assert not (tmp_path / "cli.json").exists()


def test_paas_login_reads_the_token_from_standard_input(tmp_path, live_server, transactional_db):
    result = _login(live_server.url, input="not-a-token\n", config=tmp_path / "cli.json")
    assert result.exit_code == 4 and "did not accept your token" in result.output  # it was read, and sent
    result = _login(live_server.url, input="", config=tmp_path / "cli.json")
    assert result.exit_code == 1 and "no API token given" in result.output


def test_the_banner_logs_in_with_the_token_on_standard_input(tmp_path):
    with override_settings(PAAS_API_PORT=8000, PAAS_BIND="127.0.0.1"):
        banner = _banner(tmp_path / "admin.token", tmp_path / "admin.password")
    assert f"paas login http://localhost:8000 < {tmp_path / 'admin.token'}\n" in banner
    assert "--token" not in banner and "WARNING" not in banner
    with override_settings(PAAS_BIND="0.0.0.0"):
        assert "WARNING: PAAS_BIND=0.0.0.0" in _banner(tmp_path / "admin.token", tmp_path / "admin.password")
