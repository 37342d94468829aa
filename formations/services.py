"""Writes on formations: scale, restart, and every change that rolls out a release (deploy, config, rollback)."""

import os
import re

from django.conf import settings
from django.db import transaction

from addons.volumes import volumes_scale_check
from apps.logs import app_log_event
from apps.models import App, EventAction
from apps.services import event_record
from formations.models import Formation
from hosts.services import image_available
from paas.errors import Conflict, InvalidInput, QuotaExceeded
from paas.wakeups import wakeup
from releases.models import Release
from releases.selectors import release_get, release_latest
from releases.services import PROCESS_TYPE_PATTERN, config_validate_changes, config_validate_size, release_create

# The most replicas of one process type a request may name; PAAS_QUOTA_REPLICAS bounds all of an app's together.
MAX_REPLICAS = 100


def _app_log(app: App, source: str, text: str, actor=None) -> None:
    """Adds a platform event to the app's log once the transaction commits."""
    by = f" by {actor.username}" if getattr(actor, "username", None) else ""
    transaction.on_commit(lambda: app_log_event(app.name, source, f"{text}{by}"))


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
        if process_type == RELEASE_PHASE:
            raise InvalidInput("release runs once per deploy, before the new release starts; it is not scaled")
        if process_type not in known:
            listed = ", ".join(sorted(known - {RELEASE_PHASE})) or "none yet: push code with a Procfile first"
            raise InvalidInput(f"no process type {process_type!r} in this app; its types are: {listed}")
    _quota_check_replicas(formation, {**formation.counts, **counts})
    volumes_scale_check(formation.app, counts)


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
        _app_log(app, "api", f"scaled to {shown}", actor)
        transaction.on_commit(lambda: wakeup("scheduler"))
    return formation


RELEASE_PHASE = "release"  # the Procfile's process type that runs once per deploy, before the release starts


def formation_deploy(*, app: App, release: Release, actor) -> Formation:
    """Moves `app`'s formation to `release`; the scheduler then rolls its jobs over.

    A release with a release phase (a `release:` process type) waits for it: the scheduler runs it once, and
    moves the formation only if it succeeds (`formation_release_phase_ended`). A newer deploy supersedes it.
    """
    with transaction.atomic():
        formation = _formation_locked(app)
        formation.failed_release = None
        formation.failure = ""
        if RELEASE_PHASE in release.processes:
            formation.releasing = release
            formation.save()
            _app_log(app, "deploy", f"v{release.version}: running its release command first", actor)
        else:
            _formation_move(formation, release)
            _app_log(app, "deploy", f"deploying v{release.version}", actor)
        transaction.on_commit(lambda: wakeup("scheduler"))
    return formation


def _formation_move(formation: Formation, release: Release) -> None:
    """Points the (locked) formation at `release`, keeping the counts of the types it has.

    On the first deploy of a release with a web process, web is scaled to 1, as Heroku does.
    """
    first_deploy = formation.release_id is None
    formation.release = release
    formation.releasing = None
    counts = {ptype: n for ptype, n in formation.counts.items() if ptype in release.processes}
    counts.pop(RELEASE_PHASE, None)
    if first_deploy and "web" in release.processes and not counts:
        counts["web"] = 1
    formation.counts = counts
    formation.save()


def formation_release_phase_ended(*, app: App, release: Release, error: str) -> Formation:
    """The release phase of `release` has ended: without an error, the deploy goes on; with one, the release is
    marked failed and the one serving keeps serving. Nothing changes if a newer deploy took over meanwhile."""
    with transaction.atomic():
        formation = _formation_locked(app)
        if formation.releasing_id != release.pk:
            return formation
        if not error:
            _formation_move(formation, release)
            _app_log(app, "deploy", f"v{release.version}: release command succeeded; deploying v{release.version}")
            transaction.on_commit(lambda: wakeup("scheduler"))
            return formation
        formation.releasing = None
        formation.failed_release = release
        formation.failure = f"release command failed: {error}"
        formation.save()
        serving = f"v{formation.release.version} keeps serving" if formation.release else "nothing was serving"
        detail = f"v{release.version} {formation.failure}; {serving}"
        event_record(app=app, actor=None, action=EventAction.RELEASE_PHASE_FAILED, detail=detail)
        _app_log(app, "deploy", detail)
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
        _app_log(app, "deploy", detail)
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
        _app_log(app, "api", f"restarting {' '.join(restarted)}", actor)
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

    Without a version, it goes back to the release before the newest one, as Heroku does. When the target's image
    is on no host any more (the collection removed it: PAAS_KEEP_RELEASES), it is made again from the release's
    slug first, as a new artifact the new release points at; without the slug, a Conflict says so.
    """
    from artifacts.services import artifact_image_restore

    target = _rollback_target(app, version)
    artifact = target.artifact
    if artifact.image_removed_at or not image_available(image=artifact.image):  # marked removed: a new artifact
        artifact = artifact_image_restore(artifact=artifact, version=target.version)
    with transaction.atomic():
        release = release_create(
            app=app,
            artifact=artifact,
            processes=target.processes,
            config=target.config,
            actor=actor,
            description=f"Rollback to v{target.version}",
            action=EventAction.ROLLBACK,
        )
        formation_deploy(app=app, release=release, actor=actor)
    return release


CHECK_PATH_PATTERN = re.compile(r"^/[!-~]{0,199}$")  # a path and query: printable ASCII, no spaces
CHECKED_TYPES = ("web",)  # only web jobs get a port


def _check_validated(process_type: str, check: dict) -> dict:
    if process_type not in CHECKED_TYPES:
        raise InvalidInput(f"{process_type!r} takes no traffic: only web processes get $PORT and a health check")
    path = check.get("path")
    if not isinstance(path, str) or not CHECK_PATH_PATTERN.match(path):
        raise InvalidInput(f"{path!r} is not a path to check: start it with '/', without spaces (e.g. /healthz)")
    timeout, passes = check.get("timeout", 2), check.get("passes", 2)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0.1 <= timeout <= 30:
        raise InvalidInput(f"timeout {timeout!r}: a check's timeout is from 0.1 to 30 seconds")
    if not isinstance(passes, int) or isinstance(passes, bool) or not 1 <= passes <= 10:
        raise InvalidInput(f"passes {passes!r}: a check passes from 1 to 10 times in a row")
    return {"path": path, "timeout": float(timeout), "passes": passes}


def _checks_merged(checks: dict, changes: dict) -> dict:
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput('a checks change is a JSON object such as {"web": {"path": "/healthz"}} (null: back to TCP)')
    merged = dict(checks)
    for process_type, check in changes.items():
        if check is None:
            merged.pop(process_type, None)
        elif isinstance(check, dict):
            merged[process_type] = _check_validated(process_type, check)
        else:
            raise InvalidInput(f"{process_type}: a check is an object with a path, or null")
    return merged


def checks_update(*, app: App, changes: dict, actor) -> Release | None:
    """Sets (or, for None, removes: back to the TCP check) process types' HTTP health checks.

    Kept on the formation and rolled out in a new release, as a config change is; a change that changes
    nothing makes no release and returns None.
    """
    with transaction.atomic():
        App.objects.select_for_update().filter(pk=app.pk).get()  # the app, then the formation: as config_update
        formation = _formation_locked(app)
        checks = _checks_merged(formation.checks, changes)
        if checks == formation.checks:
            return None
        formation.checks = checks
        formation.save()
        latest = release_latest(app=app)
        shown = ", ".join(f"{ptype} {check['path'] if check else 'TCP'}" for ptype, check in sorted(changes.items()))
        release = release_create(
            app=app,
            artifact=latest.artifact if latest else None,
            processes=latest.processes if latest else {},
            checks=checks,
            actor=actor,
            description=f"Health checks: {shown}",
            action=EventAction.CHECKS,
        )
        if release.artifact_id:
            formation_deploy(app=app, release=release, actor=actor)
    return release


MEMORY_PATTERN = re.compile(r"^(\d+)([kmg])$")
MEMORY_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}
MEMORY_RANGE = (4 * 1024**2, 64 * 1024**3)


def memory_bytes(memory: str) -> int:
    """Bytes in a memory size in Docker's units (`512m`, `2g`)."""
    match = MEMORY_PATTERN.match(memory.strip().lower())
    if not match:
        raise InvalidInput(f"memory {memory!r}: a size with a unit, k, m or g (e.g. 512m)")
    return int(match[1]) * MEMORY_UNITS[match[2]]


def _limits_validated(process_type: str, limits: dict, known: set) -> dict:
    if not PROCESS_TYPE_PATTERN.match(process_type):
        raise InvalidInput(f"invalid process type {process_type!r}: use lowercase letters, digits, '-' and '_'")
    if known and process_type not in known:
        raise InvalidInput(f"no process type {process_type!r} in this app; its types are: {', '.join(sorted(known))}")
    unknown = set(limits) - {"memory", "cpus"}
    if unknown or not limits:
        raise InvalidInput(f"{process_type}: limits are memory and cpus (e.g. memory=512m cpus=0.5)")
    validated = {}
    if limits.get("memory") is not None:
        memory = str(limits["memory"]).strip().lower()
        if not MEMORY_RANGE[0] <= memory_bytes(memory) <= MEMORY_RANGE[1]:
            raise InvalidInput(f"memory {memory}: a job's memory is from 4m to 64g")
        validated["memory"] = memory
    cpus = limits.get("cpus")
    if cpus is not None:
        most = os.cpu_count() or 1
        if not isinstance(cpus, int | float) or isinstance(cpus, bool) or not 0.01 <= cpus <= most:
            raise InvalidInput(f"cpus {cpus!r}: from 0.01 to the host's {most} CPUs")
        validated["cpus"] = float(cpus)
    return validated


TAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,29}$")


def constraints_update(*, app: App, changes: dict, actor) -> Formation:
    """Sets (a list of tags) or removes (None) the tags the hosts of process types' jobs must have. The jobs of
    each changed type are replaced one by one, on hosts that have them, as a restart does."""
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput('a constraints change is a JSON object such as {"worker": ["ssd"]}')
    with transaction.atomic():
        formation = _formation_locked(app)
        known = set(formation.release.processes) if formation.release else set()
        constraints = dict(formation.constraints)
        for process_type, tags in changes.items():
            if known and process_type not in known:
                raise InvalidInput(
                    f"no process type {process_type!r} in this app; its types are: {', '.join(sorted(known))}"
                )
            if tags is None or tags == []:
                constraints.pop(process_type, None)
            else:
                constraints[process_type] = _tags_validated(process_type, tags)
        changed = _types_replaced(formation, "constraints", constraints, changes)
        if changed:
            detail = " ".join(f"{ptype}={','.join(constraints.get(ptype, [])) or 'any'}" for ptype in changed)
            event_record(app=app, actor=actor, action=EventAction.CONSTRAINTS, detail=detail)
    return formation


def _types_replaced(formation: Formation, field: str, values: dict, changes: dict) -> list[str]:
    """Sets the formation's per-process-type `field` to `values`. The process types whose entry changed get a new
    restart generation, so that their jobs are replaced one by one; returns them (none: nothing is saved)."""
    before = getattr(formation, field)
    changed = sorted(ptype for ptype in changes if values.get(ptype) != before.get(ptype))
    if changed:
        setattr(formation, field, values)
        for process_type in changed:
            formation.generations[process_type] = formation.generation(process_type) + 1
        formation.save()
        transaction.on_commit(lambda: wakeup("scheduler"))
    return changed


def _tags_validated(process_type: str, tags) -> list[str]:
    if not isinstance(tags, list) or len(tags) > 10 or not all(isinstance(tag, str) and TAG.match(tag) for tag in tags):
        raise InvalidInput(
            f'{process_type}: constraints are a list of up to 10 host tags such as ["ssd"] (lowercase letters, '
            "digits, dots and dashes), or null"
        )
    return sorted(set(tags))


def limits_update(*, app: App, changes: dict, actor) -> Formation:
    """Sets (or, for None, removes: back to the defaults) process types' memory and CPU limits.

    The jobs of each changed process type are replaced one by one with the new limits, as a restart does.
    """
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput('a limits change is a JSON object such as {"web": {"memory": "512m", "cpus": 0.5}}')
    with transaction.atomic():
        formation = _formation_locked(app)
        known = set(formation.release.processes) if formation.release else set()
        limits = dict(formation.limits)
        for process_type, wanted in changes.items():
            if wanted is None:
                limits.pop(process_type, None)
            elif isinstance(wanted, dict):
                limits[process_type] = {
                    **limits.get(process_type, {}),
                    **_limits_validated(process_type, wanted, known),
                }
            else:
                raise InvalidInput(f"{process_type}: limits are an object with memory and cpus, or null")
        changed = _types_replaced(formation, "limits", limits, changes)
        if changed:
            event_record(app=app, actor=actor, action=EventAction.LIMITS, detail=_limits_description(limits, changed))
    return formation


def _limits_description(limits: dict, changed: list) -> str:
    parts = []
    for ptype in changed:
        shown = " ".join(
            f"{key}={value:g}" if key == "cpus" else f"{key}={value}" for key, value in limits.get(ptype, {}).items()
        )
        parts.append(f"{ptype} {shown or 'defaults'}")
    return "; ".join(parts)
