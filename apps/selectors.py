"""Reads on apps and keys."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

from apps.models import App, Event, Key
from paas.errors import NotFound


def app_list(*, user):
    """The apps `user` may see."""
    return App.objects.filter(owner=user).select_related("owner")


def app_get(*, user, name: str) -> App:
    """The app called `name`, if `user` may see it."""
    app = app_list(user=user).filter(name=name).first()
    if app is None:
        raise NotFound(f"app {name!r} not found; `paas apps` lists yours")
    return app


def event_list(*, user, app: App | None = None, limit: int = 500):
    """Audit events, newest first: one app's, or all that `user` may see (staff: the whole platform's)."""
    events = Event.objects.select_related("actor")
    if app is not None:
        events = events.filter(app=app)
    elif not user.is_staff:
        events = events.filter(Q(app__in=app_list(user=user)) | Q(app__isnull=True, actor=user))
    return events[:limit]


def key_list(*, user):
    """`user`'s SSH keys."""
    return Key.objects.filter(user=user)


def key_user(*, fingerprint: str):
    """The user who registered the key with this fingerprint, or None."""
    key = Key.objects.filter(fingerprint=fingerprint).select_related("user").first()
    if key is None or not key.user.is_active:
        return None
    return key.user


def user_get(*, user_id: int):
    """An active user by id."""
    return get_user_model().objects.get(pk=user_id, is_active=True)


def app_url(app_name: str) -> str:
    """Where the router serves an app's web process."""
    port = "" if settings.PAAS_ROUTER_PORT == 80 else f":{settings.PAAS_ROUTER_PORT}"
    return f"http://{app_name}.{settings.PAAS_DOMAIN}{port}/"
