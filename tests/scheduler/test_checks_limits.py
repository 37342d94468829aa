"""Health checks, resource limits, out-of-memory kills and parallel starts, against the in-memory host driver."""

import time
from datetime import timedelta

import pytest

from apps.models import Event, EventAction
from formations.models import Formation
from formations.services import checks_update, formation_scale, limits_update
from hosts.drivers.memory import MemoryHostDriver
from hosts.services import host_register_local
from paas.errors import InvalidInput
from scheduler import services
from scheduler.models import Job, JobState
from scheduler.selectors import deploy_status
from scheduler.services import reconcile
from tests.factories import deploy, make_app
from tests.scheduler.test_reconcile import _routes

pytestmark = pytest.mark.django_db


@pytest.fixture
def driver(monkeypatch):
    monkeypatch.setattr(services, "CHECK_SPACING", 0)
    host_register_local()
    return MemoryHostDriver.for_host("local")


def _up_jobs(app) -> list[Job]:
    return list(Job.objects.filter(app=app, state=JobState.UP))


def test_an_http_check_is_copied_into_releases_and_passed_in_a_row_before_traffic(driver):
    app = make_app()
    assert checks_update(app=app, changes={"web": {"path": "/healthz", "passes": 3}}, actor=app.owner).version == 1
    release = deploy(app)
    assert release.checks == {"web": {"path": "/healthz", "timeout": 2.0, "passes": 3}}
    reconcile()
    [job] = _up_jobs(app)
    assert (job.check_passes, job.last_check) == (3, "200 OK in 1 ms")
    assert _routes() == {"myapp.localhost": [f"127.0.0.1:{job.host_port}"]}  # routed in the pass it got healthy


def test_changing_checks_rolls_out_a_new_release(driver):
    app = make_app()
    deploy(app)
    reconcile()
    release = checks_update(app=app, changes={"web": {"path": "/up"}}, actor=app.owner)
    assert release.version == 2 and Formation.objects.get(app=app).release == release
    assert checks_update(app=app, changes={"web": {"path": "/up"}}, actor=app.owner) is None  # no change
    assert checks_update(app=app, changes={"web": None}, actor=app.owner).checks == {}
    assert Event.objects.filter(app=app, action=EventAction.CHECKS).count() == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"worker": {"path": "/"}}, "only web processes"),
        ({"web": {"path": "healthz"}}, "start it with '/'"),
        ({"web": {"path": "/a b"}}, "without spaces"),
        ({"web": {"path": "/", "timeout": 0}}, "0.1 to 30 seconds"),
        ({"web": {"path": "/", "passes": 11}}, "1 to 10 times"),
        ({}, "a checks change is a JSON object"),
    ],
)
def test_bad_checks_are_refused(db, changes, message):
    app = make_app()
    with pytest.raises(InvalidInput, match=message):
        checks_update(app=app, changes=changes, actor=app.owner)


def test_a_release_whose_check_fails_keeps_the_old_one_serving(driver, monkeypatch):
    monkeypatch.setattr(services, "CHECK_GRACE", timedelta(0))
    app = make_app()
    deploy(app)
    reconcile()
    [old] = _up_jobs(app)
    driver.unhealthy_releases.add("v2")
    release = checks_update(app=app, changes={"web": {"path": "/healthz"}}, actor=app.owner)
    for _ in range(30):
        reconcile()
        Job.objects.filter(state=JobState.CRASHED).update(restart_at=None)  # no backoff wait in a test
        if deploy_status(release=release).state == "failed":
            break
    reconcile()  # the next pass rolls the formation back
    status = deploy_status(release=release)
    assert status.state == "failed"
    assert "health check failed: GET /healthz answered 500" in status.message
    assert Formation.objects.get(app=app).release_id == old.release_id
    assert _routes() == {"myapp.localhost": [f"127.0.0.1:{old.host_port}"]}
    assert Event.objects.filter(app=app, action=EventAction.JOB_CHECK_FAILED).exists()


def test_a_job_killed_for_memory_is_reported_as_such(driver):
    app = make_app()
    deploy(app)
    limits_update(app=app, changes={"web": {"memory": "64m"}}, actor=app.owner)
    reconcile()
    [job] = _up_jobs(app)
    driver.exit(job.container_id, 137, oom_killed=True)
    reconcile()
    job.refresh_from_db()
    assert (job.state, job.exit_code, job.error) == (JobState.CRASHED, 137, "killed: out of memory (limit 64m)")
    event = Event.objects.get(app=app, action=EventAction.JOB_OOM)
    assert event.detail == "web.1 killed: out of memory (limit 64m)"


def test_a_plain_crash_is_not_reported_as_memory(driver):
    app = make_app()
    deploy(app)
    reconcile()
    [job] = _up_jobs(app)
    driver.exit(job.container_id, 137)
    reconcile()
    job.refresh_from_db()
    assert (job.exit_code, job.error) == (137, "")
    assert not Event.objects.filter(action=EventAction.JOB_OOM).exists()


def test_limits_apply_to_new_jobs_and_roll_the_process_type(driver):
    app = make_app()
    deploy(app, processes={"web": "serve", "worker": "work"})
    formation_scale(app=app, counts={"worker": 1}, actor=app.owner)
    reconcile()
    reconcile()
    before = {job.process_type: job for job in _up_jobs(app)}
    assert driver.specs[before["web"].container_id].memory == "512m"  # the default, PAAS_JOB_MEMORY
    limits_update(app=app, changes={"web": {"memory": "256M", "cpus": 0.5}}, actor=app.owner)
    for _ in range(4):
        reconcile()
    after = {job.process_type: job for job in _up_jobs(app)}
    assert after["web"].pk != before["web"].pk and after["worker"].pk == before["worker"].pk
    spec = driver.specs[after["web"].container_id]
    assert (spec.memory, spec.cpus) == ("256m", 0.5)
    assert Event.objects.get(app=app, action=EventAction.LIMITS).detail == "web memory=256m cpus=0.5"
    limits_update(app=app, changes={"web": None}, actor=app.owner)
    assert Formation.objects.get(app=app).limits == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"web": {"memory": "3m"}}, "from 4m to 64g"),
        ({"web": {"memory": "65g"}}, "from 4m to 64g"),
        ({"web": {"memory": "1t"}}, "a size with a unit"),
        ({"web": {"cpus": 0.001}}, "from 0.01"),
        ({"web": {"cpus": 100_000}}, "CPUs"),
        ({"web": {}}, "limits are memory and cpus"),
        ({"nope": {"memory": "64m"}}, "no process type 'nope'"),
    ],
)
def test_bad_limits_are_refused(db, changes, message):
    app = make_app()
    deploy(app)
    with pytest.raises(InvalidInput, match=message):
        limits_update(app=app, changes=changes, actor=app.owner)


def test_jobs_start_in_parallel(driver, monkeypatch):
    start = MemoryHostDriver.job_start

    def slow_start(self, spec):
        time.sleep(0.2)
        return start(self, spec)

    monkeypatch.setattr(MemoryHostDriver, "job_start", slow_start)
    app = make_app()
    deploy(app)
    formation_scale(app=app, counts={"web": 8}, actor=app.owner)
    began = time.monotonic()
    reconcile()
    assert time.monotonic() - began < 1.0  # 8 starts of 0.2 s each, not one after another
    assert len(_up_jobs(app)) == 8 and len({job.container_id for job in _up_jobs(app)}) == 8
