"""The console's read-only pages for jobs; the scheduler makes and stops them to match each formation."""

from django.contrib import admin

from paas.admin import AppScopedAdmin
from scheduler.models import CronSchedule, Job


@admin.register(Job)
class JobAdmin(AppScopedAdmin):
    """Jobs: one container each, made by the scheduler, so view only; scale or restart from the app's page."""

    list_display = ["app", "name", "release", "state", "host", "host_port", "restarts", "updated_at"]
    list_filter = ["state", ("app", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["app", "release__app", "host"]
    search_fields = ["app__name", "process_type"]


@admin.register(CronSchedule)
class CronScheduleAdmin(AppScopedAdmin):
    """Cron schedules (`paas cron add`, app.json), view only: each with its last run and exit code, and its next run."""

    list_display = ["app", "schedule", "command", "source", "last_run_at", "last_run", "last_exit_code", "next_run_at"]
    list_filter = ["source", ("app", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["app", "last_job"]
    search_fields = ["app__name", "command"]

    @admin.display(description="last run")
    def last_run(self, cron):
        return cron.last_job.name if cron.last_job else "-"

    @admin.display(description="exit code")
    def last_exit_code(self, cron):
        return cron.last_exit_code
