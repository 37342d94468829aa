"""What `ssh git@HOST run APP ...` asks for: the app, the command, and variables kept apart from the command."""

import shlex

import pytest

from paas.errors import InvalidInput
from paas.runenv import run_env_encoded
from scheduler.ssh_runs import ssh_run_command


def test_variables_travel_apart_from_the_command():
    remote = f"run shop {run_env_encoded({'DB_PASSWORD': 's3cret'})} -- {shlex.join(['python', 'manage.py', 'shell'])}"
    app, start = ssh_run_command(shlex.split(remote))
    assert (app, start.command, start.env) == ("shop", "python manage.py shell", {"DB_PASSWORD": "s3cret"})
    assert "s3cret" not in start.command


@pytest.mark.parametrize(
    ("remote", "problem"),
    [
        ("run", "say which app and what to run"),
        ("run shop --", "say what to run"),
        ("run shop --env=notbase64! -- bash", "base64 of a JSON object"),
        (f"run shop {run_env_encoded({'PAAS_APP': 'other'})} -- bash", "is reserved"),
        (f"run shop {run_env_encoded({'1BAD': 'x'})} -- bash", "invalid config key"),
    ],
)
def test_what_cannot_be_run_is_said(remote, problem):
    with pytest.raises(InvalidInput, match=problem):
        ssh_run_command(shlex.split(remote))
