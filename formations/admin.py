from django.contrib import admin

from formations.models import Formation


@admin.register(Formation)
class FormationAdmin(admin.ModelAdmin):
    list_display = ["app", "release", "counts", "updated_at"]
    readonly_fields = ["app", "release", "counts"]
