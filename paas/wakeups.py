"""In-process wake-ups: a service that changes desired state nudges the loop that converges it.

Loops are level-triggered and also run on a timer, so a lost wake-up only delays convergence.
"""

import threading

_events: dict[str, threading.Event] = {}
_lock = threading.Lock()


def wakeup_event(name: str) -> threading.Event:
    """The event a loop called `name` waits on."""
    with _lock:
        return _events.setdefault(name, threading.Event())


def wakeup(name: str) -> None:
    """Wakes the loop called `name` early."""
    wakeup_event(name).set()
