"""Building blocks of the console's model admins (this module is imported by them, not autodiscovered)."""

from django.contrib import admin, messages
from django.shortcuts import redirect

from apps.selectors import app_list
from paas.errors import PaasError


def apps_visible(request):
    """The apps the console shows `request.user`, by the API's rule (apps.selectors.app_list): those they own or
    collaborate on. Every console user is Django staff (that is how they log in), so the console's staff, who
    see every app, are its superusers."""
    return app_list(user=request.user, staff=request.user.is_superuser)


class ConsoleAdmin(admin.ModelAdmin):
    """A console page for one kind of object; its list is titled with what it lists ("Apps", not "Select app")."""

    def changelist_view(self, request, extra_context=None):
        title = {"title": self.opts.verbose_name_plural.capitalize()}
        return super().changelist_view(request, {**title, **(extra_context or {})})


class ReadOnlyAdmin(ConsoleAdmin):
    """An admin for objects the platform makes: they are viewed here, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AppScopedAdmin(ReadOnlyAdmin):
    """A read-only admin for rows that belong to an app: staff who are not superusers see their apps' only."""

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        return rows.filter(app__in=apps_visible(request))


class ServiceFormAdmin(ConsoleAdmin):
    """An admin whose add form calls a service: when the service refuses (a PaasError), nothing is saved and
    the form page shows its message."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PaasError as error:  # raised inside the admin's transaction, which is rolled back
            messages.error(request, str(error))
            return redirect(request.get_full_path())
