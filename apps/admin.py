from django.contrib import admin

from apps.models import App, Key


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    search_fields = ["name"]

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj else []  # repositories, images and routes are named after it


@admin.register(Key)
class KeyAdmin(admin.ModelAdmin):
    list_display = ["fingerprint", "user", "comment", "created_at"]
