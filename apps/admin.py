"""The console's pages for apps, keys and events.

An app's page shows what it runs, and links to forms that scale, restart, roll back and change config; they,
and creating or destroying an app, call the same services as the API. Events are read-only.
"""

from collections import Counter

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.models import App, Event, HookDelivery, Key
from apps.selectors import app_may_manage, app_url, event_list, key_list
from apps.services import app_create, key_remove
from buildpacks.selectors import build_list
from formations.services import config_update, formation_restart, formation_scale, release_rollback
from paas.admin import ReadOnlyAdmin, ServiceFormAdmin, apps_visible
from paas.admin_forms import ConfigForm, RestartForm, RollbackForm, ScaleForm
from paas.errors import PaasError
from paas.services import app_destroy
from releases.selectors import release_list
from scheduler.models import JobState
from scheduler.selectors import job_list
from scheduler.traffic import traffic_chart

APP_PAGE_ROWS = 20
SUMMARY_FIELDS = ["name", "owner", "url", "current_release", "formation_counts", "job_states", "created_at"]


def counts_text(counts: dict) -> str:
    """A formation's counts as the CLI writes them: `web=2 worker=1`."""
    return " ".join(f"{process_type}={count}" for process_type, count in sorted(counts.items())) or "none"


@admin.register(App)
class AppAdmin(ServiceFormAdmin):
    """Apps: a list of what each runs, and a page per app with its releases, jobs, builds and events.

    Every change (create, destroy, scale, restart, rollback, config) goes through the platform's services.
    """

    change_form_template = "admin/apps/app/change_form.html"
    action_form_template = "admin/apps/app/action_form.html"
    list_display = ["name", "owner", "current_release", "formation_counts", "job_states", "url"]
    list_select_related = ["owner", "formation__release"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return apps_visible(request).select_related("formation__release")

    def get_fields(self, request, obj=None):
        return SUMMARY_FIELDS if obj else ["name"]

    def get_readonly_fields(self, request, obj=None):
        return SUMMARY_FIELDS if obj else []  # repositories, images and routes are named after the app

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.base_fields["name"].required = False
            form.base_fields["name"].help_text = "Leave it empty for a generated name, such as quiet-harbor-4821."
        return form

    @admin.display(description="release")
    def current_release(self, app):
        release = app.formation.release
        if release is None:
            return "not deployed"
        return f"v{release.version}: {release.description}" if release.description else f"v{release.version}"

    @admin.display(description="formation")
    def formation_counts(self, app):
        return counts_text(app.formation.counts)

    @admin.display(description="jobs")
    def job_states(self, app):
        states = Counter(job.state for job in job_list(app=app))
        return ", ".join(f"{states[state]} {state}" for state in JobState.values if states[state]) or "none"

    @admin.display(description="URL")
    def url(self, app):
        return format_html('<a href="{0}">{0}</a>', app_url(app.name))

    def save_model(self, request, obj, form, change):
        if change:
            return  # the page edits nothing in place; its forms call services
        app = app_create(owner=request.user, name=form.cleaned_data.get("name") or None)
        obj.pk, obj.name, obj.owner, obj.created_at = app.pk, app.name, app.owner, app.created_at

    def has_delete_permission(self, request, obj=None):
        """Only an app's owner, or a superuser (the console's staff), may destroy it; collaborators may not."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or app_may_manage(app=obj, user=request.user, staff=request.user.is_superuser))

    def get_deleted_objects(self, objs, request):
        """What destroying the apps removes. app_destroy removes all of it, so only the right to delete apps is
        needed (the apps' owner's, or a superuser's); and a release its own formation protects goes with the
        formation."""
        to_delete, model_count, _, _ = super().get_deleted_objects(objs, request)
        refused = {f"app {app.name} (not yours)" for app in objs if not self.has_delete_permission(request, app)}
        return to_delete, model_count, refused, []

    def delete_model(self, request, obj):
        app_destroy(app=obj, actor=request.user, confirm=obj.name)

    def delete_queryset(self, request, queryset):
        for app in queryset:
            app_destroy(app=app, actor=request.user, confirm=app.name)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        app = self.get_object(request, unquote(object_id))
        context = self._app_page_context(request, app) if app else {}
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

    def _app_page_context(self, request, app) -> dict:
        return {
            "title": app.name,
            "subtitle": None,
            "jobs": job_list(app=app),
            "releases": release_list(app=app)[:APP_PAGE_ROWS],
            "traffic": traffic_chart(app=app),
            "builds": build_list(app=app)[:APP_PAGE_ROWS],
            "events": event_list(user=request.user, app=app, limit=APP_PAGE_ROWS),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }

    def get_urls(self):
        actions = {"scale": self.scale_view, "restart": self.restart_view, "rollback": self.rollback_view}
        actions["config"] = self.config_view
        info = self.opts.app_label, self.opts.model_name
        urls = [
            path(f"<path:object_id>/{name}/", self.admin_site.admin_view(view), name="{}_{}_{}".format(*info, name))
            for name, view in actions.items()
        ]
        return urls + super().get_urls()

    def scale_view(self, request, object_id):
        return self._action_view(request, object_id, "Scale", ScaleForm, self._scale)

    def restart_view(self, request, object_id):
        return self._action_view(request, object_id, "Restart", RestartForm, self._restart)

    def rollback_view(self, request, object_id):
        return self._action_view(request, object_id, "Roll back", RollbackForm, self._rollback)

    def config_view(self, request, object_id):
        return self._action_view(request, object_id, "Change config", ConfigForm, self._config)

    def _action_view(self, request, object_id, action: str, form_class, perform):
        """A form page that changes the app through one service; a refusal is shown above the form."""
        app = self.get_object(request, unquote(object_id))
        if app is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, app):
            raise PermissionDenied
        form = form_class(request.POST if request.method == "POST" else None, app=app)
        if form.is_bound and form.is_valid():
            try:
                level, message = perform(request, app, form)
            except PaasError as error:
                messages.error(request, str(error))
            else:
                messages.add_message(request, level, message)
                self.log_change(request, app, message)  # the app's History, beside its events
                return redirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[app.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "app": app, "form": form}
        context.update(title=f"{action} {app.name}", action=action)
        return TemplateResponse(request, self.action_form_template, context)

    def _scale(self, request, app, form):
        formation = formation_scale(app=app, counts=form.counts(), actor=request.user)
        return messages.SUCCESS, f"Scaled {app.name}: {counts_text(formation.counts)}."

    def _restart(self, request, app, form):
        process_type = form.cleaned_data["process_type"] or None
        formation_restart(app=app, actor=request.user, process_type=process_type)
        return messages.SUCCESS, f"Restarting {process_type or 'every process type'} of {app.name}, one job at a time."

    def _rollback(self, request, app, form):
        release = release_rollback(app=app, actor=request.user, version=form.cleaned_data["version"])
        return messages.SUCCESS, f"Released v{release.version} of {app.name}: {release.description}."

    def _config(self, request, app, form):
        release = config_update(app=app, changes=form.changes(), actor=request.user)
        if release is None:
            return messages.INFO, f"Nothing changed: {app.name}'s config already has those values."
        return messages.SUCCESS, f"Released v{release.version} of {app.name}: {release.description}."


@admin.register(Key)
class KeyAdmin(ServiceFormAdmin):
    """SSH keys for git push: listed and removed here; staff who are not superusers see theirs.

    A key is added only with `paas keys add`, which proves that its user holds the private key; a console form
    cannot, and a key added without that proof could lock its real owner out of git.
    """

    list_display = ["fingerprint", "user", "comment", "created_at"]
    readonly_fields = ["fingerprint", "user", "comment", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request) if request.user.is_superuser else key_list(user=request.user)

    def get_fields(self, request, obj=None):
        return ["fingerprint", "user", "comment", "public_key", "created_at"] if obj else ["public_key"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        key_remove(user=obj.user, fingerprint=obj.fingerprint)

    def delete_queryset(self, request, queryset):
        for key in queryset:
            key_remove(user=key.user, fingerprint=key.fingerprint)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The audit log: who did what to which app, when; staff who are not superusers see their apps' and their own."""

    list_display = ["created_at", "app_name", "action", "actor", "detail"]
    list_filter = ["action"]
    search_fields = ["app_name", "detail"]
    list_select_related = ["actor"]

    def get_queryset(self, request):
        events = super().get_queryset(request)
        if request.user.is_superuser:
            return events
        return events.filter(Q(app__in=apps_visible(request)) | Q(app__isnull=True, actor=request.user))


@admin.register(HookDelivery)
class HookDeliveryAdmin(ReadOnlyAdmin):
    """What was sent to the apps' deploy hooks (`paas hooks add`), and what the receivers answered; a hook's secret
    is never shown."""

    list_display = ["created_at", "app_name", "url", "event", "state", "attempts", "status_code", "error"]
    list_filter = ["event", "state"]
    list_select_related = ["hook__app"]
    exclude = ["hook"]

    @admin.display(description="app")
    def app_name(self, delivery):
        return delivery.hook.app.name

    @admin.display(description="URL")
    def url(self, delivery):
        return delivery.hook.url

    def get_queryset(self, request):
        return super().get_queryset(request).filter(hook__app__in=apps_visible(request))
