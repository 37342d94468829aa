"""The scheduler loop: a reconcile pass on a timer, and early when desired state changes."""

import contextlib
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from paas.wakeups import wakeup_event, wakeup_listen
from scheduler.lease import lease_hold, lease_holder_name, lease_release
from scheduler.router import router_marks_forget, router_refresh
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
        self.holding = False  # whether this controller holds the scheduler lease, as last seen
        self.crons: threading.Thread | None = None  # the thread starting due cron runs, while it does

    def run(self) -> None:
        wakeup_listen("scheduler")
        threading.Thread(target=self._keep_lease, name="scheduler-lease", daemon=True).start()
        while not self.stopping.is_set():
            self.wakeup.clear()
            interval = self.interval
            close_old_connections()
            if self._lead():
                interval = self._pass(interval)
                self.deliver_hooks()
                self.run_crons()
                self.collect_when_due()
            else:  # another controller runs the scheduler: this one keeps its router current, and takes over later
                self._follow()
                interval = min(interval, settings.PAAS_SCHEDULER_LEASE / 4)
            self.traffic()
            self.wakeup.wait(interval)
        with contextlib.suppress(Exception):
            lease_release(self.holder)
        close_old_connections()

    def _lead(self) -> bool:
        """Whether this controller holds the scheduler lease (taking it when it has lapsed)."""
        held = self.holding
        try:
            self.holding = lease_hold(self.holder)
        except Exception:
            log.exception("could not read the scheduler lease; retrying")
            self.holding = False
        if self.holding and not held:
            router_marks_forget()  # another controller may have marked jobs routed meanwhile
        return self.holding

    def _keep_lease(self) -> None:
        """Renews the lease while this controller holds it, however long a pass takes (an image being made on a
        host, say), so that no other controller starts passes meanwhile; it lapses once this process is gone."""
        while not self.stopping.wait(settings.PAAS_SCHEDULER_LEASE / 3):
            if self.holding:
                try:
                    self.holding = lease_hold(self.holder)
                except Exception:  # noqa: BLE001 - the database away: the loop finds out too
                    log.warning("could not renew the scheduler lease")
                finally:
                    connection.close()  # one short session per renewal: none is left open when the loop stops

    def _pass(self, interval: float) -> float:
        """One reconcile pass; returns how long to wait before the next."""
        try:
            reconcile()
            return min(interval, STARTING_INTERVAL) if jobs_starting() else interval
        except Exception:
            log.exception("reconcile pass failed; retrying")
            return interval

    def deliver_hooks(self) -> None:
        """Hands the deploy hooks' due deliveries to their senders (apps.hooks); a failure never stops the loop."""
        try:
            from apps.hooks import hooks_deliver_due

            hooks_deliver_due()
        except Exception:
            log.exception("could not hand over the hooks' deliveries; trying again on the next pass")

    def run_crons(self) -> None:
        """Starts the cron schedules' runs that are due (scheduler.cron) in a thread of their own, one at a time: a
        run's start (its image made on its host, say) never holds a pass up, and a failure never stops the loop."""
        if self.crons is not None and self.crons.is_alive():
            return
        self.crons = threading.Thread(target=self._crons_start, name="cron", daemon=True)
        self.crons.start()

    def _crons_start(self) -> None:
        try:
            from scheduler.cron import crons_run_due

            crons_run_due()
        except Exception:
            log.exception("could not start the cron schedules' runs; trying again on the next pass")
        finally:
            connection.close()

    def _follow(self) -> None:
        try:
            router_refresh()
        except Exception:
            log.exception("could not refresh the router's routes; retrying")

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
