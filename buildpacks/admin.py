from django.contrib import admin

from buildpacks.models import Build


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = ["pk", "app", "revision", "state", "release", "created_at", "finished_at"]
    list_filter = ["state", "app"]
    readonly_fields = ["app", "revision", "source_digest", "state", "log", "error", "release", "created_by"]
