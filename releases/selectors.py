"""Reads on releases."""

from releases.models import Release


def release_list(*, app):
    """`app`'s releases, newest first."""
    return Release.objects.filter(app=app).select_related("artifact", "created_by").order_by("-version")


def release_latest(*, app):
    """`app`'s newest release, or None."""
    return release_list(app=app).first()
