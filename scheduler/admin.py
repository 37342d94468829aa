from django.contrib import admin

from scheduler.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["app", "name", "release", "state", "host", "host_port", "restarts", "updated_at"]
    list_filter = ["state", "app"]
