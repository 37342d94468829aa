"""The log collector: every job's output reaches its app's log, past crashes, deploys and restarts of paas."""

import time

import pytest

from apps.logs import LogFilter, app_log_tail
from formations.services import formation_restart, formation_scale
from scheduler import logs
from scheduler.models import Job, JobState
from scheduler.services import reconcile
from tests.factories import deploy, make_app

pytestmark = pytest.mark.django_db


def _entries(app_name="myapp", **filters):
    return app_log_tail(app_name=app_name, lines=1000, log_filter=LogFilter(**filters))


def _eventually(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


def _body(entry: str) -> str:
    return entry.split(" ", 1)[1]


def _bodies(app_name="myapp", **filters):
    return [_body(entry) for entry in _entries(app_name, **filters)]


def test_a_jobs_stdout_and_stderr_reach_the_app_log_with_job_and_release(driver):
    app = make_app()
    deploy(app, processes={"web": "serve", "worker": "work"})
    formation_scale(app=app, counts={"worker": 1}, actor=None)
    reconcile()
    web = Job.objects.get(app=app, process_type="web")
    worker = Job.objects.get(app=app, process_type="worker")
    driver.log_feed(web.container_id, "GET / 200")
    driver.log_feed(worker.container_id, "oops", stream="stderr")
    expected = ["paas[deploy]: v1 deployed", "web.1 v1 stdout: GET / 200", "worker.1 v1 stderr: oops"]
    assert _eventually(lambda: sorted(_bodies()) == expected), _bodies()
    assert _bodies(process="worker") == ["worker.1 v1 stderr: oops"]


def test_a_crashed_jobs_last_lines_and_the_crash_are_kept(driver):
    app = make_app()
    deploy(app)
    reconcile()
    job = Job.objects.get(app=app)
    first = job.container_id
    driver.log_feed(first, "Traceback: boom", stream="stderr")
    driver.exit(first, 1)
    reconcile()  # removes the container: its logs go with it in the engine, not in ours
    job.refresh_from_db()
    assert job.state == JobState.CRASHED and first not in driver.containers
    bodies = _bodies()
    assert "web.1 v1 stderr: Traceback: boom" in bodies
    assert "paas[scheduler]: web.1 crashed, exit 1, restarting in 1s" in bodies


def test_a_container_that_crashes_before_it_is_followed_still_leaves_its_output(driver):
    app = make_app()
    deploy(app)
    reconcile()
    job = Job.objects.get(app=app)
    logs.log_collector_reset()  # as if its follower never started
    driver.log_feed(job.container_id, "cannot bind", stream="stderr")
    driver.exit(job.container_id, 3)
    reconcile()
    assert "web.1 v1 stderr: cannot bind" in _bodies()


def test_a_deploy_keeps_the_old_releases_lines_and_adds_the_new_ones(driver):
    app = make_app()
    deploy(app)
    reconcile()
    old = Job.objects.get(app=app)
    driver.log_feed(old.container_id, "served by v1")
    assert _eventually(lambda: "web.1 v1 stdout: served by v1" in _bodies())
    deploy(app)
    for _ in range(4):
        reconcile()
    new = Job.objects.get(app=app, release__version=2, state=JobState.UP)
    driver.log_feed(new.container_id, "served by v2")
    assert _eventually(lambda: "web.1 v2 stdout: served by v2" in _bodies())
    assert old.container_id not in driver.containers
    assert "web.1 v1 stdout: served by v1" in _bodies()


def test_a_restarted_collector_goes_on_from_the_last_line_without_repeating_it(driver):
    app = make_app()
    deploy(app)
    reconcile()
    job = Job.objects.get(app=app)
    driver.log_feed(job.container_id, "one")
    driver.log_feed(job.container_id, "two")
    assert _eventually(lambda: len(_entries(process="web")) == 2)
    logs.log_collector_reset()  # paas up stopped; the container kept running and writing
    driver.log_feed(job.container_id, "three")
    reconcile()  # the new process adopts the container
    assert _eventually(lambda: len(_entries(process="web")) == 3)
    time.sleep(0.2)
    assert _bodies(process="web") == [f"web.1 v1 stdout: {text}" for text in ("one", "two", "three")]


def test_followers_end_when_the_container_ends_and_one_runs_per_container(driver):
    app = make_app()
    deploy(app)
    reconcile()
    job = Job.objects.get(app=app)
    reconcile()
    follower = logs.collector.followers[job.container_id]
    assert [f for f in logs.collector.followers.values() if f.is_alive()] == [follower]
    driver.exit(job.container_id, 0)
    follower.join(2)
    assert not follower.is_alive() and follower.ended


def test_deploys_scales_and_restarts_are_in_the_log(driver, django_capture_on_commit_callbacks):
    app = make_app()
    with django_capture_on_commit_callbacks(execute=True):
        deploy(app, processes={"web": "serve", "worker": "work"})
        formation_scale(app=app, counts={"worker": 2}, actor=None)
        formation_restart(app=app, actor=app.owner, process_type="web")
    assert _bodies() == [
        f"paas[deploy]: deploying v1 by {app.owner.username}",
        "paas[api]: scaled to worker=2",
        f"paas[api]: restarting web by {app.owner.username}",
    ]


class _Sink:
    """Where an agent's followers send lines (to the controllers, over Redis, in a cluster)."""

    def __init__(self, last: dict | None = None):
        self.lines: list[tuple[str, str, str]] = []
        self.last = last or {}

    def write(self, app_name: str, source: str, entries) -> None:
        self.lines += [(app_name, entry_source, text) for _, entry_source, text in entries]

    def last_time(self, app_name: str, source: str):
        return self.last.get((app_name, source))


def test_an_agents_followers_send_lines_to_its_sink_and_go_on_from_what_it_last_sent(driver):
    app = make_app()
    deploy(app)
    reconcile()
    job = Job.objects.get(app=app)
    driver.log_feed(job.container_id, "sent before the agent restarted")
    sent_until = time.time()
    driver.log_feed(job.container_id, "not sent yet")
    logs.log_collector_reset()  # an agent that restarts, adopting the running container
    sink = logs.collector.sink = _Sink({("myapp", "web.1 v1"): sent_until})
    reconcile()
    assert _eventually(lambda: sink.lines == [("myapp", "web.1 v1 stdout", "not sent yet")]), sink.lines
    assert "not sent yet" not in " ".join(_bodies())  # the controllers write the app's log, not the agent
