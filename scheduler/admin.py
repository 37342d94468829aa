"""The console's read-only pages for jobs; the scheduler makes and stops them to match each formation."""

from django.contrib import admin

from paas.admin import AppScopedAdmin
from scheduler.models import Job


@admin.register(Job)
class JobAdmin(AppScopedAdmin):
    """Jobs: one container each, made by the scheduler, so view only; scale or restart from the app's page."""

    list_display = ["app", "name", "release", "state", "host", "host_port", "restarts", "updated_at"]
    list_filter = ["state", ("app", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["app", "release__app", "host"]
    search_fields = ["app__name", "process_type"]
