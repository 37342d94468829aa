from django.contrib import admin

from releases.models import Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["app", "version", "description", "created_by", "created_at"]
    list_filter = ["app"]

    def has_change_permission(self, request, obj=None):
        return False
