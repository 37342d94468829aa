"""Reads on apps, their collaborators, keys, users and API tokens."""

import hmac

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

from apps.models import TOKEN_PREFIX_LENGTH, ApiToken, App, Collaborator, Event, Key, token_key_hash
from paas.errors import Forbidden, NotFound


def _sees_every_app(user, staff: bool | None) -> bool:
    return bool(user.is_staff if staff is None else staff)


def app_list(*, user, staff: bool | None = None):
    """The apps `user` may see and change: those they own or collaborate on; staff see every app.

    `staff` says who counts as staff, `user.is_staff` unless given: the console, which every user reaches as
    Django staff, passes `is_superuser`.
    """
    apps = App.objects.select_related("owner")
    if _sees_every_app(user, staff):
        return apps
    return apps.filter(Q(owner=user) | Q(pk__in=Collaborator.objects.filter(user=user).values("app_id")))


def app_get(*, user, name: str, staff: bool | None = None) -> App:
    """The app called `name`, if `user` may see it; any other is "not found", so that names do not leak."""
    app = app_list(user=user, staff=staff).filter(name=name).first()
    if app is None:
        raise NotFound(f"app {name!r} not found; `paas apps` lists yours")
    return app


def app_may_manage(*, app: App, user, staff: bool | None = None) -> bool:
    """Whether `user` may destroy `app` and change who has access to it: its owner and staff may."""
    return app.owner_id == user.pk or _sees_every_app(user, staff)


def access_list(*, app: App) -> list[dict]:
    """Who may see and change `app`: its owner first, then its collaborators in the order they were added."""
    rows = [{"user": app.owner.username, "role": "owner", "since": app.created_at}]
    for collaborator in Collaborator.objects.filter(app=app).select_related("user"):
        rows.append({"user": collaborator.user.username, "role": "collaborator", "since": collaborator.created_at})
    return rows


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


def token_list(*, user):
    """`user`'s API tokens, oldest first (their keys are not stored, so not shown)."""
    return ApiToken.objects.filter(user=user)


def token_find(*, key: str) -> ApiToken | None:
    """The API token whose key is `key` (hashes compared in constant time), expired or not; None if none is."""
    digest = token_key_hash(key)
    for token in ApiToken.objects.filter(key_prefix=key[:TOKEN_PREFIX_LENGTH]).select_related("user"):
        if hmac.compare_digest(token.key_hash, digest):
            return token
    return None


def user_list(*, user):
    """Every user, for staff; anyone else is refused."""
    if not user.is_staff:
        raise Forbidden("only staff may list users")
    return get_user_model().objects.order_by("username")


def user_get(*, user_id: int):
    """An active user by id."""
    return get_user_model().objects.get(pk=user_id, is_active=True)


def app_url(app_name: str) -> str:
    """Where the router serves an app's web process."""
    port = "" if settings.PAAS_ROUTER_PORT == 80 else f":{settings.PAAS_ROUTER_PORT}"
    return f"http://{app_name}.{settings.PAAS_DOMAIN}{port}/"
