"""Celery tasks of add-ons: thin, by id."""

from celery import shared_task

from addons.services import PROVISION_TASK, addon_provision


@shared_task(name=PROVISION_TASK, acks_late=True)
def addon_provision_task(addon_id: int) -> None:
    """Makes one add-on's server (it may build the add-on image first), then sets its URL in its app's config."""
    addon_provision(addon_id)
