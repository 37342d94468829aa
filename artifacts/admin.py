"""The console's read-only pages for artifacts: the runnable images releases are made of."""

from django.contrib import admin

from artifacts.models import Artifact
from paas.admin import AppScopedAdmin


@admin.register(Artifact)
class ArtifactAdmin(AppScopedAdmin):
    """Artifacts, made by builds and `paas deploy-image`; immutable, so view only."""

    list_display = ["image", "app", "kind", "revision", "slug_size", "created_at"]
    list_filter = ["kind", ("app", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["app"]
    search_fields = ["image", "revision", "app__name"]
