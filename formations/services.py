"""Writes on formations: scale, restart, and every change that rolls out a release (deploy, config, rollback)."""

from django.conf import settings
from django.db import transaction

from apps.models import App, EventAction
from apps.services import event_record
from formations.models import Formation
from hosts.services import image_available
from paas.errors import Conflict, InvalidInput, QuotaExceeded
from paas.wakeups import wakeup
from releases.models import Release
from releases.selectors import release_get, release_latest
from releases.services import config_validate_changes, config_validate_size, release_create

# The most replicas of one process type a request may name; PAAS_QUOTA_REPLICAS bounds all of an app's together.
MAX_REPLICAS = 100


def _formation_locked(app: App) -> Formation:
    """`app`'s formation, locked until the transaction ends."""
    return Formation.objects.select_for_update(of=("self",)).select_related("release").get(app=app)


def _validate_counts(formation: Formation, counts: dict) -> None:
    if not counts:
        raise InvalidInput("nothing to scale; say TYPE=N, e.g. web=2")
    known = set(formation.release.processes) if formation.release else set()
    for process_type, count in counts.items():
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REPLICAS:
            raise InvalidInput(f"{process_type}={count!r}: a count is a whole number from 0 to {MAX_REPLICAS}")
        if process_type not in known:
            listed = ", ".join(sorted(known)) or "none yet: push code with a Procfile first"
            raise InvalidInput(f"no process type {process_type!r} in this app; its types are: {listed}")
    _quota_check_replicas(formation, {**formation.counts, **counts})


def _quota_check_replicas(formation: Formation, counts: dict) -> None:
    """Refuses counts that add up, over all of an app's process types, to more than PAAS_QUOTA_REPLICAS."""
    total, limit = sum(counts.values()), settings.PAAS_QUOTA_REPLICAS
    if total > limit:
        shown = " ".join(f"{ptype}={count}" for ptype, count in sorted(counts.items()) if count)
        raise QuotaExceeded(
            f"{shown} is {total} replicas of {formation.app.name}, over the limit of {limit} per app "
            "(PAAS_QUOTA_REPLICAS); scale some process types down"
        )


def formation_scale(*, app: App, counts: dict, actor) -> Formation:
    """Sets how many replicas of each named process type run; types not named keep their count."""
    with transaction.atomic():
        formation = _formation_locked(app)
        _validate_counts(formation, counts)
        formation.counts = {**formation.counts, **counts}
        formation.save()
        shown = " ".join(f"{ptype}={count}" for ptype, count in sorted(counts.items()))
        event_record(app=app, actor=actor, action=EventAction.SCALE, detail=shown)
        transaction.on_commit(lambda: wakeup("scheduler"))
    return formation


def formation_deploy(*, app: App, release: Release, actor) -> Formation:
    """Moves `app`'s formation to `release`; the scheduler then rolls its jobs over.

    On the first deploy of a release with a web process, web is scaled to 1, as Heroku does.
    """
    with transaction.atomic():
        formation = _formation_locked(app)
        first_deploy = formation.release_id is None
        formation.release = release
        counts = {ptype: n for ptype, n in formation.counts.items() if ptype in release.processes}
        if first_deploy and "web" in release.processes and not counts:
            counts["web"] = 1
        formation.counts = counts
        formation.failed_release = None
        formation.failure = ""
        formation.save()
        transaction.on_commit(lambda: wakeup("scheduler"))
    return formation


def formation_roll_back(*, app: App, failed_release: Release, to_release: Release, reason: str) -> Formation:
    """Moves `app`'s formation back from a release that failed to start to the one still serving."""
    with transaction.atomic():
        formation = _formation_locked(app)
        if formation.release_id != failed_release.pk:
            return formation
        formation.release = to_release
        formation.counts = {ptype: n for ptype, n in formation.counts.items() if ptype in to_release.processes}
        formation.failed_release = failed_release
        formation.failure = reason
        formation.save()
        detail = f"v{failed_release.version} failed ({reason}); back to v{to_release.version}"
        event_record(app=app, actor=None, action=EventAction.DEPLOY_FAILED, detail=detail)
        transaction.on_commit(lambda: wakeup("scheduler"))
    return formation


def formation_restart(*, app: App, actor, process_type: str | None = None) -> Formation:
    """Replaces every job of `app` (or of one process type) one by one, as a deploy does."""
    with transaction.atomic():
        formation = _formation_locked(app)
        if formation.release is None:
            raise InvalidInput(f"{app.name} has nothing running to restart; deploy with: git push paas main")
        known = sorted(formation.release.processes)
        if process_type is not None and process_type not in known:
            raise InvalidInput(f"no process type {process_type!r} in this app; its types are: {', '.join(known)}")
        restarted = [process_type] if process_type else known
        for ptype in restarted:
            formation.generations[ptype] = formation.generation(ptype) + 1
        formation.save()
        event_record(app=app, actor=actor, action=EventAction.RESTART, detail=" ".join(restarted))
        transaction.on_commit(lambda: wakeup("scheduler"))
    return formation


def _config_merged(config: dict, changes: dict) -> dict:
    merged = {**config, **{key: value for key, value in changes.items() if value is not None}}
    return {key: value for key, value in merged.items() if changes.get(key, "") is not None}


def _config_description(old: dict, new: dict) -> str:
    set_keys = sorted(key for key in new if old.get(key) != new[key])
    unset_keys = sorted(old.keys() - new.keys())
    parts = [f"Set {', '.join(set_keys)}"] if set_keys else []
    parts += [f"Unset {', '.join(unset_keys)}"] if unset_keys else []
    return "; ".join(parts)


def config_update(*, app: App, changes: dict, actor) -> Release | None:
    """Sets (and, for None values, unsets) config vars in one new release, rolled out like a push.

    Before the first push the release has no artifact; the first build's release carries its config on.
    A change that changes nothing makes no release and returns None.
    """
    config_validate_changes(changes)
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).get()
        latest = release_latest(app=app)
        old = dict(latest.config) if latest else {}
        new = _config_merged(old, changes)
        if new == old:
            return None
        config_validate_size(new)
        release = release_create(
            app=app,
            artifact=latest.artifact if latest else None,
            processes=latest.processes if latest else {},
            config=new,
            actor=actor,
            description=_config_description(old, new),
            action=EventAction.CONFIG,
        )
        if release.artifact_id:
            formation_deploy(app=app, release=release, actor=actor)
    return release


def _rollback_target(app: App, version: int | None) -> Release:
    if version is not None:
        target = release_get(app=app, version=version)
    else:
        latest = release_latest(app=app)
        older = Release.objects.filter(app=app, artifact__isnull=False)
        target = older.filter(version__lt=latest.version).order_by("-version").first() if latest else None
        if target is None:
            raise InvalidInput(f"{app.name} has no earlier release to roll back to")
    if target.artifact is None:
        raise Conflict(f"v{target.version} has no build to run (it only set config); choose another release")
    return target


def release_rollback(*, app: App, actor, version: int | None = None) -> Release:
    """Makes a new release that copies an earlier one's artifact, config and process types, and rolls it out.

    Without a version, it goes back to the release before the newest one, as Heroku does.
    """
    target = _rollback_target(app, version)
    if not image_available(image=target.artifact.image):
        raise Conflict(
            f"v{target.version}'s image {target.artifact.image} is no longer on any host; "
            "roll back to a newer release or push that revision again"
        )
    with transaction.atomic():
        release = release_create(
            app=app,
            artifact=target.artifact,
            processes=target.processes,
            config=target.config,
            actor=actor,
            description=f"Rollback to v{target.version}",
            action=EventAction.ROLLBACK,
        )
        formation_deploy(app=app, release=release, actor=actor)
    return release
