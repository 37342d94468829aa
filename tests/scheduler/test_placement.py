"""Placement, a pure function: spread an app's jobs of one type across hosts, then prefer the most free memory,
within memory limits and host tags."""

from collections import Counter

import pytest

from formations.models import Formation
from formations.services import formation_scale
from hosts.drivers.memory import MemoryHostDriver
from hosts.models import Host, HostState
from hosts.services import host_register_local
from scheduler.models import Job, JobState
from scheduler.placement import HostRoom, JobNeed, placement_plan
from scheduler.runs import RunStart, run_start
from scheduler.services import reconcile
from tests.factories import deploy, make_app

GIB = 1024**3
WEB = ("shop", "web")


def _needs(count: int, group=WEB, memory=GIB, constraints=()) -> list[JobNeed]:
    return [JobNeed((group, index), group, memory, frozenset(constraints)) for index in range(count)]


def test_an_apps_jobs_of_one_type_are_spread_over_the_hosts():
    rooms = [HostRoom(1, 64 * GIB), HostRoom(2, 8 * GIB)]
    plan = placement_plan(_needs(4), rooms)
    assert Counter(plan.values()) == {1: 2, 2: 2}  # spread first, though host 1 has far more memory


def test_between_hosts_running_as_many_of_the_type_the_one_with_more_memory_left_wins():
    rooms = [HostRoom(1, 4 * GIB), HostRoom(2, 6 * GIB), HostRoom(3, 5 * GIB)]
    assert list(placement_plan(_needs(1), rooms).values()) == [2]
    plan = placement_plan(_needs(1, group=("shop", "worker")), rooms, running={(("shop", "worker"), 2): 1})
    assert list(plan.values()) == [3]  # host 2 already runs one of them
    assert rooms[2].free_memory == 4 * GIB  # the plan promised host 3 a gibibyte


def test_a_host_without_room_for_the_memory_limit_gets_none_and_a_job_no_host_can_take_is_left():
    rooms = [HostRoom(1, 3 * GIB), HostRoom(2, 1 * GIB)]
    plan = placement_plan(_needs(4, memory=2 * GIB), rooms)
    assert sorted(plan.values(), key=str) == [1, None, None, None]


def test_constraints_keep_jobs_on_hosts_with_every_tag_named():
    rooms = [HostRoom(1, tags=frozenset({"ssd"})), HostRoom(2), HostRoom(3, tags=frozenset({"ssd", "eu"}))]
    plan = placement_plan(_needs(4, constraints={"ssd"}) + _needs(1, ("db", "web"), constraints={"ssd", "eu"}), rooms)
    assert Counter(plan[need.key] for need in _needs(4, constraints={"ssd"})) == {1: 2, 3: 2}
    assert plan[(("db", "web"), 0)] == 3
    assert list(placement_plan(_needs(1, constraints={"gpu"}), rooms).values()) == [None]


def test_memory_another_group_took_since_is_seen_before_a_host_is_chosen():
    mib = 1024**2
    rooms = [HostRoom(1, 10_000 * mib), HostRoom(2, 9_500 * mib), HostRoom(3, 9_000 * mib)]
    workers = ("shop", "worker")
    needs = [
        JobNeed("web.1", WEB, 1_000 * mib),
        JobNeed("worker.1", workers, 6_000 * mib),
        JobNeed("web.2", WEB, 1_000 * mib),
    ]
    plan = placement_plan(needs, rooms)
    assert plan == {"web.1": 1, "worker.1": 2, "web.2": 3}  # host 2 had the most left when web.1 was placed


# Placement in the reconcile pass, over two in-memory hosts


@pytest.fixture
def two_hosts(driver):
    """The hosts `local` and `second`, both up."""
    Host.objects.create(name="second", docker_url="memory://second", address="127.0.0.1", state=HostState.UP)
    return driver, MemoryHostDriver.for_host("second")


def _hosts_of(app) -> Counter:
    return Counter(Job.objects.filter(app=app, state=JobState.UP).values_list("host__name", flat=True))


def _scaled(counts: dict, constraints: dict | None = None):
    app = make_app()
    deploy(app, processes={"web": "serve", "worker": "work"})
    if constraints:
        Formation.objects.filter(app=app).update(constraints=constraints)
    formation_scale(app=app, counts=counts, actor=app.owner)
    for _ in range(4):
        reconcile()
    return app


@pytest.mark.django_db
def test_scale_web_4_runs_two_jobs_on_each_host(two_hosts):
    assert _hosts_of(_scaled({"web": 4})) == {"local": 2, "second": 2}


@pytest.mark.django_db
def test_a_drained_host_takes_no_new_job(two_hosts):
    Host.objects.filter(name="second").update(drained=True)
    assert _hosts_of(_scaled({"web": 3})) == {"local": 3}


@pytest.mark.django_db
def test_a_process_type_with_constraints_runs_only_on_hosts_with_its_tags(two_hosts):
    Host.objects.filter(name="second").update(tags=["ssd"])
    app = _scaled({"web": 1, "worker": 2}, constraints={"worker": ["ssd"]})
    workers = Job.objects.filter(app=app, process_type="worker", state=JobState.UP)
    assert set(workers.values_list("host__name", flat=True)) == {"second"} and workers.count() == 2


@pytest.mark.django_db
def test_a_job_no_host_has_memory_for_waits_and_says_why(two_hosts, caplog, settings):
    settings.PAAS_MEMORY_OVERCOMMIT = 1
    Host.objects.update(memory=600 * 1024**2)  # room for one 512m job each
    app = _scaled({"web": 3})
    assert _hosts_of(app) == {"local": 1, "second": 1}
    assert Job.objects.filter(app=app, state=JobState.PENDING).count() == 1
    assert "no host up has 512 MiB of memory left for it" in caplog.text


@pytest.mark.django_db
def test_the_local_hosts_memory_and_cpus_are_recorded_from_its_engine(driver):
    driver.memory, driver.cpus = 8 * 1024**3, 2.0
    host_register_local()
    assert Host.objects.filter(name="local").values_list("memory", "cpus").get() == (8 * 1024**3, 2.0)


@pytest.mark.django_db
def test_draining_a_host_moves_its_jobs_away_each_stopping_once_its_replacement_is_up(two_hosts):
    local, second = two_hosts
    app = _scaled({"web": 4})
    Host.objects.filter(name="second").update(drained=True)
    local.unhealthy.update({f"local-c{n}" for n in range(1, 20)})  # the replacements do not come up yet
    reconcile()
    assert _hosts_of(app) == {"local": 2, "second": 2}  # still serving from the drained host meanwhile
    local.unhealthy.clear()
    for _ in range(4):
        reconcile()
    assert _hosts_of(app) == {"local": 4}
    assert Job.objects.filter(app=app, host__name="second").exclude(state=JobState.UP).count() == 2


@pytest.mark.django_db
def test_a_drained_host_keeps_its_jobs_when_no_other_host_can_take_them(driver):
    app = _scaled({"web": 2})
    Host.objects.filter(name="local").update(drained=True)
    for _ in range(3):
        reconcile()
    assert _hosts_of(app) == {"local": 2}
    assert Job.objects.filter(app=app, state=JobState.PENDING).count() == 2  # waiting for a host to take them


@pytest.mark.django_db
def test_memory_limits_are_caps_a_host_takes_up_to_the_overcommit_and_a_crash_on_a_full_host_restarts(
    two_hosts, settings
):
    settings.PAAS_MEMORY_OVERCOMMIT = 2
    Host.objects.update(memory=1024**3)  # 1 GiB each: 2 GiB of limits, four 512m jobs
    app = _scaled({"web": 8})
    assert _hosts_of(app) == {"local": 4, "second": 4}
    local, _ = two_hosts
    job = Job.objects.filter(app=app, host__name="local", state=JobState.UP).first()
    local.exit(job.container_id, 1)
    for _ in range(3):
        reconcile()
        Job.objects.filter(pk=job.pk).update(restart_at=None)  # no backoff wait
    job.refresh_from_db()
    assert job.state == JobState.UP and job.host.name == "local"  # the crashed job held no memory of its own


@pytest.mark.django_db
def test_a_one_off_run_starts_on_a_host_that_is_not_drained(two_hosts):
    app = _scaled({"web": 1})
    Host.objects.filter(name="local").update(drained=True)
    job, _ = run_start(app=app, actor=app.owner, start=RunStart("echo hi", attached=False))
    assert job.host.name == "second"
