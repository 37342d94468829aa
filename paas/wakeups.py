"""Wake-ups: a service that changes desired state nudges the loop that converges it.

Within a process, an event per loop. In a cluster (a Redis broker), a wake-up is also published on Redis, and the
loops of every process listen: a build that ends on a builder, or a scale on one controller, wakes the scheduler
of whichever controller runs it. Loops are level-triggered and also run on a timer, so a lost wake-up only delays
convergence.
"""

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger("paas.wakeups")
_events: dict[str, threading.Event] = {}
_lock = threading.Lock()
_CHANNEL = "paas:wakeup:"


def wakeup_event(name: str) -> threading.Event:
    """The event a loop called `name` waits on."""
    with _lock:
        return _events.setdefault(name, threading.Event())


def _shared() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def wakeup(name: str) -> None:
    """Wakes the loop called `name` early, in this process and, in a cluster, in the others."""
    wakeup_event(name).set()
    if _shared():
        try:
            from hosts.rpc import redis_client

            redis_client().publish(_CHANNEL + name, "1")
        except Exception as error:  # noqa: BLE001 - the loop's timer converges all the same
            log.warning("could not publish a wake-up of %s: %s", name, error)


def wakeup_listen(name: str) -> None:
    """In a cluster: sets this process's event of loop `name` whenever another process wakes it."""
    if _shared():
        threading.Thread(target=_listen, args=(name,), name=f"wakeups-{name}", daemon=True).start()


def _listen(name: str) -> None:
    from hosts.rpc import redis_client

    event = wakeup_event(name)
    while True:
        try:
            subscription = redis_client(blocking=True).pubsub(ignore_subscribe_messages=True)
            subscription.subscribe(_CHANNEL + name)
            for _ in subscription.listen():
                event.set()
        except Exception as error:  # noqa: BLE001 - Redis away: listen again shortly
            log.warning("wake-ups of %s: %s; listening again", name, error)
            time.sleep(2)
