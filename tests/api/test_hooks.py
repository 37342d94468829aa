"""Deploy hooks through the REST API, and their deliveries: signed, retried with backoff, logged."""

import hashlib
import hmac
import http.server
import json
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.hooks import hook_deliver, hooks_deliver_due, hooks_notify
from apps.models import App, DeliveryState, Event, EventAction, HookDelivery, HookEvent
from scheduler.services import reconcile
from tests.api.resources import AppResourceTests
from tests.factories import deploy, make_app


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Records each POST; answers with `status`."""

    status = 200
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.status, _Receiver.received = 200, []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver
    server.shutdown()


def _eventually(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


class TestHooks(AppResourceTests):
    path = "hooks/"

    def test_a_hook_is_added_with_its_secret_shown_once_and_removed(self, api, user):
        app = make_app("shop", owner=user)
        added = api.post(self.url("shop"), {"url": "https://ci.example.com/paas", "events": ["crashed"]}, format="json")
        assert added.status_code == 201, added.json()
        hook = added.json()
        assert hook["events"] == ["crashed"] and len(hook["secret"]) == 64
        listed = api.get(self.url("shop")).json()
        assert [entry["url"] for entry in listed] == ["https://ci.example.com/paas"] and "secret" not in listed[0]
        every = api.post(self.url("shop"), {"url": "http://hooks.example.com/"}, format="json").json()
        assert every["events"] == ["deploy", "build_failed", "crashed"]
        assert api.delete(f"{self.url('shop')}{hook['id']}/").status_code == 204
        assert api.delete(f"{self.url('shop')}{hook['id']}/").status_code == 404
        actions = list(Event.objects.filter(app=app).values_list("action", flat=True))
        assert actions.count(EventAction.HOOK_ADD) == 2 and actions.count(EventAction.HOOK_REMOVE) == 1

    def test_a_bad_url_or_event_is_400_saying_what_is_allowed_and_hooks_have_a_quota(self, api, user, settings):
        make_app("shop", owner=user)
        for body, said in (
            ({"url": "ftp://example.com/"}, "is not an http:// or https:// URL"),
            ({"url": "https://user:pw@example.com/"}, "carries no credentials"),
            ({"url": "https://example.com/", "events": ["deploy", "exploded"]}, "no event exploded"),
        ):
            refused = api.post(self.url("shop"), body, format="json")
            assert refused.status_code == 400 and said in refused.json()["error"], refused.json()
        settings.PAAS_QUOTA_HOOKS = 1
        assert api.post(self.url("shop"), {"url": "https://example.com/1"}, format="json").status_code == 201
        over = api.post(self.url("shop"), {"url": "https://example.com/2"}, format="json")
        assert over.status_code == 409 and "PAAS_QUOTA_HOOKS" in over.json()["error"]

    @pytest.mark.django_db(transaction=True)  # the senders read from their own threads
    def test_a_finished_deploy_is_posted_signed_to_the_hooks_that_asked(self, api, user, driver, receiver):
        url, received = receiver
        make_app("shop", owner=user)
        secret = api.post(self.url("shop"), {"url": url, "events": ["deploy"]}, format="json").json()["secret"]
        api.post(self.url("shop"), {"url": url, "events": ["crashed"]}, format="json")
        deploy(App.objects.get(name="shop"))
        for _ in range(3):
            reconcile()
        hooks_deliver_due()
        assert _eventually(lambda: received.received)
        headers, body = received.received[0]
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Paas-Signature"] == expected and headers["X-Paas-Event"] == "deploy"
        payload = json.loads(body)
        assert payload["app"] == "shop" and payload["release"]["version"] == 1
        assert _eventually(lambda: HookDelivery.objects.get().state == DeliveryState.DELIVERED)
        assert len(received.received) == 1  # the crash hook was not told of a deploy
        deliveries = api.get(f"{self.url('shop')}deliveries/").json()
        assert [(entry["event"], entry["state"], entry["status_code"]) for entry in deliveries] == [
            ("deploy", "delivered", 200)
        ]

    def test_a_receiver_that_fails_is_tried_again_later_then_given_up_on(self, api, user, receiver, settings):
        url, received = receiver
        received.status = 500
        app = make_app("shop", owner=user)
        api.post(self.url("shop"), {"url": url}, format="json")
        hooks_notify(app=app, event=HookEvent.BUILD_FAILED, detail={"build": {"id": 1}})
        delivery = HookDelivery.objects.select_related("hook").get()
        assert not hook_deliver(delivery)
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1 and delivery.error == "HTTP 500"
        assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=8)  # 10 s later
        assert hooks_deliver_due() == 0  # not due yet
        settings.PAAS_HOOK_ATTEMPTS = 2
        assert not hook_deliver(delivery)
        delivery.refresh_from_db()
        assert delivery.state == DeliveryState.FAILED and delivery.attempts == 2

    @pytest.mark.django_db(transaction=True)
    def test_an_unreachable_receiver_does_not_hold_up_the_pass(self, api, user, settings):
        app = make_app("shop", owner=user)
        api.post(self.url("shop"), {"url": "http://127.0.0.1:9/"}, format="json")  # nothing listens there
        hooks_notify(app=app, event=HookEvent.CRASHED, detail={})
        started = time.monotonic()
        assert hooks_deliver_due() == 1
        assert time.monotonic() - started < 1  # sent in the background
        delivery = _eventually(lambda: HookDelivery.objects.filter(attempts=1).first())
        assert delivery.state == DeliveryState.PENDING and "refused" in delivery.error.lower()
