"""Reads on releases, and what changed between two of them."""

from paas.errors import NotFound
from releases.models import Release

MASK = "(hidden; --show-values shows it)"


def release_list(*, app):
    """`app`'s releases, newest first."""
    return Release.objects.filter(app=app).select_related("artifact", "created_by").order_by("-version")


def release_latest(*, app):
    """`app`'s newest release, or None."""
    return release_list(app=app).first()


def release_get(*, app, version: int) -> Release:
    """`app`'s release number `version`."""
    in_range = 0 < version < 2**31
    release = release_list(app=app).filter(version=version).first() if in_range else None
    if release is None:
        raise NotFound(f"{app.name} has no release v{version}; `paas releases` lists them")
    return release


def config_current(*, app) -> dict:
    """The config `app`'s next release starts from: its newest release's."""
    latest = release_latest(app=app)
    return dict(latest.config) if latest else {}


def _dict_diff(old: dict, new: dict, shown) -> dict:
    """Keys added, removed and changed between two mappings; values pass through `shown`."""
    return {
        "added": {key: shown(new[key]) for key in sorted(new.keys() - old.keys())},
        "removed": {key: shown(old[key]) for key in sorted(old.keys() - new.keys())},
        "changed": {
            key: {"from": shown(old[key]), "to": shown(new[key])}
            for key in sorted(old.keys() & new.keys())
            if old[key] != new[key]
        },
    }


def _release_summary(release: Release) -> dict:
    artifact = release.artifact
    return {
        "version": release.version,
        "description": release.description,
        "revision": artifact.revision if artifact else "",
        "image": artifact.image if artifact else "",
        "created_at": release.created_at,
    }


def release_diff(*, app, from_version: int, to_version: int, show_values: bool = False) -> dict:
    """What changed from one release to another: source, image, config keys and process types."""
    old = release_get(app=app, version=from_version)
    new = release_get(app=app, version=to_version)
    config_shown = (lambda value: value) if show_values else (lambda value: MASK)
    return {
        "from": _release_summary(old),
        "to": _release_summary(new),
        "source_changed": _release_summary(old)["revision"] != _release_summary(new)["revision"],
        "image_changed": (old.artifact_id and old.artifact.image) != (new.artifact_id and new.artifact.image),
        "config": _dict_diff(old.config, new.config, config_shown),
        "processes": _dict_diff(old.processes, new.processes, lambda command: command),
    }
