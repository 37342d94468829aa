"""GET /api/apps/APP/logs/: the app's log as text, filtered, and followed as it grows."""

import threading
import time

import pytest

from apps.logs import app_log_event, app_log_write
from tests.api.resources import AppResourceTests
from tests.factories import make_app

pytestmark = pytest.mark.django_db

AT = 1_790_000_000.0


class TestLogs(AppResourceTests):
    path = "logs/"


def _text(response) -> str:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def shop(user):
    app = make_app("shop", owner=user)
    entries = [(AT + i, f"{'web' if i % 2 else 'worker'}.1 v1 stdout", f"line {i}") for i in range(10)]
    app_log_write(app_name="shop", entries=entries)
    return app


def test_the_last_lines(api, shop):
    text = _text(api.get("/api/apps/shop/logs/?lines=3"))
    assert text.splitlines() == [
        "2026-09-21T14:13:27.000000Z web.1 v1 stdout: line 7",
        "2026-09-21T14:13:28.000000Z worker.1 v1 stdout: line 8",
        "2026-09-21T14:13:29.000000Z web.1 v1 stdout: line 9",
    ]
    assert len(_text(api.get("/api/apps/shop/logs/")).splitlines()) == 10


def test_filtered_by_process_type_and_time(api, shop):
    text = _text(api.get("/api/apps/shop/logs/?process=worker&since=2026-09-21T14:13:25"))
    assert [line.split(": ")[1] for line in text.splitlines()] == ["line 6", "line 8"]
    assert _text(api.get("/api/apps/shop/logs/?since=1m")) == ""


def test_bad_parameters_are_refused(api, shop):
    response = api.get("/api/apps/shop/logs/?since=yesterday")
    assert response.status_code == 400 and "is not a duration" in response.json()["error"]
    assert api.get("/api/apps/shop/logs/?lines=100000").status_code == 400
    assert api.get("/api/apps/shop/logs/?process=Web Server").status_code == 400


def test_an_app_without_a_log_has_an_empty_one(api, user):
    make_app("quiet", owner=user)
    assert _text(api.get("/api/apps/quiet/logs/?follow=true")) == ""


def test_following_adds_what_is_written_and_ends_after_its_time(api, shop, settings):
    settings.PAAS_LOG_FOLLOW_MAX_SECONDS = 1.5
    response = api.get("/api/apps/shop/logs/?lines=1&follow=1&process=web", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    assert next(chunks).decode().endswith("web.1 v1 stdout: line 9\n")
    writer = threading.Timer(0.4, lambda: app_log_event("shop", "scheduler", "web.1 crashed, exit 1, restarting in 1s"))
    writer.start()
    started = time.monotonic()
    rest = b"".join(chunks).decode()
    assert rest.endswith("Z paas[scheduler]: web.1 crashed, exit 1, restarting in 1s\n")
    assert 1 < time.monotonic() - started < 4
