from django.contrib import admin

from artifacts.models import Artifact


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["image", "app", "kind", "slug_size", "created_at"]
    list_filter = ["kind"]

    def has_change_permission(self, request, obj=None):
        return False
