"""Deploy hooks: URLs told of an app's deploys, failed builds and crashes.

Each event becomes a delivery row per hook that asked for it, written with the change that caused it; the scheduler's
loop sends the deliveries that are due in the background (never in the way of a deploy), as a JSON POST whose body
is signed with HMAC-SHA256 of the hook's secret:

    X-Paas-Event: deploy
    X-Paas-Delivery: 42
    X-Paas-Signature: sha256=HEX(HMAC-SHA256(secret, body))

A receiver that does not answer 2xx within PAAS_HOOK_TIMEOUT seconds is tried again, after 10 s, 20 s, 40 s ...
up to PAAS_HOOK_ATTEMPTS attempts; every attempt is kept in the delivery log (`paas hooks deliveries`).
"""

import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.models import App, DeliveryState, EventAction, Hook, HookDelivery, HookEvent
from apps.services import event_record
from paas.errors import InvalidInput, NotFound, QuotaExceeded

log = logging.getLogger("paas.hooks")
FIRST_RETRY = 10  # seconds before the second attempt; each next one waits twice as long
SENDING_STALE = timedelta(minutes=2)  # a delivery "sending" this long was being sent by a process that died
DELIVERIES_KEPT = 200  # per hook: the delivery log's length
_senders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hooks")


def hook_add(*, app: App, url: str, events: list[str] | None, actor) -> tuple[Hook, str]:
    """Adds a hook to `app`; returns it and its secret, which is shown this once."""
    url = _url_checked(url)
    events = _events_checked(events)
    if Hook.objects.filter(app=app).count() >= settings.PAAS_QUOTA_HOOKS:
        raise QuotaExceeded(
            f"{app.name} has {settings.PAAS_QUOTA_HOOKS} hooks, the most an app may have (PAAS_QUOTA_HOOKS); "
            "remove one first"
        )
    secret = secrets.token_hex(32)
    with transaction.atomic():
        hook = Hook.objects.create(app=app, url=url, events=events, secret=secret, created_by=actor)
        event_record(app=app, actor=actor, action=EventAction.HOOK_ADD, detail=f"{url} ({', '.join(events)})")
    return hook, secret


def _url_checked(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"{url!r} is not an http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidInput("a hook's URL carries no credentials; the receiver checks the signature instead")
    if len(url) > 500:
        raise InvalidInput("a hook's URL has at most 500 characters")
    return url


def _events_checked(events: list[str] | None) -> list[str]:
    if not events:
        return [event.value for event in HookEvent]
    unknown = sorted(set(events) - set(HookEvent.values))
    if unknown:
        raise InvalidInput(f"no event {', '.join(unknown)}; hooks are told of: {', '.join(HookEvent.values)}")
    return [event for event in HookEvent.values if event in events]


def hook_remove(*, app: App, hook_id: int, actor) -> None:
    """Removes one of `app`'s hooks, with its delivery log."""
    hook = Hook.objects.filter(app=app, pk=hook_id).first()
    if hook is None:
        raise NotFound(f"{app.name} has no hook {hook_id}; `paas hooks` lists them")
    with transaction.atomic():
        event_record(app=app, actor=actor, action=EventAction.HOOK_REMOVE, detail=hook.url)
        hook.delete()


def hooks_notify(*, app: App, event: HookEvent, detail: dict) -> int:
    """Queues `event` for the hooks of `app` that asked for it; call it with the change it tells of. Returns how
    many deliveries it queued."""
    hooks = [hook for hook in Hook.objects.filter(app=app) if event.value in hook.events]
    payload = {"event": event.value, "app": app.name, "at": timezone.now().isoformat(), **detail}
    now = timezone.now()
    HookDelivery.objects.bulk_create(
        [HookDelivery(hook=hook, event=event.value, payload=payload, next_attempt_at=now) for hook in hooks]
    )
    return len(hooks)


def hook_signature(secret: str, body: bytes) -> str:
    """The X-Paas-Signature of `body`: sha256=HEX(HMAC-SHA256(secret, body))."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hooks_deliver_due() -> int:
    """Hands the deliveries that are due to the background senders (each taken once, whatever runs this); returns
    how many it handed over."""
    now = timezone.now()
    HookDelivery.objects.filter(state=DeliveryState.SENDING, next_attempt_at__lt=now - SENDING_STALE).update(
        state=DeliveryState.PENDING
    )
    due = HookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
    handed = 0
    for delivery_id in due.order_by("next_attempt_at").values_list("pk", flat=True)[:50]:
        taken = HookDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING)
        if taken.update(state=DeliveryState.SENDING, next_attempt_at=now):
            _senders.submit(_send_in_background, delivery_id)
            handed += 1
    return handed


def _send_in_background(delivery_id: int) -> None:
    try:
        hook_deliver(HookDelivery.objects.select_related("hook").get(pk=delivery_id))
    except Exception:  # noqa: BLE001 - a sender thread never dies of one delivery
        log.exception("could not send hook delivery %s", delivery_id)
    finally:
        connection.close()  # a sender may wait long for the next delivery: it holds no session meanwhile


def hook_deliver(delivery: HookDelivery) -> bool:
    """Sends one delivery now and records the attempt; whether the receiver took it (2xx)."""
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "paas-hooks",
        "X-Paas-Event": delivery.event,
        "X-Paas-Delivery": str(delivery.pk),
        "X-Paas-Signature": hook_signature(delivery.hook.secret, body),
    }
    request = urllib.request.Request(delivery.hook.url, data=body, headers=headers, method="POST")
    status, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=settings.PAAS_HOOK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as answer:
        status, error = answer.code, f"HTTP {answer.code}"
    except (OSError, ValueError) as failure:
        error = str(getattr(failure, "reason", failure))[:300] or type(failure).__name__
    return _attempt_recorded(delivery, status, error)


def _attempt_recorded(delivery: HookDelivery, status: int | None, error: str) -> bool:
    delivery.attempts += 1
    delivery.status_code, delivery.error = status, error
    delivered = status is not None and 200 <= status < 300
    now = timezone.now()
    if delivered:
        delivery.state, delivery.delivered_at = DeliveryState.DELIVERED, now
    elif delivery.attempts >= settings.PAAS_HOOK_ATTEMPTS:
        delivery.state = DeliveryState.FAILED
        log.warning(
            "hook %s gave up on %s after %s attempts: %s", delivery.hook_id, delivery.event, delivery.attempts, error
        )
    else:
        delivery.state = DeliveryState.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=FIRST_RETRY * 2 ** (delivery.attempts - 1))
    delivery.save()
    _log_trimmed(delivery.hook_id)
    return delivered


def _log_trimmed(hook_id: int) -> None:
    """Keeps a hook's last DELIVERIES_KEPT deliveries."""
    kept = HookDelivery.objects.filter(hook_id=hook_id).values_list("pk", flat=True)[:DELIVERIES_KEPT]
    HookDelivery.objects.filter(hook_id=hook_id).exclude(pk__in=list(kept)).delete()
