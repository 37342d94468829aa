"""The console's read-only pages for builds, with their logs."""

from django.contrib import admin
from django.utils.html import format_html

from buildpacks.models import Build
from paas.admin import AppScopedAdmin


@admin.register(Build)
class BuildAdmin(AppScopedAdmin):
    """Builds, made by git push; append-only, so view only. A build's page shows its whole log."""

    list_display = ["pk", "app", "short_revision", "state", "release", "created_by", "created_at", "duration"]
    list_filter = ["state", ("app", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["app", "release__app", "created_by"]
    fields = ["app", "revision", "state", "error", "release", "created_by", "created_at", "started_at", "finished_at"]
    fields += ["log_text"]
    readonly_fields = ["created_at", "log_text"]

    @admin.display(description="revision", ordering="revision")
    def short_revision(self, build):
        return build.revision[:12]

    @admin.display(description="log")
    def log_text(self, build):
        return format_html('<pre class="build-log">{}</pre>', build.log or "(no output yet)")
