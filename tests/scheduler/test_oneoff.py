"""One-off jobs against the in-memory host driver: a release phase (a Procfile's `release:` command) runs once
before its release starts, and runs (`paas run`) go outside the formation, attached to a terminal or not."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.models import Event
from formations.models import Formation
from formations.services import formation_deploy, formation_scale
from paas.errors import InvalidInput, QuotaExceeded
from scheduler.models import Job, JobKind, JobState
from scheduler.oneoff import (
    OUTPUT_TRUNCATED,
    RELEASE_OUTPUT_MAX,
    ReleasePhase,
    release_phase_get,
    runs_never_started,
    runs_orphaned_stop,
)
from scheduler.runs import RunStart, run_output, run_start
from scheduler.selectors import deploy_status, job_list
from scheduler.services import reconcile
from tests.factories import deploy, make_app, make_release
from tests.scheduler.test_logs import _bodies, _eventually
from tests.scheduler.test_reconcile import _routes, _settle

pytestmark = pytest.mark.django_db

WITH_RELEASE_PHASE = {"web": "python app.py", "release": "migrate"}


@pytest.fixture
def serving(driver):
    """An app whose v1 (without a release phase) is up and routed; with its web job."""
    app = make_app()
    deploy(app)
    _settle()
    return app, Job.objects.get(app=app)


def _deploy_with_release_phase(app):
    release = make_release(app, processes=WITH_RELEASE_PHASE)
    formation_deploy(app=app, release=release, actor=app.owner)
    return release


def _release_job(release) -> Job:
    return Job.objects.get(kind=JobKind.RELEASE, release=release)


def _run(app, command: str = "echo hi", **how):
    return run_start(app=app, actor=app.owner, start=RunStart(command, **how))


def _serving_only(job) -> dict:
    return {"myapp.localhost": [f"127.0.0.1:{job.host_port}"]}


def test_a_release_phase_runs_once_before_its_release_starts(driver, serving):
    app, old = serving
    release = _deploy_with_release_phase(app)
    assert deploy_status(release=release).state == "releasing"
    _settle()
    job = _release_job(release)
    assert (job.name, job.state, job.command) == ("release.1", JobState.UP, "migrate")
    spec = driver.specs[job.container_id]
    assert spec.command == "migrate" and spec.env["PAAS_RELEASE"] == "v2" and spec.port is None
    assert not Job.objects.filter(release=release, kind=JobKind.FORMATION).exists()
    assert Formation.objects.get(app=app).release == old.release
    assert deploy_status(release=release).state == "releasing"
    assert _routes() == _serving_only(old)
    driver.exit(job.container_id, 0)
    reconcile()
    job.refresh_from_db()
    assert (job.state, job.exit_code) == (JobState.STOPPED, 0)
    assert job.container_id not in driver.containers
    formation = Formation.objects.get(app=app)
    assert formation.release == release and formation.releasing is None and formation.counts == {"web": 1}
    assert deploy_status(release=release).state == "done"  # in the same pass: started, up, routed, old one out
    _settle()
    new = Job.objects.get(app=app, state=JobState.UP)
    assert (new.release, new.kind, new.process_type) == (release, JobKind.FORMATION, "web")
    assert Job.objects.get(pk=old.pk).state == JobState.STOPPED
    assert _routes() == _serving_only(new)
    assert deploy_status(release=release).state == "done"
    assert Job.objects.filter(kind=JobKind.RELEASE).count() == 1  # once per deploy, not once per pass


def test_a_failing_release_phase_leaves_the_old_release_serving(driver, serving):
    app, old = serving
    release = _deploy_with_release_phase(app)
    _settle()
    driver.exit(_release_job(release).container_id, 3)
    _settle()
    formation = Formation.objects.get(app=app)
    assert formation.release == old.release and formation.failed_release == release and formation.releasing is None
    assert "exit status 3" in formation.failure
    status = deploy_status(release=release)
    assert status.state == "failed" and "release command failed: exit status 3" in status.message
    assert Event.objects.filter(app=app, action="release_phase.failed", detail__contains="exit status 3").exists()
    assert Job.objects.get(pk=old.pk).state == JobState.UP
    assert not Job.objects.filter(release=release, kind=JobKind.FORMATION).exists()
    assert _release_job(release).exit_code == 3  # never run again
    assert _routes() == _serving_only(old)
    phase = release_phase_get(release=release)
    assert (phase.state, phase.exit_code) == ("failed", 3)


@pytest.mark.django_db(transaction=True)  # the log follower writes the output from a thread of its own
def test_the_release_phases_output_is_kept_for_the_deployer_from_an_offset(driver, serving):
    app, old = serving
    release = _deploy_with_release_phase(app)
    assert release_phase_get(release=release) == ReleasePhase("pending")
    assert release_phase_get(release=old.release) is None
    _settle()
    job = _release_job(release)
    driver.log_feed(job.container_id, "Running migrations:")
    driver.log_feed(job.container_id, "  Applying 0001_initial... OK", stream="stderr")
    first = "Running migrations:\n  Applying 0001_initial... OK\n"
    assert _eventually(lambda: release_phase_get(release=release).output == first)
    phase = release_phase_get(release=release, offset=0)
    assert (phase.state, phase.offset, phase.exit_code) == ("running", len(first), None)
    assert release_phase_get(release=release, offset=phase.offset).output == ""
    driver.log_feed(job.container_id, "done")
    driver.exit(job.container_id, 0)
    reconcile()
    later = release_phase_get(release=release, offset=phase.offset)
    assert later == ReleasePhase("succeeded", "done\n", len(first) + len("done\n"), 0)
    assert release_phase_get(release=release, offset=len("Running migrations:\n")).output.startswith("  Applying")
    assert "release.1 v2 stdout: Running migrations:" in _bodies()


def test_a_newer_deploy_stops_the_release_phase_it_takes_over_from(driver, serving):
    app, old = serving
    superseded = _deploy_with_release_phase(app)
    _settle()
    first = _release_job(superseded)
    newer = _deploy_with_release_phase(app)
    _settle()
    first.refresh_from_db()
    assert (first.container_id, "SIGTERM") in driver.signals
    assert first.state == JobState.STOPPED and first.error == "a newer deploy took over"
    assert first.container_id not in driver.containers
    assert release_phase_get(release=superseded).state == "failed"
    second = _release_job(newer)
    assert second.state == JobState.UP and driver.containers[second.container_id].running
    assert deploy_status(release=superseded).state == "superseded"
    assert deploy_status(release=newer).state == "releasing"
    assert Formation.objects.get(app=app).release == old.release
    driver.exit(second.container_id, 0)
    _settle()
    assert Formation.objects.get(app=app).release == newer
    assert not Job.objects.filter(release=superseded, kind=JobKind.FORMATION).exists()
    assert Job.objects.get(app=app, state=JobState.UP).release == newer


def test_a_release_phase_that_runs_too_long_is_stopped_and_fails_its_deploy(driver, serving, settings):
    settings.PAAS_RELEASE_TIMEOUT = 0
    app, old = serving
    release = _deploy_with_release_phase(app)
    _settle(4)
    job = _release_job(release)
    assert job.state == JobState.STOPPED and (job.container_id, "SIGTERM") in driver.signals
    assert "did not finish within 0s (PAAS_RELEASE_TIMEOUT)" in job.error
    formation = Formation.objects.get(app=app)
    assert formation.release == old.release and formation.failed_release == release
    status = deploy_status(release=release)
    assert status.state == "failed" and "did not finish within 0s (PAAS_RELEASE_TIMEOUT)" in status.message
    assert release_phase_get(release=release).state == "failed"
    assert Job.objects.get(pk=old.pk).state == JobState.UP


def test_the_release_process_type_is_not_scaled(driver):
    app = make_app()
    release = _deploy_with_release_phase(app)
    _settle()
    driver.exit(_release_job(release).container_id, 0)
    _settle()
    with pytest.raises(InvalidInput, match="runs once per deploy"):
        formation_scale(app=app, counts={"release": 1}, actor=app.owner)
    with pytest.raises(InvalidInput, match="its types are: web$"):
        formation_scale(app=app, counts={"worker": 1}, actor=app.owner)
    assert Formation.objects.get(app=app).counts == {"web": 1}
    assert Job.objects.filter(kind=JobKind.RELEASE).count() == 1


def test_a_detached_run_is_a_job_outside_the_formation_and_the_router(driver, serving):
    app, _ = serving
    job, session = _run(app, attached=False)
    assert session is None
    assert (job.name, job.kind, job.state, job.command) == ("run.1", JobKind.RUN, JobState.UP, "echo hi")
    spec = driver.specs[job.container_id]
    assert spec.command == "echo hi" and spec.port is None and spec.env["DYNO"] == "run.1"
    formation_scale(app=app, counts={"web": 2}, actor=app.owner)
    _settle()
    webs = Job.objects.filter(app=app, kind=JobKind.FORMATION, state=JobState.UP)
    assert sorted(_routes()["myapp.localhost"]) == sorted(f"127.0.0.1:{web.host_port}" for web in webs)
    assert len(webs) == 2
    formation_scale(app=app, counts={"web": 0}, actor=app.owner)
    _settle()
    assert Job.objects.get(pk=job.pk).state == JobState.UP and driver.containers[job.container_id].running
    assert [listed.name for listed in job_list(app=app)] == ["run.1"]
    driver.log_feed(job.container_id, "hi")
    driver.exit(job.container_id, 4)
    reconcile()
    job.refresh_from_db()
    assert (job.state, job.exit_code) == (JobState.STOPPED, 4)
    assert job.container_id not in driver.containers
    assert list(job_list(app=app)) == []
    assert "paas[run]: run.1 exited with status 4" in _bodies()
    assert "run.1 v1 stdout: hi" in _bodies()
    assert _run(app, attached=False)[0].name == "run.2"


def test_runs_need_a_release_a_command_and_stay_within_their_quota(driver, settings):
    settings.PAAS_QUOTA_RUNS = 2
    app = make_app()
    with pytest.raises(InvalidInput, match="no release to run yet"):
        _run(app)
    deploy(app)
    _settle()
    with pytest.raises(InvalidInput, match="say what to run"):
        _run(app, "  ")
    first, _ = _run(app, attached=False)
    _run(app, attached=False)
    with pytest.raises(QuotaExceeded, match="PAAS_QUOTA_RUNS=2"):
        _run(app, attached=False)
    assert Job.objects.filter(kind=JobKind.RUN).count() == 2
    driver.exit(first.container_id, 0)
    reconcile()
    assert _run(app, attached=False)[0].name == "run.3"


def test_an_attached_run_streams_its_terminal_then_its_exit_status(driver, serving):
    app, _ = serving
    job, session = _run(app, "bash", attached=True, tty=True, stdin=True, size=(33, 101))
    container_id = job.container_id
    assert driver.sizes[container_id] == (33, 101)
    spec = driver.specs[container_id]
    assert (spec.command, spec.tty, spec.stdin) == ("bash", True, True)
    assert driver.sessions[container_id] is session
    driver.session_feed(container_id, "root@run.1:/app# ")
    driver.session_feed(container_id, "café\n", stream="stderr")
    driver.exit(container_id, 5)
    lines = list(run_output(job, session))
    assert all(line.endswith("\n") for line in lines)
    assert [json.loads(line) for line in lines] == [{"stdout": "root@run.1:/app# "}, {"stderr": "café\n"}, {"exit": 5}]
    job.refresh_from_db()
    assert (job.state, job.exit_code) == (JobState.STOPPED, 5)
    assert container_id not in driver.containers
    reconcile()
    assert _bodies().count("paas[run]: run.1 exited with status 5") == 1


def test_closing_an_attached_runs_output_early_kills_it(driver, serving):
    app, _ = serving
    job, session = _run(app, "bash", tty=True, stdin=True)
    driver.session_feed(job.container_id, "$ ")
    output = run_output(job, session)
    assert json.loads(next(output)) == {"stdout": "$ "}
    output.close()
    assert (job.container_id, "SIGKILL") in driver.signals
    assert job.container_id not in driver.containers and session.closed
    job.refresh_from_db()
    assert job.state == JobState.STOPPED and "terminal" in job.error


def test_runs_whose_start_was_interrupted_end_in_a_pass(driver, serving):
    app, web = serving

    def recorded(index: int) -> Job:
        return Job.objects.create(app=app, release=web.release, kind=JobKind.RUN, process_type="run", index=index)

    stuck, recent = recorded(1), recorded(2)
    Job.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    reconcile()
    stuck.refresh_from_db()
    assert stuck.state == JobState.STOPPED and stuck.error == "it never started"
    assert Job.objects.get(pk=recent.pk).state == JobState.PENDING
    runs_never_started()
    assert Job.objects.get(pk=recent.pk).state == JobState.PENDING


def test_attached_runs_are_stopped_when_the_platform_restarts(driver, serving):
    app, web = serving
    attached, _ = _run(app, "bash", tty=True)
    detached, _ = _run(app, "sleep 100", attached=False)
    unstarted = Job.objects.create(
        app=app, release=web.release, kind=JobKind.RUN, process_type="run", index=3, attached=True
    )
    assert runs_orphaned_stop() == 2
    attached.refresh_from_db()
    assert attached.state == JobState.STOPPING and "terminal went away" in attached.error
    assert Job.objects.get(pk=unstarted.pk).state == JobState.STOPPED
    _settle()
    attached.refresh_from_db()
    assert (attached.container_id, "SIGTERM") in driver.signals
    assert attached.state == JobState.STOPPED and attached.container_id not in driver.containers
    assert Job.objects.get(pk=detached.pk).state == JobState.UP and driver.containers[detached.container_id].running
    assert Job.objects.get(pk=web.pk).state == JobState.UP


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lines", [["x" * 1000] * 300, ["x" * (RELEASE_OUTPUT_MAX + 1)]], ids=["many", "one-long"])
def test_a_release_phases_kept_output_ends_with_a_note_once_it_is_too_long(driver, serving, lines):
    app, _ = serving
    release = _deploy_with_release_phase(app)
    _settle()
    job = _release_job(release)
    for line in [*lines, "after the limit"]:
        driver.log_feed(job.container_id, line)
    driver.exit(job.container_id, 0)
    reconcile()
    output = release_phase_get(release=release).output
    assert output.endswith(OUTPUT_TRUNCATED) and output.count(OUTPUT_TRUNCATED) == 1
    assert len(output) <= RELEASE_OUTPUT_MAX + len(OUTPUT_TRUNCATED)
