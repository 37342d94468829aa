"""One-off runs (`POST /api/apps/APP/runs/`) and the rollout's release phase, through the REST API."""

import json

import pytest

from formations.services import formation_deploy
from scheduler.models import Job, JobKind, JobState
from scheduler.services import reconcile
from tests.factories import deploy, make_app, make_release
from tests.scheduler.test_logs import _eventually

pytestmark = pytest.mark.django_db

RUNS = "/api/apps/shop/runs/"


@pytest.fixture
def shop(user, driver):
    app = make_app("shop", owner=user)
    deploy(app, config={"GREETING": "hello"})
    reconcile()
    return app


def test_a_detached_run_answers_its_job(api, shop, driver):
    response = api.post(RUNS, {"command": "python manage.py migrate", "detach": True}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["kind"], body["state"]) == ("run.1", "run", "up")
    assert body["command"] == "python manage.py migrate" and body["host_port"] is None
    spec = driver.specs[body["container_id"]]
    assert spec.command == "python manage.py migrate" and spec.env["GREETING"] == "hello"
    assert Job.objects.get(kind=JobKind.RUN).created_by == shop.owner


def test_an_attached_run_streams_its_output_as_ndjson_then_its_exit_status(api, shop, driver):
    response = api.post(RUNS, {"command": "env", "env": {"EXTRA": "yes"}}, format="json")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    job = Job.objects.get(kind=JobKind.RUN)
    assert job.attached and driver.specs[job.container_id].env["EXTRA"] == "yes"
    driver.session_feed(job.container_id, "EXTRA=yes\n")
    driver.session_feed(job.container_id, "oops\n", stream="stderr")
    driver.exit(job.container_id, 7)
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == [{"stdout": "EXTRA=yes\n"}, {"stderr": "oops\n"}, {"exit": 7}]
    job.refresh_from_db()
    assert (job.state, job.exit_code) == (JobState.STOPPED, 7)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"command": "env", "env": {"1BAD": "x"}}, "invalid config key '1BAD'"),
        ({"command": "env", "env": {"PAAS_APP": "other"}}, "'PAAS_APP' is reserved"),
        ({"command": "env", "env": ["A=1"]}, "env"),
        ({"command": ""}, "command"),
        ({"command": "   "}, "say what to run"),
        ({"detach": True}, "command"),
    ],
)
def test_bad_runs_are_a_400_and_start_nothing(api, shop, driver, body, problem):
    response = api.post(RUNS, body, format="json")
    assert response.status_code == 400, response.json()
    assert problem in response.json()["error"]
    assert not Job.objects.filter(kind=JobKind.RUN).exclude(state=JobState.STOPPED).exists()
    assert len(driver.containers) == 1  # the web job's


def test_another_users_app_is_not_found(api, driver):
    deploy(make_app("secret"))
    response = api.post("/api/apps/secret/runs/", {"command": "cat /etc/passwd", "detach": True}, format="json")
    assert response.status_code == 404 and "app 'secret' not found" in response.json()["error"]
    assert not Job.objects.filter(kind=JobKind.RUN).exists()


def test_an_app_without_a_release_has_nothing_to_run(api, user, driver):
    make_app("shop", owner=user)
    response = api.post(RUNS, {"command": "ls", "detach": True}, format="json")
    assert response.status_code == 400 and "no release to run yet" in response.json()["error"]


@pytest.mark.django_db(transaction=True)  # the log follower writes the release phase's output from its own thread
def test_the_rollout_shows_the_release_phase_and_its_output_from_an_offset(api, shop, driver):
    release = make_release(shop, processes={"web": "python app.py", "release": "migrate"})
    formation_deploy(app=shop, release=release, actor=shop.owner)
    url = f"/api/apps/shop/rollout/?release={release.version}"
    assert api.get(url).json() == {
        "release": 2,
        "state": "releasing",
        "message": "its release command runs",
        "release_phase": {"state": "pending", "output": "", "offset": 0, "exit_code": None},
    }
    assert api.get("/api/apps/shop/rollout/").json()["release_phase"] is None  # v1 has none
    reconcile()
    job = Job.objects.get(kind=JobKind.RELEASE)
    driver.log_feed(job.container_id, "migrating")
    assert _eventually(lambda: api.get(url).json()["release_phase"]["output"] == "migrating\n")
    assert api.get(url).json()["release_phase"] == {
        "state": "running",
        "output": "migrating\n",
        "offset": 10,
        "exit_code": None,
    }
    driver.log_feed(job.container_id, "no such table")
    driver.exit(job.container_id, 2)
    reconcile()
    status = api.get(f"{url}&output_from=10").json()
    assert (status["state"], status["message"]) == ("failed", "release command failed: exit status 2")
    assert status["release_phase"] == {"state": "failed", "output": "no such table\n", "offset": 24, "exit_code": 2}
    assert api.get(f"{url}&output_from=-1").status_code == 400
