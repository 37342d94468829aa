"""Cron schedules: the five-field parser and its next-run math in UTC, due runs started as detached one-off jobs on the
in-memory host driver (skipped while the last one runs, made up for once after downtime, claimed once), and the
`cron` entries of an app.json, checked by the build and replacing the app's app.json schedules on release."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.models import Event, EventAction
from buildpacks.models import BuildState
from hosts.models import Host, HostState
from paas.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from releases.models import Release
from scheduler import cron as cron_module
from scheduler.cron import (
    CronEntry,
    app_json_crons,
    cron_add,
    cron_app_json_sync,
    cron_entry_checked,
    cron_next,
    cron_now,
    cron_parse,
    cron_remove,
    crons_run_due,
)
from scheduler.models import CronSchedule, CronSource, Job, JobKind, JobState
from scheduler.services import reconcile
from tests.buildpacks import conftest as pipeline_fixtures
from tests.buildpacks.test_pipeline import PYTHON_APP
from tests.factories import deploy, make_app
from tests.scheduler.test_logs import _bodies

pytestmark = pytest.mark.django_db
engine, push = pipeline_fixtures.engine, pipeline_fixtures.push  # the build pipeline's fixtures, for app.json pushes

THURSDAY = datetime(2026, 11, 26, 12, 14, 30, tzinfo=UTC)


def _next(schedule: str, after: datetime = THURSDAY) -> datetime:
    return cron_next(cron_parse(schedule), after)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# The parser and the next run


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("* * * * *", "2026-11-26 12:14:30", "2026-11-26 12:15"),
        ("* * * * *", "2026-11-26 12:15:00", "2026-11-26 12:16"),  # strictly after
        ("*/5 * * * *", "2026-11-26 12:14:30", "2026-11-26 12:15"),
        ("5/20 * * * *", "2026-11-26 12:14:30", "2026-11-26 12:25"),  # from 5 to 59, every 20
        ("0 8-18/4 * * *", "2026-11-26 12:14:30", "2026-11-26 16:00"),
        ("15,45 3 * * *", "2026-11-26 12:14:30", "2026-11-27 03:15"),
        ("30 2 * * mon-fri", "2026-11-27 03:00:00", "2026-11-30 02:30"),  # Friday, after: the next Monday
        ("0 12 * JAN,jul SUN", "2026-11-26 12:14:30", "2027-01-03 12:00"),
        ("0 0 * * 7", "2026-11-26 12:14:30", "2026-11-29 00:00"),  # 7 is Sunday, as 0 is
        ("0 0 * * 5-7", "2026-11-28 12:00:00", "2026-11-29 00:00"),
        ("0 0 31 * *", "2026-11-26 12:14:30", "2026-12-31 00:00"),  # November has no 31st
        ("59 23 31 12 *", "2026-12-31 23:59:00", "2027-12-31 23:59"),
        ("0 0 29 2 *", "2026-11-26 12:14:30", "2028-02-29 00:00"),
        ("0 0 29 2 *", "2096-03-01 00:00:00", "2104-02-29 00:00"),  # 2100 is not a leap year
        # Both day fields restricted: either one will do (the 1st, and every Monday).
        ("0 0 1 * mon", "2026-11-26 12:14:30", "2026-11-30 00:00"),
        ("0 0 1 * mon", "2026-11-30 00:00:00", "2026-12-01 00:00"),
        ("0 0 13 * fri", "2026-11-26 12:14:30", "2026-11-27 00:00"),
        # One of them starting with `*`: both must match, as in Vixie cron (days 1, 11, 21, 31 that are Mondays).
        ("0 0 */10 * mon", "2026-11-26 12:14:30", "2026-12-21 00:00"),
        ("0 0 * * mon", "2026-11-26 12:14:30", "2026-11-30 00:00"),
        ("@hourly", "2026-11-26 12:14:30", "2026-11-26 13:00"),
        ("@daily", "2026-11-26 12:14:30", "2026-11-27 00:00"),
        ("@midnight", "2026-11-26 12:14:30", "2026-11-27 00:00"),
        ("@weekly", "2026-11-26 12:14:30", "2026-11-29 00:00"),  # Sundays
        ("@monthly", "2026-11-26 12:14:30", "2026-12-01 00:00"),
        ("@yearly", "2026-11-26 12:14:30", "2027-01-01 00:00"),
        ("@ANNUALLY", "2026-11-26 12:14:30", "2027-01-01 00:00"),
    ],
)
def test_the_next_run_is_the_first_matching_minute_after_in_utc(schedule, after, expected):
    assert _next(schedule, _at(after)) == _at(expected)


def test_the_next_run_is_in_utc_whatever_zone_the_time_is_given_in():
    from zoneinfo import ZoneInfo

    paris = datetime(2026, 11, 26, 13, 14, tzinfo=ZoneInfo("Europe/Paris"))  # 12:14 UTC
    assert _next("0 13 * * *", paris) == _at("2026-11-26 13:00")


@pytest.mark.parametrize(
    ("schedule", "said"),
    [
        ("* * * *", "a schedule has five fields (minute hour day-of-month month day-of-week), not 4"),
        ("* * * * * *", "not 6"),
        ("", "not 0"),
        ("60 * * * *", "minute 60 is out of range (0-59)"),
        ("* 24 * * *", "hour 24 is out of range (0-23)"),
        ("* * 0 * *", "day of month 0 is out of range (1-31)"),
        ("* * * 13 *", "month 13 is out of range (1-12)"),
        ("* * * * 8", "day of week 8 is out of range (0-7)"),
        ("*/0 * * * *", "a minute step is at least 1"),
        ("*/x * * * *", "minute step 'x' is not a number"),
        ("30-10 * * * *", "the minute range 30-10 runs backwards"),
        ("1,,2 * * * *", "a minute value is missing"),
        ("* * * foo *", "'foo' is not a month: 1-12 or jan, feb"),
        ("* * * * monday", "'monday' is not a day of week: 0-7 or sun, mon"),
        ("-5 * * * *", "a minute value is missing"),
        ("@reboot", "no alias @reboot; there are @yearly"),
    ],
)
def test_a_malformed_schedule_is_refused_saying_what_is_wrong_with_an_example(schedule, said):
    with pytest.raises(InvalidInput) as refused:
        cron_entry_checked(schedule, "echo hi")
    assert said in str(refused.value)
    assert f"invalid cron schedule {schedule!r}" in str(refused.value)
    assert 'e.g. "*/5 * * * *"' in str(refused.value)


def test_a_schedule_that_never_comes_or_an_empty_or_long_command_is_refused():
    with pytest.raises(InvalidInput, match=r"cron schedule '0 0 30 2 \*' never comes"):
        cron_entry_checked("0 0 30 2 *", "echo hi")
    with pytest.raises(InvalidInput, match="at most 100 characters"):
        cron_entry_checked("*" * 101, "echo hi")
    with pytest.raises(InvalidInput, match=r"say what to run, e.g. paas cron add '\*/5 \* \* \* \*' -- python"):
        cron_entry_checked("@daily", "   ")
    with pytest.raises(InvalidInput, match="a cron command is at most 2000 characters"):
        cron_entry_checked("@daily", "x" * 2001)


def test_a_schedule_is_kept_with_single_spaces_and_aliases_in_lowercase():
    assert cron_entry_checked("  */5  *   * * *  ", " echo hi ") == CronEntry("*/5 * * * *", "echo hi")
    assert cron_entry_checked("@Daily", "echo hi") == CronEntry("@daily", "echo hi")


def test_the_cron_clock_runs_faster_from_the_process_start_when_sped_up(settings, monkeypatch):
    assert abs(cron_now() - timezone.now()) < timedelta(seconds=1)
    settings.PAAS_CRON_SPEED = 30
    monkeypatch.setattr(cron_module, "_CLOCK_ANCHOR", timezone.now() - timedelta(seconds=10))
    ahead = cron_now() - timezone.now()
    assert timedelta(seconds=289) < ahead < timedelta(seconds=292)  # 10 s at 30 times: 300 s, 290 s ahead


# Adding and removing


def test_a_schedule_is_added_with_its_first_run_and_removed_with_events(driver):
    app = make_app("shop")
    added = cron_add(app=app, schedule="*/5 * * * *", command="python manage.py clearsessions", actor=app.owner)
    assert added.source == CronSource.CLI and added.last_job is None and added.last_exit_code is None
    assert added.next_run_at == cron_next(cron_parse("*/5 * * * *"), timezone.now())
    cron_remove(app=app, cron_id=added.pk, actor=app.owner)
    assert not CronSchedule.objects.exists()
    events = Event.objects.filter(app=app, action__in=[EventAction.CRON_ADD, EventAction.CRON_REMOVE])
    assert [(event.action, event.detail) for event in events.order_by("pk")] == [
        (EventAction.CRON_ADD, "*/5 * * * * python manage.py clearsessions"),
        (EventAction.CRON_REMOVE, "*/5 * * * * python manage.py clearsessions"),
    ]
    with pytest.raises(NotFound, match="shop has no cron schedule"):
        cron_remove(app=app, cron_id=added.pk, actor=app.owner)


def test_schedules_have_a_quota_per_app_counting_app_json_ones(settings):
    settings.PAAS_QUOTA_CRONS = 2
    app = make_app("shop")
    cron_add(app=app, schedule="@daily", command="one", actor=app.owner)
    cron_app_json_sync(app=app, entries=[CronEntry("@hourly", "two")], actor=app.owner)
    with pytest.raises(QuotaExceeded, match=r"an app may have 2 \(PAAS_QUOTA_CRONS\)"):
        cron_add(app=app, schedule="@daily", command="three", actor=app.owner)
    assert CronSchedule.objects.count() == 2


# Due runs


@pytest.fixture
def serving(driver):
    """`shop`, deployed and running."""
    app = make_app("shop")
    deploy(app)
    reconcile()
    return app


def _due(app, schedule: str = "*/5 * * * *", command: str = "python manage.py clearsessions") -> CronSchedule:
    cron = cron_add(app=app, schedule=schedule, command=command, actor=app.owner)
    CronSchedule.objects.filter(pk=cron.pk).update(next_run_at=_at("2026-11-26 12:15"))
    return cron


def _cron_lines(app_name: str = "shop") -> list[str]:
    return [body for body in _bodies(app_name) if body.startswith("paas[cron]")]


def test_a_due_schedule_starts_a_detached_run_of_the_current_release(driver, serving):
    cron = _due(serving)
    now = _at("2026-11-26 12:15:20")
    assert crons_run_due(now=now) == 1
    job = Job.objects.get(kind=JobKind.RUN)
    assert (job.name, job.attached, job.state, job.command) == ("run.1", False, JobState.UP, cron.command)
    assert driver.specs[job.container_id].command == cron.command and job.created_by is None
    cron.refresh_from_db()
    assert (cron.last_job, cron.last_run_at, cron.next_run_at) == (job, now, _at("2026-11-26 12:20"))
    assert _cron_lines() == [f"paas[cron]: run.1 started by cron {cron.pk} (*/5 * * * *)"]
    assert Event.objects.filter(action=EventAction.RUN, actor=None, detail__startswith="run.1: python").exists()
    assert crons_run_due(now=now) == 0  # that minute is taken
    driver.log_feed(job.container_id, "Deleted 12 sessions")
    driver.exit(job.container_id, 0)
    reconcile()
    cron.refresh_from_db()
    assert cron.last_exit_code == 0
    assert "run.1 v1 stdout: Deleted 12 sessions" in _bodies("shop")


def test_a_run_still_going_when_the_next_is_due_makes_that_one_skipped(driver, serving):
    cron = _due(serving)
    crons_run_due(now=_at("2026-11-26 12:15:00"))
    first = Job.objects.get(kind=JobKind.RUN)
    assert crons_run_due(now=_at("2026-11-26 12:20:00")) == 0
    assert Job.objects.filter(kind=JobKind.RUN).count() == 1
    skipped = f"paas[cron]: cron {cron.pk} (*/5 * * * *) skipped: the previous run (run.1) is still going"
    assert _cron_lines()[-1] == skipped
    cron.refresh_from_db()
    assert cron.next_run_at == _at("2026-11-26 12:25") and cron.last_job == first
    driver.exit(first.container_id, 3)
    reconcile()
    assert crons_run_due(now=_at("2026-11-26 12:25:00")) == 1
    cron.refresh_from_db()
    assert cron.last_job.name == "run.2" and cron.last_exit_code is None


def test_minutes_missed_while_the_platform_was_down_make_one_run_not_a_burst(driver, serving):
    cron = _due(serving)
    CronSchedule.objects.filter(pk=cron.pk).update(next_run_at=_at("2026-11-26 09:00"))  # three hours ago
    now = _at("2026-11-26 12:14:30")
    assert crons_run_due(now=now) == 1
    assert crons_run_due(now=now + timedelta(seconds=20)) == 0
    cron.refresh_from_db()
    assert cron.next_run_at == _at("2026-11-26 12:15")
    assert Job.objects.filter(kind=JobKind.RUN).count() == 1


def test_an_app_without_a_release_skips_its_runs_saying_why_and_moves_on(driver):
    app = make_app("shop")
    cron = _due(app)
    assert crons_run_due(now=_at("2026-11-26 12:15:00")) == 0
    assert crons_run_due(now=_at("2026-11-26 12:16:00")) == 0  # not tried again until its next minute
    said = "shop has no release to run yet; deploy it first: git push paas main"
    assert _cron_lines() == [f"paas[cron]: cron {cron.pk} (*/5 * * * *) skipped: {said}"]
    cron.refresh_from_db()
    assert cron.next_run_at == _at("2026-11-26 12:20") and cron.last_run_at is None
    assert not Job.objects.exists()


def test_a_full_runs_quota_or_no_host_up_skips_the_run(driver, serving, settings):
    _due(serving)
    settings.PAAS_QUOTA_RUNS = 0
    assert crons_run_due(now=_at("2026-11-26 12:15:00")) == 0
    assert "(PAAS_QUOTA_RUNS=0); wait for one to end" in _cron_lines()[-1]
    settings.PAAS_QUOTA_RUNS = 5
    Host.objects.update(state=HostState.DOWN)
    assert crons_run_due(now=_at("2026-11-26 12:20:00")) == 0
    assert _cron_lines()[-1].endswith("skipped: no host is up and taking jobs to run on; see `paas hosts`")
    assert not Job.objects.filter(kind=JobKind.RUN).exists()


def test_a_due_minute_is_claimed_once_whichever_controller_reads_it(driver, serving):
    cron = _due(serving)
    now, due_at = _at("2026-11-26 12:15:00"), _at("2026-11-26 12:15")
    assert cron_module._cron_claimed(cron.pk, due_at, now) is not None
    assert cron_module._cron_claimed(cron.pk, due_at, now) is None  # another controller read the same row
    assert crons_run_due(now=now) == 0 and not Job.objects.filter(kind=JobKind.RUN).exists()


def test_one_schedule_that_fails_does_not_stop_the_others(driver, serving, monkeypatch, caplog):
    from scheduler import runs

    broken = _due(serving, command="broken")
    _due(serving, command="fine")
    real_start = runs.run_start

    def run_start(*, app, actor, start):
        if start.command == "broken":
            raise RuntimeError("the engine went away")
        return real_start(app=app, actor=actor, start=start)

    monkeypatch.setattr(runs, "run_start", run_start)
    assert crons_run_due(now=_at("2026-11-26 12:15:00")) == 1
    assert f"cron schedule {broken.pk} could not run" in caplog.text
    assert list(Job.objects.filter(kind=JobKind.RUN).values_list("command", flat=True)) == ["fine"]
    broken.refresh_from_db()
    assert broken.next_run_at == _at("2026-11-26 12:20")  # not tried again at every pass


def test_schedules_are_shown_in_the_console_view_only(admin_client, driver, serving):
    cron = _due(serving)
    crons_run_due(now=_at("2026-11-26 12:15:00"))
    page = admin_client.get(reverse("admin:scheduler_cronschedule_changelist")).content.decode()
    assert "python manage.py clearsessions" in page and "run.1" in page
    assert admin_client.get(reverse("admin:scheduler_cronschedule_add")).status_code == 403
    assert admin_client.post(reverse("admin:scheduler_cronschedule_delete", args=[cron.pk])).status_code == 403


# app.json


def test_app_json_cron_entries_are_read_and_checked(settings):
    app = make_app("shop")
    text = json.dumps(
        {"name": "shop", "cron": [{"command": "python manage.py clearsessions", "schedule": "*/5 * * * *"}]}
    )
    assert app_json_crons(app=app, text=text) == [CronEntry("*/5 * * * *", "python manage.py clearsessions")]
    assert app_json_crons(app=app, text=None) == []
    assert app_json_crons(app=app, text='{"name": "shop"}') == []
    for text, said in (
        ("{not json", "app.json is not valid JSON"),
        ('{"cron": {"command": "x"}}', "app.json's cron is a list of entries"),
        ("[]", "app.json's cron is a list of entries"),
        ('{"cron": [{"command": "a", "schedule": "@daily"}, {"command": "b"}]}', "app.json: cron entry 2 is not"),
        ('{"cron": [{"command": "a", "schedule": "61 * * * *"}]}', "app.json: cron entry 1 ('61 * * * *'): invalid"),
        ('{"cron": [{"command": "", "schedule": "@daily"}]}', "app.json: cron entry 1 ('@daily'): say what to run"),
    ):
        with pytest.raises(InvalidInput) as refused:
            app_json_crons(app=app, text=text)
        assert said in str(refused.value)
    settings.PAAS_QUOTA_CRONS = 1
    cron_add(app=app, schedule="@daily", command="by hand", actor=app.owner)
    with pytest.raises(QuotaExceeded, match="PAAS_QUOTA_CRONS"):
        app_json_crons(app=app, text='{"cron": [{"command": "a", "schedule": "@daily"}]}')


def test_syncing_app_json_keeps_unchanged_schedules_and_leaves_cli_ones_alone():
    app = make_app("shop")
    cron_add(app=app, schedule="@daily", command="by hand", actor=app.owner)
    cron_app_json_sync(app=app, entries=[CronEntry("@hourly", "kept"), CronEntry("@daily", "dropped")], actor=None)
    kept = CronSchedule.objects.get(command="kept")
    CronSchedule.objects.filter(pk=kept.pk).update(last_run_at=_at("2026-11-26 12:00"))
    cron_app_json_sync(app=app, entries=[CronEntry("@hourly", "kept"), CronEntry("@weekly", "new")], actor=None)
    rows = CronSchedule.objects.order_by("pk").values_list("source", "command", "last_run_at")
    assert list(rows) == [
        ("cli", "by hand", None),
        ("app.json", "kept", _at("2026-11-26 12:00")),
        ("app.json", "new", None),
    ]
    assert CronSchedule.objects.get(command="kept").pk == kept.pk
    details = Event.objects.filter(action__in=[EventAction.CRON_ADD, EventAction.CRON_REMOVE]).order_by("pk")
    assert [event.detail for event in details][-2:] == ["app.json: @daily dropped", "app.json: @weekly new"]
    with pytest.raises(Conflict, match="comes from app.json: remove its entry there, commit and push"):
        cron_remove(app=app, cron_id=kept.pk, actor=app.owner)
    cron_app_json_sync(app=app, entries=[], actor=None)
    assert list(CronSchedule.objects.values_list("command", flat=True)) == ["by hand"]


APP_JSON = {
    "cron": [
        {"command": "python manage.py clearsessions", "schedule": "*/5 * * * *"},
        {"command": "python report.py", "schedule": "@daily"},
    ]
}


def _pushed(push, app, app_json: dict | str | None):
    files = dict(PYTHON_APP)
    if app_json is not None:
        files["app.json"] = (app_json if isinstance(app_json, str) else json.dumps(app_json)).encode()
    return push(app, files)


def _app_json_schedules(app) -> list[tuple[str, str]]:
    return list(CronSchedule.objects.filter(app=app, source=CronSource.APP_JSON).values_list("schedule", "command"))


@pytest.mark.usefixtures("engine")
def test_a_push_with_app_json_cron_entries_replaces_the_apps_app_json_schedules(push):
    app = make_app("shop")
    cron_add(app=app, schedule="@hourly", command="by hand", actor=app.owner)
    build = _pushed(push, app, APP_JSON)
    assert build.state == BuildState.SUCCEEDED, build.error
    assert (
        "-----> app.json declares 2 cron schedules\n"
        "       */5 * * * *  python manage.py clearsessions\n"
        "       @daily  python report.py\n"
    ) in build.log
    assert _app_json_schedules(app) == [
        ("*/5 * * * *", "python manage.py clearsessions"),
        ("@daily", "python report.py"),
    ]
    assert _pushed(push, app, {"name": "shop"}).state == BuildState.SUCCEEDED  # no cron: none from app.json
    assert _app_json_schedules(app) == []
    assert list(CronSchedule.objects.values_list("command", flat=True)) == ["by hand"]


@pytest.mark.usefixtures("engine")
def test_a_malformed_app_json_fails_the_build_before_anything_is_released(push):
    app = make_app("shop")
    assert _pushed(push, app, APP_JSON).state == BuildState.SUCCEEDED
    bad = {"cron": [{"command": "python report.py", "schedule": "@daily"}, {"command": "x", "schedule": "* * *"}]}
    build = _pushed(push, app, bad)
    assert build.state == BuildState.FAILED and build.release is None
    assert build.error.startswith(
        "app.json: cron entry 2 ('* * *'): invalid cron schedule '* * *': a schedule has five"
    )
    assert "Python app detected" not in build.log  # refused before building
    assert list(Release.objects.filter(app=app).values_list("version", flat=True)) == [1]
    assert len(_app_json_schedules(app)) == 2
    assert _pushed(push, app, "{oops").error.startswith("app.json is not valid JSON")
