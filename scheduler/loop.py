"""The scheduler loop: a reconcile pass on a timer, and early when desired state changes."""

import contextlib
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from paas.wakeups import wakeup_event, wakeup_listen
from scheduler.lease import lease_hold, lease_holder_name, lease_release
from scheduler.selectors import jobs_starting
from scheduler.services import reconcile

log = logging.getLogger("paas.scheduler")
STARTING_INTERVAL = 0.1  # seconds between passes while a job is starting: it takes traffic soon after it is up


class SchedulerLoop(threading.Thread):
    """Runs reconcile passes until stopped."""

    def __init__(self, interval: float | None = None):
        super().__init__(name="scheduler", daemon=True)
        self.interval = interval or settings.PAAS_SCHEDULER_INTERVAL
        self.stopping = threading.Event()
        self.wakeup = wakeup_event("scheduler")
        self.collected_at: float | None = None  # monotonic time of the last collection; None: none yet
        self.holder = lease_holder_name()

    def run(self) -> None:
        wakeup_listen("scheduler")
        while not self.stopping.is_set():
            self.wakeup.clear()
            interval = self.interval
            try:
                close_old_connections()
                if not lease_hold(self.holder):  # another controller runs the scheduler; take over once it lapses
                    self.wakeup.wait(min(interval, settings.PAAS_SCHEDULER_LEASE / 4))
                    continue
                reconcile()
                interval = min(interval, STARTING_INTERVAL) if jobs_starting() else interval
            except Exception:
                log.exception("reconcile pass failed; retrying")
            self.traffic()
            self.collect_when_due()
            self.wakeup.wait(interval)
        with contextlib.suppress(Exception):
            lease_release(self.holder)
        close_old_connections()

    def traffic(self) -> None:
        """Takes in the router's new access lines (scheduler.traffic); a failure never stops the loop."""
        if settings.PAAS_ROUTER != "caddy":
            return
        try:
            from scheduler.traffic import traffic_collect

            traffic_collect()
        except Exception:
            log.exception("could not read the router's access log; trying again on the next pass")

    def collect_when_due(self) -> None:
        """Runs the collection (artifacts.collect) after the first pass, then every PAAS_COLLECT_INTERVAL seconds.
        It never breaks a pass: a collection that fails is logged, and tried again at the next interval."""
        now = time.monotonic()
        if self.collected_at is not None and now - self.collected_at < settings.PAAS_COLLECT_INTERVAL:
            return
        self.collected_at = now
        try:
            from artifacts.collect import garbage_collect
            from scheduler.traffic import traffic_prune

            garbage_collect()
            traffic_prune()
        except Exception:
            log.exception("collection failed; trying again in %.0fs", settings.PAAS_COLLECT_INTERVAL)

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()
        self.join(timeout=30)
