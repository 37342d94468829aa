"""The scheduler lease: one scheduler at a time, however many controllers run.

A lease row in the database (PostgreSQL in a cluster) names its holder and when it lapses. A controller runs a pass
only while it holds the lease, renewing it at the start of each pass; a second controller tries at each of its own
and takes the lease over once it has lapsed, within PAAS_SCHEDULER_LEASE seconds of the first one's death. Should two
passes ever overlap all the same, the database's constraint of one job per formation slot (scheduler.models.Job)
keeps them from starting a job twice.
"""

import logging
import os
import secrets
import socket
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.db.models.functions import Now

from scheduler.models import SchedulerLease

log = logging.getLogger("paas.scheduler")
LEASE = "scheduler"


def lease_holder_name() -> str:
    """A name for this process as a lease holder: its machine, its pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _lease_end():
    """When a lease taken or renewed now lapses, by the database's clock: the one clock all controllers share."""
    lease = timedelta(seconds=settings.PAAS_SCHEDULER_LEASE)
    return ExpressionWrapper(Now() + lease, output_field=DateTimeField())


def lease_hold(holder: str) -> bool:
    """Renews the lease for `holder`, or takes it when it has lapsed; whether `holder` holds it now."""
    held = SchedulerLease.objects.filter(name=LEASE, holder=holder, expires_at__gt=Now())
    if held.update(expires_at=_lease_end()):
        return True
    _lease_row()
    lapsed = SchedulerLease.objects.filter(Q(expires_at__lte=Now()) | Q(holder=holder), name=LEASE)
    if not lapsed.update(holder=holder, expires_at=_lease_end(), term=F("term") + 1):
        return False
    term = SchedulerLease.objects.filter(name=LEASE).values_list("term", flat=True).first()
    log.info("this controller (%s) runs the scheduler now (lease term %s)", holder, term)
    return True


def lease_release(holder: str) -> None:
    """Lets the lease go at once (this controller is stopping), so that another takes over without waiting."""
    SchedulerLease.objects.filter(name=LEASE, holder=holder).update(expires_at=Now())


def _lease_row() -> None:
    if SchedulerLease.objects.filter(name=LEASE).exists():
        return
    try:
        SchedulerLease.objects.create(name=LEASE, holder="", expires_at=Now())
    except IntegrityError:
        pass  # made by another controller in the meantime
