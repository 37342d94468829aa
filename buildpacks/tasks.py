"""Celery tasks of the build pipeline: thin, idempotent, by id."""

from celery import shared_task

from buildpacks.models import FINAL_STATES, Build
from buildpacks.pipeline import build_execute
from buildpacks.services import BUILD_TASK, build_start


@shared_task(bind=True, name=BUILD_TASK, acks_late=True, max_retries=None)
def build_run(self, build_id: int) -> None:
    """Runs one build; one build per app at a time, later ones wait their turn."""
    build = Build.objects.select_related("app", "created_by").get(pk=build_id)
    if build.state in FINAL_STATES:
        return
    if not build_start(build=build):
        raise self.retry(countdown=2)
    build_execute(build)
