"""The Celery application: builds and host control run as tasks on it."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.settings")

app = Celery("paas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def worker_options(*, queue: str, concurrency: int, hostname: str) -> dict:
    """How the platform's Celery workers run (the build worker of `paas up`, `paas builder`, `paas agent`): one
    queue, a pool of threads, and none of Celery's worker-to-worker chatter, which nothing here uses."""
    return {
        "queues": [queue],
        "pool_cls": "threads",
        "concurrency": concurrency,
        "hostname": hostname,
        "without_gossip": True,
        "without_mingle": True,
        "without_heartbeat": True,
        "loglevel": "WARNING",
    }
