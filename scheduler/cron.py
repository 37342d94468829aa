"""Cron schedules: an app's command run as a detached one-off job of its current release on a schedule, in UTC.

A schedule is standard cron's five fields, `minute hour day-of-month month day-of-week` (`*/5 * * * *`), with
lists (`1,15`), ranges (`mon-fri`), steps (`*/10`, `8-18/2`), month and weekday names (`jan`, `sun`; 0 and 7 are
both Sunday), or an alias (`@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`). As in
Vixie cron, when both day fields are restricted (neither starts with `*`) a day matching either one is in
(`0 0 1 * mon`: the 1st, and every Monday); otherwise a day must match both.

Schedules come from `paas cron add`, or from the `cron` entries of an app.json at the repository's root (Dokku's
format), which each build replaces. The scheduler's leader starts the runs that are due on every pass
(`crons_run_due`), each occurrence claimed once by a conditional update, so that two controllers never start the
same one. A run that is due while the previous one is still going is skipped, and so is one that cannot start (no
release yet, the runs quota full, no host up): the app's log says why. Occurrences missed while the platform was
down are made up for by one run, not a burst.

The cron clock is real UTC time; with PAAS_CRON_SPEED N (for tests) it runs N times faster, from when this process
started, and the schedules' times are read on that clock.
"""

import dataclasses
import json
import logging
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.logs import app_log_event
from apps.models import App, EventAction
from apps.services import event_record
from paas.errors import Conflict, InvalidInput, NotFound, PaasError, QuotaExceeded
from scheduler.models import CronSchedule, CronSource, JobState

log = logging.getLogger("paas.cron")

APP_JSON = "app.json"
SCHEDULE_MAX_CHARS = 100
COMMAND_MAX_CHARS = 2000
SEARCH_YEARS = 28  # a schedule with no minute in this many years never comes (Feb 29 on a Sunday does, in 28)
DUE_PER_PASS = 50
EXAMPLE = (
    'e.g. "*/5 * * * *" (every 5 minutes) or "30 2 * * mon-fri" (02:30 UTC on weekdays): minute hour day-of-month '
    "month day-of-week, or one of @hourly, @daily, @weekly, @monthly, @yearly"
)
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = {name: number for number, name in enumerate(("jan feb mar apr may jun jul aug sep oct nov dec").split(), 1)}
WEEKDAYS = {name: number for number, name in enumerate("sun mon tue wed thu fri sat".split())}


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] = dataclasses.field(default_factory=dict)


FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, MONTHS),
    _Field("day of week", 0, 7, WEEKDAYS),
)


class _FieldError(ValueError):
    """One field of a schedule is wrong; the message says how."""


@dataclasses.dataclass(frozen=True)
class CronExpression:
    """A parsed schedule: the minutes, hours, days, months and weekdays (0 = Sunday) it runs at."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    either_day: bool  # both day fields restricted: a day matching either one is in

    def day_matches(self, day: date) -> bool:
        in_month, in_week = day.day in self.days, day.isoweekday() % 7 in self.weekdays
        return (in_month or in_week) if self.either_day else (in_month and in_week)


@dataclasses.dataclass(frozen=True)
class CronEntry:
    """A schedule and its command, checked: one `cron` entry of an app.json."""

    schedule: str
    command: str


def cron_parse(schedule: str) -> CronExpression:
    """The expression of a five-field schedule or an @alias; refuses anything else, saying what is wrong."""
    text = schedule.strip().lower() if isinstance(schedule, str) else ""
    fields = ALIASES.get(text, text).split()
    try:
        _shape_check(text, fields)
        values = [_field_values(part, field) for part, field in zip(fields, FIELDS, strict=True)]
    except _FieldError as problem:
        raise InvalidInput(f"invalid cron schedule {schedule!r}: {problem}; {EXAMPLE}") from None
    weekdays = frozenset(day % 7 for day in values[4])
    either_day = not fields[2].startswith("*") and not fields[4].startswith("*")
    return CronExpression(*values[:4], weekdays, either_day)


def _shape_check(text: str, fields: list[str]) -> None:
    if text.startswith("@") and text not in ALIASES:
        raise _FieldError(f"no alias {text}; there are {', '.join(ALIASES)}")
    if len(fields) != len(FIELDS):
        raise _FieldError(f"a schedule has five fields (minute hour day-of-month month day-of-week), not {len(fields)}")


def _field_values(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = _number(step_text, f"{field.name} step", 1, None) if slash else 1
        if base == "*":
            start, end = field.low, field.high
        elif "-" in base:
            start, end = (_value(bound, field) for bound in base.split("-", 1))
            if start > end:
                raise _FieldError(f"the {field.name} range {base} runs backwards")
        else:
            start = _value(base, field)
            end = field.high if slash else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(token: str, field: _Field) -> int:
    if token in field.names:
        return field.names[token]
    if not token:
        raise _FieldError(f"a {field.name} value is missing")
    if not (token.isascii() and token.isdigit()):
        names = f" or {', '.join(field.names)}" if field.names else ""
        raise _FieldError(f"{token!r} is not a {field.name}: {field.low}-{field.high}{names}")
    return _number(token, field.name, field.low, field.high)


def _number(token: str, what: str, low: int, high: int | None) -> int:
    if not (token.isascii() and token.isdigit()):
        raise _FieldError(f"{what} {token!r} is not a number")
    number = int(token)
    if number < low or (high is not None and number > high):
        raise _FieldError(f"{what} {number} is out of range ({low}-{high})" if high else f"a {what} is at least {low}")
    return number


def cron_next(expression: CronExpression, after: datetime) -> datetime | None:
    """The first minute of `expression` strictly after `after`, in UTC; None if it never comes (February 30th)."""
    moment = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = moment.year + SEARCH_YEARS
    while moment.year <= limit:
        if moment.month not in expression.months:
            moment = (moment.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0)
        elif not expression.day_matches(moment.date()):
            moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
        elif moment.hour not in expression.hours:
            moment = (moment + timedelta(hours=1)).replace(minute=0)
        elif moment.minute not in expression.minutes:
            moment += timedelta(minutes=1)
        else:
            return moment
    return None


_CLOCK_ANCHOR = timezone.now()  # a sped-up cron clock runs from when this process started


def cron_now() -> datetime:
    """The cron clock: now, in UTC; with PAAS_CRON_SPEED N other than 1 (for tests), N times faster since this process
    started."""
    now = timezone.now()
    speed = settings.PAAS_CRON_SPEED
    return now if speed == 1 else _CLOCK_ANCHOR + (now - _CLOCK_ANCHOR) * speed


def cron_entry_checked(schedule, command) -> CronEntry:
    """A schedule (normalised: single spaces, aliases in lowercase) and a command, both checked."""
    if not isinstance(schedule, str) or len(schedule) > SCHEDULE_MAX_CHARS:
        raise InvalidInput(f"a cron schedule is text of at most {SCHEDULE_MAX_CHARS} characters; {EXAMPLE}")
    if cron_next(cron_parse(schedule), cron_now()) is None:
        raise InvalidInput(f"cron schedule {schedule!r} never comes: no day in {SEARCH_YEARS} years matches it")
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput("say what to run, e.g. paas cron add '*/5 * * * *' -- python manage.py clearsessions")
    if len(command) > COMMAND_MAX_CHARS or "\x00" in command:
        raise InvalidInput(
            f"a cron command is at most {COMMAND_MAX_CHARS} characters, without NUL bytes; put a longer one in a "
            "script in the repository, e.g. paas cron add '@daily' -- ./bin/nightly"
        )
    normalised = " ".join(schedule.split())
    return CronEntry(normalised.lower() if normalised.startswith("@") else normalised, command.strip())


def _quota_check(app: App, count: int) -> None:
    if count > settings.PAAS_QUOTA_CRONS:
        raise QuotaExceeded(
            f"{app.name} would have {count} cron schedules; an app may have {settings.PAAS_QUOTA_CRONS} "
            "(PAAS_QUOTA_CRONS): remove one first (paas cron remove ID, or from app.json)"
        )


def cron_add(*, app: App, schedule: str, command: str, actor) -> CronSchedule:
    """Adds a schedule to `app` (`paas cron add`), within PAAS_QUOTA_CRONS; its first run is its next minute."""
    entry = cron_entry_checked(schedule, command)
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).get()
        _quota_check(app, CronSchedule.objects.filter(app=app).count() + 1)
        return _cron_created(app, entry, CronSource.CLI, actor)


def _cron_created(app: App, entry: CronEntry, source: CronSource, actor) -> CronSchedule:
    cron = CronSchedule(app=app, schedule=entry.schedule, command=entry.command, source=source, created_by=actor)
    cron.next_run_at = cron_next(cron_parse(entry.schedule), cron_now())
    cron.full_clean()
    cron.save()
    where = "app.json: " if source == CronSource.APP_JSON else ""
    event_record(app=app, actor=actor, action=EventAction.CRON_ADD, detail=f"{where}{entry.schedule} {entry.command}")
    return cron


def cron_remove(*, app: App, cron_id: int, actor) -> None:
    """Removes one of `app`'s schedules added by `paas cron add`; those of app.json go when app.json drops them."""
    cron = CronSchedule.objects.filter(app=app, pk=cron_id).first()
    if cron is None:
        raise NotFound(f"{app.name} has no cron schedule {cron_id}; `paas cron` lists them")
    if cron.source == CronSource.APP_JSON:
        raise Conflict(
            f"cron schedule {cron_id} comes from app.json: remove its entry there, commit and push (git push paas main)"
        )
    with transaction.atomic():
        event_record(app=app, actor=actor, action=EventAction.CRON_REMOVE, detail=f"{cron.schedule} {cron.command}")
        cron.delete()


def cron_list(*, app: App):
    """`app`'s schedules, oldest first, with their last runs."""
    return CronSchedule.objects.filter(app=app).select_related("last_job").order_by("pk")


def app_json_crons(*, app: App, text: str | None) -> list[CronEntry]:
    """The `cron` entries of an app.json's text (none without app.json, or without `cron`), each checked, and
    within PAAS_QUOTA_CRONS with the app's other schedules; a malformed file or entry is refused, naming it."""
    if text is None:
        return []
    try:
        document = json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"app.json is not valid JSON: {error}") from None
    entries = document.get("cron", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InvalidInput(
            'app.json\'s cron is a list of entries: {"cron": [{"command": "python manage.py clearsessions", '
            '"schedule": "*/5 * * * *"}]}'
        )
    crons = [_app_json_entry(number, entry) for number, entry in enumerate(entries, 1)]
    if crons:
        _quota_check(app, CronSchedule.objects.filter(app=app, source=CronSource.CLI).count() + len(crons))
    return crons


def _app_json_entry(number: int, entry) -> CronEntry:
    if not isinstance(entry, dict) or "schedule" not in entry or "command" not in entry:
        raise InvalidInput(
            f'app.json: cron entry {number} is not {{"command": "...", "schedule": "..."}}, '
            'e.g. {"command": "python manage.py clearsessions", "schedule": "*/5 * * * *"}'
        )
    try:
        return cron_entry_checked(entry["schedule"], entry["command"])
    except InvalidInput as error:
        raise InvalidInput(f"app.json: cron entry {number} ({entry['schedule']!r}): {error}") from None


def cron_app_json_sync(*, app: App, entries: list[CronEntry], actor) -> None:
    """Makes `app`'s app.json schedules those of `entries`: unchanged ones are kept with their last run, the others
    removed or added (schedules of `paas cron add` stay). Call it in the transaction that makes the build's release."""
    wanted = list(entries)
    with transaction.atomic():
        for cron in CronSchedule.objects.filter(app=app, source=CronSource.APP_JSON).order_by("pk"):
            entry = CronEntry(cron.schedule, cron.command)
            if entry in wanted:
                wanted.remove(entry)
                continue
            detail = f"app.json: {cron.schedule} {cron.command}"
            event_record(app=app, actor=actor, action=EventAction.CRON_REMOVE, detail=detail)
            cron.delete()
        for entry in wanted:
            _cron_created(app, entry, CronSource.APP_JSON, actor)
        _quota_check(app, CronSchedule.objects.filter(app=app).count())


def crons_run_due(*, now: datetime | None = None) -> int:
    """Starts a run of each schedule that is due by the cron clock (or `now`), each occurrence claimed once whatever
    runs this; returns how many runs it started. One schedule's failure never stops the others."""
    now = now or cron_now()
    due = CronSchedule.objects.filter(next_run_at__lte=now).order_by("next_run_at")
    started = 0
    for cron_id, due_at in list(due.values_list("pk", "next_run_at")[:DUE_PER_PASS]):
        try:
            cron = _cron_claimed(cron_id, due_at, now)
            started += bool(cron and _cron_run(cron, now))
        except Exception:
            log.exception("cron schedule %s could not run; it runs again at its next minute", cron_id)
    return started


def _cron_claimed(cron_id: int, due_at: datetime, now: datetime) -> CronSchedule | None:
    """The schedule, its next run moved past `now` (missed minutes are not made up for), if this caller took it."""
    cron = CronSchedule.objects.select_related("app", "last_job").filter(pk=cron_id).first()
    if cron is None:  # removed meanwhile
        return None
    try:
        next_run_at = cron_next(cron_parse(cron.schedule), now) or now + timedelta(days=1)
    except InvalidInput:  # a schedule the rules no longer accept: it waits, and does not come back every pass
        next_run_at = now + timedelta(days=1)
    claimed = CronSchedule.objects.filter(pk=cron_id, next_run_at=due_at).update(next_run_at=next_run_at)
    return cron if claimed else None


def _cron_run(cron: CronSchedule, now: datetime) -> bool:
    """Starts the schedule's run, unless its last one is still going or it cannot start; the app's log says which."""
    from scheduler.runs import RunStart, run_start  # imported here: the build pipeline imports this module

    what = f"cron {cron.pk} ({cron.schedule})"
    last = cron.last_job
    if last is not None and last.state != JobState.STOPPED:
        app_log_event(cron.app.name, "cron", f"{what} skipped: the previous run ({last.name}) is still going")
        return False
    try:
        job, _ = run_start(app=cron.app, actor=None, start=RunStart(cron.command, attached=False))
    except PaasError as error:
        app_log_event(cron.app.name, "cron", f"{what} skipped: {error}")
        return False
    CronSchedule.objects.filter(pk=cron.pk).update(last_run_at=now, last_job=job)
    app_log_event(cron.app.name, "cron", f"{job.name} started by {what}")
    return True
