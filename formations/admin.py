"""The console's read-only pages for formations; an app's page scales and restarts it through the services."""

from django.contrib import admin

from formations.models import Formation
from paas.admin import AppScopedAdmin


@admin.register(Formation)
class FormationAdmin(AppScopedAdmin):
    """Formations: which release each app runs and how many of each process type; changed from the app's page."""

    list_display = ["app", "release", "counts", "failed_release", "updated_at"]
    list_select_related = ["app", "release__app", "failed_release__app"]
    search_fields = ["app__name"]
