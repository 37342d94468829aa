"""Cron schedules on the real platform, its cron clock sped up: a schedule added with `paas cron add` and one from the
app.json of a push run their commands as one-off jobs, whose output reaches `paas logs` and whose exit codes and next
runs `paas cron` shows."""

import json
import re

import docker
import pytest

from tests.e2e.conftest import Platform, commit, eventually, ok, web_app

pytestmark = pytest.mark.e2e

APP = "cronned"
SPEED = 20  # `* * * * *` comes every 3 seconds


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A platform whose cron clock runs SPEED times faster than real time."""
    docker.from_env().ping()
    running = Platform(tmp_path_factory.mktemp("platform"))
    running.env.update(PAAS_CRON_SPEED=str(SPEED))
    running.start()
    try:
        yield running
    finally:
        running.cleanup()


def _cron_rows(platform) -> dict[str, dict]:
    """`paas cron`'s table, by command: each row's cells by column."""
    lines = ok(platform.paas("cron", "-a", APP)).splitlines()
    header, *rows = (re.split(r"\s{2,}", line.strip()) for line in lines)
    assert header == ["id", "schedule (UTC)", "command", "source", "last run", "exit", "next run"], lines
    return {row[2]: dict(zip(header, row, strict=True)) for row in rows}


def _ended_well(platform, command: str) -> dict | None:
    row = _cron_rows(platform).get(command)
    return row if row and row["exit"] == "0" else None


def test_schedules_from_the_cli_and_app_json_run_as_one_off_jobs_with_output_exit_code_and_next_run(logged_in):
    platform = logged_in
    source = platform.root / APP
    source.mkdir()
    (source / "app.py").write_text(web_app("cronned {PAAS_RELEASE}"))
    (source / "Procfile").write_text("web: python3 app.py\n")
    (source / "app.json").write_text(json.dumps({"cron": [{"command": "echo json-$((2*3))", "schedule": "* * * * *"}]}))
    commit(platform, source, "first")
    ok(platform.paas("create", APP, cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    assert "app.json declares 1 cron schedule" in push.stderr

    added = ok(platform.paas("cron", "add", "* * * * *", "-a", APP, "--", "echo", "cron-ran-$((1+1))"))
    assert "added to cronned: `echo cron-ran-$((1+1))` at * * * * * (UTC)" in added

    def both_ran():
        log = ok(platform.paas("logs", "-a", APP, "-n", "500"))
        return "cron-ran-2" in log and "json-6" in log

    assert eventually(both_ran, timeout=30), ok(platform.paas("logs", "-a", APP, "-n", "500")) + platform.log()
    row = eventually(lambda: _ended_well(platform, "echo cron-ran-$((1+1))"), timeout=20)
    assert row, _cron_rows(platform)
    assert row["source"] == "cli" and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d run\.\d+", row["last run"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:00", row["next run"])
    assert eventually(lambda: _ended_well(platform, "echo json-$((2*3))"), timeout=20)["source"] == "app.json"
    removed = platform.paas("cron", "remove", row["id"], "-a", APP)
    assert removed.exit_code == 0 and list(_cron_rows(platform)) == ["echo json-$((2*3))"]
