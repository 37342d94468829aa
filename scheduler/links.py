"""Links between apps: an app's jobs reach their own app's jobs by internal name (`web.APP.internal`), and another
app's only once someone who may change both links them.

A link puts the app's jobs on the other app's network as well, where that app's names resolve. Its running jobs
are replaced one by one (a restart) so that they join, or leave, the other app's network.
"""

from django.db import transaction

from apps.models import App, AppLink, EventAction
from apps.selectors import app_get
from apps.services import event_record
from formations.models import Formation
from formations.services import formation_restart
from paas.errors import Conflict, InvalidInput, NotFound


def links_list(*, app: App) -> dict[str, list[str]]:
    """The apps `app` reaches, and those that reach it, by name."""
    return {
        "reaches": list(AppLink.objects.filter(app=app).values_list("target__name", flat=True)),
        "reached_by": list(
            AppLink.objects.filter(target=app).order_by("app__name").values_list("app__name", flat=True)
        ),
    }


def link_add(*, app: App, target_name: str, actor) -> AppLink:
    """Lets `app`'s jobs reach `target_name`'s, which `actor` must be allowed to change as well."""
    target = app_get(user=actor, name=target_name)
    if target.pk == app.pk:
        raise InvalidInput(f"{app.name} always reaches its own jobs; link it to another app")
    with transaction.atomic():
        link, created = AppLink.objects.get_or_create(app=app, target=target, defaults={"created_by": actor})
        if not created:
            raise Conflict(f"{app.name} already reaches {target.name}")
        event_record(app=app, actor=actor, action=EventAction.LINK_ADD, detail=f"reaches {target.name}")
    _jobs_rejoin(app, actor)
    return link


def link_remove(*, app: App, target_name: str, actor) -> None:
    """Stops `app`'s jobs reaching `target_name`'s."""
    link = AppLink.objects.filter(app=app, target__name=target_name).first()
    if link is None:
        raise NotFound(f"{app.name} has no link to {target_name!r}; `paas links -a {app.name}` lists its links")
    with transaction.atomic():
        link.delete()
        event_record(app=app, actor=actor, action=EventAction.LINK_REMOVE, detail=f"no longer reaches {target_name}")
    _jobs_rejoin(app, actor)


def _jobs_rejoin(app: App, actor) -> None:
    """Replaces the app's running jobs, one by one, with jobs on the networks its links now name."""
    if Formation.objects.filter(app=app, release__isnull=False).exists():
        formation_restart(app=app, actor=actor)
