"""The console's read-only pages for releases; an app's page rolls back and changes config through services."""

from django.contrib import admin

from paas.admin import AppScopedAdmin
from releases.models import Release


@admin.register(Release)
class ReleaseAdmin(AppScopedAdmin):
    """Releases: immutable, so view only; every change to an app makes a new one."""

    list_display = ["app", "version", "description", "created_by", "created_at"]
    list_filter = [("app", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["app", "created_by"]
    fields = ["app", "version", "description", "artifact", "processes", "config", "created_by", "created_at"]
    readonly_fields = ["created_at"]
