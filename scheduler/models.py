"""Jobs: one running replica of one process type, as one container on one host."""

from django.conf import settings
from django.db import models


class JobState(models.TextChoices):
    PENDING = "pending", "Pending"
    STARTING = "starting", "Starting"
    UP = "up", "Up"
    CRASHED = "crashed", "Crashed"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"


class JobKind(models.TextChoices):
    """What a job is for: a replica of its formation, a one-off run (`paas run`), or a release phase."""

    FORMATION = "formation", "Formation"
    RUN = "run", "One-off run"
    RELEASE = "release", "Release phase"


ONE_OFF_KINDS = (JobKind.RUN, JobKind.RELEASE)
FINAL_STATES = (JobState.STOPPED,)
CRASHES_BEFORE_FAILED = 3
ACTIVE_STATES = (JobState.PENDING, JobState.STARTING, JobState.UP, JobState.CRASHED)


class Job(models.Model):
    """One replica (`web.1`) of one process type of one release, run as a container on a host."""

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="jobs")
    release = models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=10, choices=JobKind.choices, default=JobKind.FORMATION)
    process_type = models.CharField(max_length=30)
    command = models.TextField(blank=True, help_text="A one-off job's command; others run their process type's")
    attached = models.BooleanField(default=False, help_text="A one-off run someone's terminal is attached to")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    output = models.TextField(blank=True, help_text="A release phase's output, as the deployer sees it")
    index = models.PositiveIntegerField()
    generation = models.PositiveIntegerField(default=0, help_text="The formation's restart generation it started in")
    superseded = models.BooleanField(
        default=False, help_text="Another job fills its formation slot now (a deploy, a restart, a drained host)"
    )
    host = models.ForeignKey("hosts.Host", on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    container_id = models.CharField(max_length=80, blank=True)
    host_port = models.PositiveIntegerField(null=True, blank=True)
    private_address = models.CharField(
        max_length=64, blank=True, help_text="ADDRESS:PORT of the job on its host's container network, if known"
    )
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.PENDING)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    restarts = models.PositiveIntegerField(default=0)
    check_passes = models.PositiveIntegerField(default=0, help_text="Health checks passed in a row since it started")
    check_failures = models.PositiveIntegerField(default=0, help_text="Answered health checks failed in a row")
    last_check = models.CharField(max_length=200, blank=True, help_text="The last health check's result")
    crash_streak = models.PositiveIntegerField(default=0)
    restart_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stop_signalled_at = models.DateTimeField(null=True, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True, help_text="When the router began sending it traffic")
    unrouted_at = models.DateTimeField(null=True, blank=True, help_text="When the router stopped sending it traffic")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["app", "process_type", "index", "created_at"]
        indexes = [models.Index(fields=["state"])]
        constraints = [
            # A formation's slot (app, process type, index) has one job filling it, whatever schedulers run; the
            # job it replaces (superseded) may run on until its replacement is up.
            models.UniqueConstraint(
                fields=["app", "process_type", "index"],
                condition=models.Q(
                    kind="formation", superseded=False, state__in=["pending", "starting", "up", "crashed"]
                ),
                name="scheduler_job_one_per_slot",
            )
        ]

    def __str__(self):
        return f"{self.app.name} {self.name}"

    @property
    def name(self) -> str:
        return f"{self.process_type}.{self.index}"


class TrafficMinute(models.Model):
    """The router's traffic to one app's process type in one minute (UTC): requests, 5xx answers, and how long
    they took, as counts per latency bucket (scheduler.traffic.LATENCY_BUCKETS_MS, then one for longer)."""

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="traffic")
    process_type = models.CharField(max_length=30, default="web")
    minute = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="Answers with a 5xx status")
    latency = models.JSONField(default=list, help_text="Requests per latency bucket")

    class Meta:
        ordering = ["minute"]
        constraints = [
            models.UniqueConstraint(fields=["app", "process_type", "minute"], name="scheduler_traffic_minute_unique")
        ]


class SchedulerLease(models.Model):
    """The right to run scheduler passes: one controller at a time holds it, renewing it at each pass; once it lapses
    (its holder died) another controller takes it. `term` counts the hand-overs."""

    name = models.CharField(max_length=30, unique=True)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    term = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name} lease, held by {self.holder or 'nobody'} (term {self.term})"


class CronSource(models.TextChoices):
    """Where a cron schedule comes from: `paas cron add`, or the `cron` entries of the app's app.json."""

    CLI = "cli", "paas cron add"
    APP_JSON = "app.json", "app.json"


class CronSchedule(models.Model):
    """A command of an app run as a one-off job of its current release on a five-field cron schedule, in UTC
    (scheduler.cron). `next_run_at` is claimed by the controller that starts the run; `last_job` is the last run
    it started (its exit code is that job's)."""

    app = models.ForeignKey("apps.App", on_delete=models.CASCADE, related_name="cron_schedules")
    schedule = models.CharField(max_length=100, help_text="Five fields (*/5 * * * *) or an alias (@daily), in UTC")
    command = models.TextField()
    source = models.CharField(max_length=10, choices=CronSource.choices, default=CronSource.CLI)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    next_run_at = models.DateTimeField(help_text="When it runs next, by the cron clock")
    last_run_at = models.DateTimeField(null=True, blank=True, help_text="When it last started a run")
    last_job = models.ForeignKey("scheduler.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["app", "pk"]
        indexes = [models.Index(fields=["next_run_at"])]

    def __str__(self):
        return f"{self.app.name} cron {self.pk}: {self.schedule} {self.command}"

    @property
    def last_exit_code(self) -> int | None:
        """The exit code of the last run, once it has ended."""
        return self.last_job.exit_code if self.last_job else None
