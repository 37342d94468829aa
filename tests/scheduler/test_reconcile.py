"""The reconcile pass, against the in-memory host driver and router."""

from datetime import timedelta

import pytest
from django.utils import timezone

from formations.models import Formation
from formations.services import formation_scale
from hosts.models import Host, HostState
from scheduler import router, services
from scheduler.models import ACTIVE_STATES, Job, JobState
from scheduler.routes import job_upstream
from scheduler.selectors import deploy_status
from scheduler.services import reconcile
from tests.factories import deploy, make_app

pytestmark = pytest.mark.django_db


def _settle(passes: int = 3) -> None:
    for _ in range(passes):
        reconcile()


def _routes() -> dict[str, list[str]]:
    """Host name -> upstreams, as the router holds them."""
    return {host: list(upstreams) for host, upstreams in router.MemoryRouter.table.upstreams().items()}


def _running(driver) -> list:
    return [container for container in driver.containers.values() if container.running]


def test_first_deploy_runs_one_web_job_and_routes_it(driver):
    app = make_app()
    release = deploy(app)
    _settle()
    job = Job.objects.get(app=app)
    assert (job.name, job.state) == ("web.1", JobState.UP)
    assert _routes() == {"myapp.localhost": [f"127.0.0.1:{job.host_port}"]}
    assert deploy_status(release=release).state == "done"
    spec = driver.specs[job.container_id]
    assert spec.env["PORT"] == "5000" and spec.env["PAAS_RELEASE"] == "v1" and spec.env["PAAS_JOB_ID"] == str(job.pk)


def test_scaling_up_and_down(driver):
    app = make_app()
    deploy(app, processes={"web": "serve", "worker": "work"})
    formation_scale(app=app, counts={"web": 3, "worker": 1}, actor=app.owner)
    _settle()
    assert len(_running(driver)) == 4
    assert len(_routes()["myapp.localhost"]) == 3
    formation_scale(app=app, counts={"web": 1, "worker": 0}, actor=app.owner)
    _settle()
    assert len(_running(driver)) == 1
    assert sorted(Job.objects.filter(state=JobState.UP).values_list("process_type", "index")) == [("web", 1)]
    assert all(signal == "SIGTERM" for _, signal in driver.signals)


def test_passes_are_idempotent_and_adopt_running_containers(driver):
    app = make_app()
    deploy(app)
    _settle()
    before = dict(driver.containers)
    _settle(5)
    assert driver.containers == before
    assert Job.objects.filter(app=app).count() == 1


def test_a_crashed_job_is_restarted_with_backoff(driver):
    app = make_app()
    deploy(app)
    _settle()
    job = Job.objects.get(app=app)
    driver.exit(job.container_id, 1)
    reconcile()
    job.refresh_from_db()
    assert (job.state, job.exit_code, job.restarts) == (JobState.CRASHED, 1, 1)
    assert "myapp.localhost" in _routes() and _routes()["myapp.localhost"] == []
    Job.objects.filter(pk=job.pk).update(restart_at=timezone.now() - timedelta(seconds=1))
    _settle()
    job.refresh_from_db()
    assert job.state == JobState.UP and job.restarts == 1 and job.crash_streak == 1
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(minutes=5))
    reconcile()
    job.refresh_from_db()
    assert job.crash_streak == 0


def test_a_new_release_replaces_old_jobs_only_once_healthy(driver):
    app = make_app()
    deploy(app)
    _settle()
    old = Job.objects.get(app=app)
    driver.unhealthy.add("local-c2")  # the next container started: the new release's web.1
    new_release = deploy(app)
    _settle()
    assert Job.objects.get(pk=old.pk).state == JobState.UP
    assert _routes()["myapp.localhost"] == [f"127.0.0.1:{old.host_port}"]
    assert deploy_status(release=new_release).state == "pending"
    driver.unhealthy.clear()
    _settle()
    assert Job.objects.get(pk=old.pk).state == JobState.STOPPED
    new = Job.objects.get(app=app, state=JobState.UP)
    assert new.release == new_release
    assert _routes()["myapp.localhost"] == [f"127.0.0.1:{new.host_port}"]
    assert deploy_status(release=new_release).state == "done"


def test_a_release_that_keeps_crashing_fails_its_deploy_and_the_old_one_serves(driver):
    app = make_app()
    deploy(app)
    _settle()
    old = Job.objects.get(app=app)
    driver.unhealthy_releases.add("v2")  # it exits before it ever answers
    new_release = deploy(app)
    for _ in range(10):
        reconcile()
        new = Job.objects.get(release=new_release)
        if new.crash_streak >= 3:
            break
        if new.container_id:
            driver.exit(new.container_id, 2)
        Job.objects.filter(pk=new.pk).update(restart_at=None)
    status = deploy_status(release=new_release)
    assert status.state == "failed" and "crashed 3 times on start: it exited with status 2" in status.message
    _settle()
    formation = Formation.objects.get(app=app)
    assert formation.release == old.release and formation.failed_release == new_release
    assert Job.objects.get(pk=old.pk).state == JobState.UP
    assert not Job.objects.filter(release=new_release, state__in=ACTIVE_STATES).exists()
    assert _routes()["myapp.localhost"] == [f"127.0.0.1:{old.host_port}"]
    assert deploy_status(release=new_release).state == "failed"
    assert deploy_status(release=deploy(app)).state == "pending"


def test_containers_without_a_job_are_removed(driver):
    app = make_app()
    deploy(app)
    _settle()
    stray = driver.job_start(_stray_spec())
    reconcile()
    assert stray.container_id not in driver.containers


def _stray_spec():
    from hosts.drivers import JobSpec

    return JobSpec(job_id=999999, name="stray", app="myapp", process_type="web", image="x", command="y")


def test_a_failing_docker_call_for_one_job_does_not_stop_the_pass_for_others(driver):
    first = make_app("first")
    deploy(first)
    _settle()
    formation_scale(app=first, counts={"web": 0}, actor=first.owner)
    driver.failing.add("job_signal")
    second = make_app("second")
    deploy(second)
    _settle()
    second_job = Job.objects.get(app=second)
    assert second_job.state == JobState.UP
    assert _routes()["second.localhost"] == [f"127.0.0.1:{second_job.host_port}"]
    assert Job.objects.get(app=first).state == JobState.STOPPING
    driver.failing.clear()
    _settle()
    assert Job.objects.get(app=first).state == JobState.STOPPED


def test_jobs_on_a_host_that_does_not_answer_leave_the_router_and_are_back_when_it_does(driver, settings):
    app = make_app()
    deploy(app)
    _settle()
    job = Job.objects.get(app=app)
    driver.failing.add("job_containers")
    reconcile()
    assert Host.objects.get(name="local").state == HostState.DOWN
    assert _routes()["myapp.localhost"] == []
    silent_since = timezone.now() - timedelta(seconds=settings.PAAS_HOST_DOWN_AFTER + 60)
    Host.objects.filter(name="local").update(heartbeat_at=silent_since)
    reconcile()  # this machine's engine, away for long (a reboot): there is nowhere else its jobs would go
    driver.failing.clear()
    reconcile()
    assert Job.objects.get(app=app).state == JobState.UP  # adopted, not restarted
    assert _routes()["myapp.localhost"] == [f"127.0.0.1:{job.host_port}"]


def test_a_web_job_that_never_listens_is_killed_after_the_boot_timeout(driver):
    app = make_app()
    deploy(app)
    driver.unhealthy.add("local-c1")
    _settle()
    job = Job.objects.get(app=app)
    assert job.state == JobState.STARTING
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=61))
    reconcile()
    job.refresh_from_db()
    assert job.state == JobState.CRASHED and "did not listen on $PORT within 60s" in job.error
    assert ("local-c1", "SIGKILL") in driver.signals


def test_a_job_that_ignores_sigterm_gets_sigkill_after_the_grace_period(driver):
    app = make_app()
    deploy(app)
    _settle()
    job = Job.objects.get(app=app)
    driver.job_signal = lambda container_id, signal: driver.signals.append((container_id, signal))
    formation_scale(app=app, counts={"web": 0}, actor=app.owner)
    _settle()
    assert driver.signals == [(job.container_id, "SIGTERM")]
    Job.objects.filter(pk=job.pk).update(stop_signalled_at=timezone.now() - timedelta(seconds=60))
    reconcile()
    assert driver.signals[-1] == (job.container_id, "SIGKILL")


def test_a_replaced_job_gets_sigterm_once_the_router_has_no_request_in_flight_to_it(driver, monkeypatch):
    monkeypatch.setattr(services, "DRAIN_WAIT", 0)
    app = make_app()
    deploy(app)
    _settle()
    job = Job.objects.select_related("host").get(app=app)
    router.MemoryRouter.requests = {job_upstream(job): 2}  # waiting in the job's queue, say
    formation_scale(app=app, counts={"web": 0}, actor=app.owner)
    _settle()
    assert _routes()["myapp.localhost"] == [] and driver.signals == []
    router.MemoryRouter.requests = {}
    reconcile()
    assert driver.signals == [(job.container_id, "SIGTERM")]


def _unanswered(self):
    raise router.RouterError("caddy did not list its upstreams: status 500")


@pytest.mark.parametrize("router_says", ["a stream is open", "nothing"])
def test_sigterm_waits_on_the_router_for_the_grace_period_at_most(driver, monkeypatch, router_says):
    """A stream held open is a request in flight; a router that cannot say what it has in flight may have some.
    Either way the job gets SIGTERM once the grace period since it left the router is over."""
    monkeypatch.setattr(services, "DRAIN_WAIT", 0)
    app = make_app()
    deploy(app)
    _settle()
    job = Job.objects.select_related("host").get(app=app)
    if router_says == "nothing":
        monkeypatch.setattr(router.MemoryRouter, "in_flight", _unanswered)
    else:
        router.MemoryRouter.requests = {job_upstream(job): 1}
    formation_scale(app=app, counts={"web": 0}, actor=app.owner)
    _settle()
    assert driver.signals == []
    Job.objects.filter(pk=job.pk).update(unrouted_at=timezone.now() - timedelta(seconds=11))
    reconcile()
    assert driver.signals == [(job.container_id, "SIGTERM")]


def test_a_router_that_lost_its_routes_gets_them_again(driver):
    app = make_app()
    deploy(app)
    _settle()
    router.MemoryRouter.table = None  # a restarted router holds no routes
    reconcile()
    assert _routes()["myapp.localhost"] == [f"127.0.0.1:{Job.objects.get(app=app).host_port}"]


def test_a_pass_with_the_same_routes_marks_no_job_routed_or_unrouted_again(driver):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    deploy(make_app())
    _settle(4)
    with CaptureQueriesContext(connection) as queries:
        reconcile()
    marks = [query["sql"] for query in queries if query["sql"].startswith("UPDATE") and "routed_at" in query["sql"]]
    assert marks == []
    assert Job.objects.get().routed_at is not None
