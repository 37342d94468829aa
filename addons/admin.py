"""The console's pages for add-ons, their backups and volumes: view only (the CLI and the API change them, through
the services that make, back up and remove what the hosts hold). Passwords are never shown."""

from django.contrib import admin

from addons.models import Addon, AddonBackup, Volume
from paas.admin import AppScopedAdmin, ReadOnlyAdmin, apps_visible


@admin.register(Addon)
class AddonAdmin(AppScopedAdmin):
    """Add-ons (`paas addons create`): each app's PostgreSQL and Redis servers, where they run, and their state."""

    list_display = ["app", "name", "kind", "config_var", "state", "host", "created_at"]
    list_filter = ["kind", "state", ("app", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["app", "host"]
    search_fields = ["app__name", "name"]
    exclude = ["password"]


@admin.register(AddonBackup)
class AddonBackupAdmin(ReadOnlyAdmin):
    """Backups of add-ons (`paas addons backup`): their size and when they were taken."""

    list_display = ["addon", "number", "size", "created_at", "created_by"]
    list_select_related = ["addon__app", "created_by"]

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        return rows if request.user.is_superuser else rows.filter(addon__app__in=apps_visible(request))


@admin.register(Volume)
class VolumeAdmin(AppScopedAdmin):
    """Volumes (`paas volumes create`): where each is mounted, for which process type, and on which host."""

    list_display = ["app", "name", "path", "process_type", "shared", "host", "created_at"]
    list_filter = [("app", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["app", "host"]
    search_fields = ["app__name", "name"]
