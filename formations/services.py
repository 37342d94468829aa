"""Writes on formations: scale, and deploy (moving a formation to a new release)."""

from django.db import transaction

from apps.models import App
from formations.models import Formation
from paas.errors import InvalidInput
from paas.wakeups import wakeup

MAX_REPLICAS = 100


def formation_get(*, app: App) -> Formation:
    """`app`'s formation, made empty on first use."""
    formation, _ = Formation.objects.get_or_create(app=app)
    return formation


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


def formation_scale(*, app: App, counts: dict, actor) -> Formation:
    """Sets how many replicas of each named process type run; types not named keep their count."""
    with transaction.atomic():
        formation = Formation.objects.select_for_update().filter(pk=formation_get(app=app).pk).get()
        _validate_counts(formation, counts)
        formation.counts = {**formation.counts, **counts}
        formation.save()
        transaction.on_commit(lambda: wakeup("scheduler"))
    return formation


def formation_deploy(*, app: App, release, actor) -> Formation:
    """Moves `app`'s formation to `release`; the scheduler then rolls its jobs over.

    On the first deploy of a release with a web process, web is scaled to 1, as Heroku does.
    """
    with transaction.atomic():
        formation = Formation.objects.select_for_update().filter(pk=formation_get(app=app).pk).get()
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


def formation_roll_back(*, app: App, failed_release, to_release, reason: str) -> Formation:
    """Moves `app`'s formation back from a release that failed to start to the one still serving."""
    with transaction.atomic():
        formation = Formation.objects.select_for_update().filter(pk=formation_get(app=app).pk).get()
        if formation.release_id != failed_release.pk:
            return formation
        formation.release = to_release
        formation.counts = {ptype: n for ptype, n in formation.counts.items() if ptype in to_release.processes}
        formation.failed_release = failed_release
        formation.failure = reason
        formation.save()
        transaction.on_commit(lambda: wakeup("scheduler"))
    return formation
