"""How long one reconcile pass takes as the number of running jobs grows, and the share of a core an idle
control plane spends on passes (one every 2 s, nothing to change).

Uses the in-memory host driver and router (a scale simulation: no Docker), on a throwaway SQLite
database in WAL mode. Prints the median pass time for each size and its ratio to the one-job
baseline measured in the same run, so the numbers compare across machines and noisy neighbours.

    make bench
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

SIZES = (1, 10, 50, 200, 500)
INTERVAL = 2.0  # seconds between passes of an idle control plane (PAAS_SCHEDULER_INTERVAL)
IDLE_GOAL = 0.02  # of one core, at 500 jobs
PASSES = 7
JOBS_PER_APP = 5


def setup_django() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.update(
        PAAS_DATA_DIR=tempfile.mkdtemp(prefix="paas-bench-"),
        PAAS_HOST_DRIVER="memory",
        PAAS_ROUTER="memory",
        PAAS_LOG_LEVEL="WARNING",
        PAAS_QUOTA_APPS="1000",  # one owner, a hundred apps of five jobs
        DJANGO_SETTINGS_MODULE="paas.settings",
    )
    from paas.datadir import data_dir_prepare

    data_dir_prepare()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def grow_to(jobs: int, owner) -> None:
    """Adds apps until `jobs` web jobs are wanted, then lets the scheduler converge."""
    from apps.models import App
    from apps.services import app_create
    from artifacts.services import artifact_create
    from formations.services import formation_deploy, formation_scale
    from releases.services import release_create
    from scheduler.models import Job
    from scheduler.services import reconcile

    while Job.objects.count() < jobs:
        app = app_create(owner=owner, name=f"bench-{App.objects.count() + 1}")
        artifact = artifact_create(app=app, image="bench:1", image_id="sha256:" + "0" * 64)
        release = release_create(app=app, artifact=artifact, processes={"web": "serve"}, actor=owner)
        formation_deploy(app=app, release=release, actor=owner)
        formation_scale(app=app, counts={"web": min(JOBS_PER_APP, jobs - Job.objects.count())}, actor=owner)
        reconcile()
    for _ in range(3):
        reconcile()


def median_pass_seconds() -> float:
    from scheduler.services import reconcile

    timings = []
    for _ in range(PASSES):
        started = time.perf_counter()
        reconcile()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    setup_django()
    from django.contrib.auth import get_user_model

    from hosts.services import host_register_local

    host_register_local()
    owner = get_user_model().objects.create(username="bench")
    baseline = None
    print(f"{'jobs':>6}  {'median pass':>12}  {'ratio to 1 job':>14}  {'idle core share':>15}")
    for size in SIZES:
        grow_to(size, owner)
        seconds = median_pass_seconds()
        baseline = baseline or seconds
        share = seconds / INTERVAL  # one pass every INTERVAL, nothing to change
        print(f"{size:>6}  {seconds * 1000:>9.1f} ms  {seconds / baseline:>13.1f}x  {share:>14.1%}")
    print(f"goal: at most {IDLE_GOAL:.0%} of a core at {SIZES[-1]} jobs, a pass every {INTERVAL:g} s")


if __name__ == "__main__":
    main()
