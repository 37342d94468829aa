"""`paas run`, and a rollout's release phase as the CLI shows it, against a live test server and fake containers."""

import threading
import time

import pytest
from django.db import connection

from formations.models import Formation
from hosts.drivers.memory import MemoryHostDriver
from hosts.services import host_register_local
from scheduler.models import Job, JobKind, JobState
from tests.cli.test_cli import logged_in, run, scheduler, user  # noqa: F401 - the fixtures
from tests.factories import deploy, make_app
from tests.scheduler.test_logs import _eventually


@pytest.fixture
def shop(user):  # noqa: F811
    host_register_local()
    deploy(make_app("shop", owner=user))
    return MemoryHostDriver.for_host("local")


def _in_background(play) -> threading.Thread:
    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def _when_the_run_starts(driver, act) -> threading.Thread:
    """Once a run's terminal opens, `act(container_id)` plays its part (in a thread: the CLI waits meanwhile)."""

    def play():
        deadline = time.monotonic() + 10
        while not driver.sessions and time.monotonic() < deadline:
            time.sleep(0.02)
        [container_id] = driver.sessions
        act(container_id)

    return _in_background(play)


def _run_prints_and_exits(driver, output: list[str], exit_code: int) -> threading.Thread:
    def act(container_id):
        for text in output:
            driver.session_feed(container_id, text)
        driver.exit(container_id, exit_code)

    return _when_the_run_starts(driver, act)


def _release_commands(driver, outcomes: dict[int, tuple[list[str], int]]) -> threading.Thread:
    """Release version -> (lines, exit status): each release phase prints its lines and exits, once it is up."""

    def play():
        try:
            deadline = time.monotonic() + 30
            while outcomes and time.monotonic() < deadline:
                up = Job.objects.filter(kind=JobKind.RELEASE, state=JobState.UP, release__version__in=outcomes)
                for job in up.select_related("release"):
                    lines, exit_code = outcomes.pop(job.release.version)
                    for line in lines:
                        driver.log_feed(job.container_id, line)
                    driver.exit(job.container_id, exit_code)
                time.sleep(0.05)
        finally:
            connection.close()

    return _in_background(play)


def _the_run() -> Job:
    return Job.objects.get(kind=JobKind.RUN)


def test_run_streams_the_output_and_exits_with_the_commands_status(logged_in, shop):  # noqa: F811
    playing = _run_prints_and_exits(shop, ["migrating\n", "done\n"], 7)
    result = logged_in("run", "-a", "shop", "--", "python", "manage.py", "migrate")
    playing.join(5)
    assert result.exit_code == 7, result.output
    assert "Running `python manage.py migrate` on shop..." in result.output
    assert "migrating\ndone\n" in result.output
    job = _the_run()
    assert (job.command, job.attached, job.state, job.exit_code) == ("python manage.py migrate", True, "stopped", 7)


def test_run_without_an_exit_status_fails(logged_in, shop, scheduler):  # noqa: F811
    def lost(container_id):
        shop.containers.pop(container_id)  # its host lost it: no exit status to tell
        shop.sessions[container_id].close()

    playing = _when_the_run_starts(shop, lost)
    result = logged_in("run", "-a", "shop", "--", "sleep", "1")
    playing.join(5)
    assert result.exit_code == 1, result.output
    job = _the_run()
    assert (job.state, job.exit_code, job.error) == ("stopped", None, "its container disappeared")


def test_run_sends_its_variables_and_the_words_after_the_double_dash(logged_in, shop):  # noqa: F811
    playing = _run_prints_and_exits(shop, [], 0)
    result = logged_in("run", "-a", "shop", "-e", "K=V", "-e", "URL=a=b", "--", "env", "-i", "--null")
    playing.join(5)
    assert result.exit_code == 0, result.output
    job = _the_run()
    assert job.command == "env -i --null"
    env = shop.specs[job.container_id].env
    assert (env["K"], env["URL"], env["PAAS_RELEASE"]) == ("V", "a=b", "v1")


def test_run_refuses_a_variable_that_is_not_key_value_before_any_request(logged_in, shop):  # noqa: F811
    result = logged_in("run", "-a", "shop", "-e", "JUSTKEY", "--", "env")
    assert result.exit_code == 1 and "'JUSTKEY' is not KEY=VALUE" in result.output
    assert not Job.objects.filter(kind=JobKind.RUN).exists()


def test_run_detached_prints_the_job_and_returns(logged_in, shop):  # noqa: F811
    result = logged_in("run", "--detach", "-a", "shop", "--", "sleep", "60")
    assert result.exit_code == 0, result.output
    assert result.output == "Running `sleep 60` on shop as run.1 (detached); its output: paas logs -p run -a shop\n"
    job = _the_run()
    assert (job.command, job.attached, job.state) == ("sleep 60", False, "up")
    assert shop.containers[job.container_id].running


def test_a_rollout_shows_its_release_phase_and_fails_with_it(logged_in, user, scheduler):  # noqa: F811
    driver = MemoryHostDriver.for_host("local")
    playing = _release_commands(
        driver,
        {
            1: ([], 0),
            2: (["Applying 0002_orders...", "\x1b[31mno such table: orders"], 3),
            3: (["Applying 0002_orders... OK"], 0),
        },
    )
    app = make_app("shop", owner=user)
    deploy(app, processes={"web": "python app.py", "release": "migrate"})
    assert _eventually(lambda: Formation.objects.get(app=app).release_id is not None, timeout=10)
    result = logged_in("env", "set", "DEBUG=1", "-a", "shop", "--timeout", "30")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    start = lines.index("Running the release command of v2...")
    assert lines[start + 1 : start + 4] == [
        "       Applying 0002_orders...",
        "       no such table: orders",
        "The release command failed (exit status 3).",
    ]
    assert (
        "error: the rollout failed: release command failed: exit status 3; the previous release keeps serving"
        in result.output
    )
    result = logged_in("env", "set", "DEBUG=2", "-a", "shop", "--timeout", "30")
    playing.join(5)
    assert result.exit_code == 0, result.output
    assert "Running the release command of v3...\n       Applying 0002_orders... OK\n" in result.output
    assert result.output.endswith("v3 is live.\n")
