"""Reads on builds."""

from buildpacks.models import Build
from paas.errors import NotFound


def build_list(*, app):
    """`app`'s builds, newest first, without their logs."""
    return Build.objects.filter(app=app).select_related("release", "created_by").defer("log")


def build_get(*, app, build_id: int) -> Build:
    """One of `app`'s builds, with its log."""
    builds = Build.objects.filter(app=app, pk=build_id) if 0 < build_id < 2**63 else Build.objects.none()
    build = builds.select_related("release", "created_by").first()
    if build is None:
        raise NotFound(f"no build {build_id} in app {app.name}; `paas builds` lists them")
    return build
