"""Traffic metrics and access lines from the router's access log (lines as Caddy writes them)."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from apps.logs import log_path
from scheduler.models import TrafficMinute
from scheduler.routes import Route, RouteTable
from scheduler.traffic import (
    LATENCY_BUCKETS_MS,
    AccessLogReader,
    access_parse,
    bucket_of,
    percentile,
    traffic_collect,
    traffic_prune,
    traffic_series,
)
from tests.factories import make_app

TABLE = RouteTable(routes=(Route("shop.localhost", "shop", ("127.0.0.1:1",)), Route("*.shop.com", "shop", ())))


def caddy_line(host="shop.localhost", status=200, seconds=0.004, at=None, uri="/", request_id="rid-1") -> str:
    """An access line as Caddy writes it (the fields this reads), with the upstream and request id the router
    appends."""
    return json.dumps(
        {
            "level": "info",
            "ts": at or time.time(),
            "logger": "http.log.access.paas",
            "msg": "handled request",
            "request": {"remote_ip": "127.0.0.1", "proto": "HTTP/1.1", "method": "GET", "host": host, "uri": uri},
            "duration": seconds,
            "size": 12,
            "status": status,
            "upstream": "127.0.0.1:40001",
            "request_id": request_id,
        }
    )


def test_a_line_is_an_apps_request_by_its_host_with_or_without_a_port():
    access = access_parse(caddy_line(host="www.shop.com:8443", status=502, seconds=0.0123), TABLE)
    assert (access.app, access.method, access.uri, access.status) == ("shop", "GET", "/", 502)
    assert access.request_id == "rid-1" and access.job == ""
    assert access_parse(caddy_line(), TABLE, {"127.0.0.1:40001": "web.2"}).job == "web.2"
    assert access.duration_ms == pytest.approx(12.3)
    assert access_parse(caddy_line(host="other.localhost"), TABLE) is None
    assert access_parse("not json", TABLE) is None
    assert access_parse(json.dumps({"ts": 1}), TABLE) is None


def test_percentiles_are_read_from_the_histogram():
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for duration in [1] * 50 + [8] * 45 + [90] * 4 + [400]:
        buckets[bucket_of(duration)] += 1
    assert percentile(buckets, 0.5) <= 1
    assert 7 < percentile(buckets, 0.95) <= 10
    assert 75 < percentile(buckets, 0.99) <= 100
    assert percentile([0] * len(buckets), 0.5) is None


@pytest.mark.django_db
def test_new_lines_are_counted_once_and_written_to_the_apps_log(tmp_path, settings):
    shop = make_app("shop")
    from scheduler.services import reconcile

    reconcile()  # no jobs: shop.localhost is in the table all the same
    log = tmp_path / "access.log"
    now = time.time()
    log.write_text("".join(f"{caddy_line(status=status, at=now)}\n" for status in (200, 200, 500)))
    assert traffic_collect(log) == 3
    assert traffic_collect(log) == 0  # nothing new: nothing counted twice
    with open(log, "a") as more:
        more.write(caddy_line(at=now, uri="/later") + "\n" + caddy_line(at=now)[:40])  # and half a line
    assert traffic_collect(log) == 1
    [minute] = TrafficMinute.objects.filter(app=shop)
    assert (minute.requests, minute.errors, sum(minute.latency)) == (4, 1, 4)
    logged = log_path("shop").read_text()
    assert "router: GET / 500 4ms 12B request_id=rid-1" in logged and "router: GET /later 200" in logged


def test_a_rolled_over_log_is_read_from_its_start(tmp_path):
    log, state = tmp_path / "access.log", tmp_path / "offset"
    reader = AccessLogReader(log, state)
    log.write_text("one\ntwo\n")
    assert reader.read_new() == ["one", "two"]
    log.rename(tmp_path / "access-1.log")
    log.write_text("three\n")
    assert reader.read_new() == ["three"]
    assert AccessLogReader(log, state).read_new() == []  # a restarted platform goes on where it was


@pytest.mark.django_db
def test_the_series_has_every_minute_and_old_minutes_are_pruned(settings):
    shop = make_app("shop")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    latency = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    latency[bucket_of(4)] = 120
    TrafficMinute.objects.create(app=shop, minute=now - timedelta(minutes=2), requests=120, errors=6, latency=latency)
    TrafficMinute.objects.create(app=shop, minute=now - timedelta(hours=50), requests=1, latency=latency)
    series = traffic_series(app=shop, minutes=5)
    assert [entry["requests"] for entry in series] == [0, 0, 120, 0, 0]
    busy = series[2]
    assert (busy["rps"], busy["error_rate"]) == (2.0, 0.05) and 3 < busy["p50_ms"] <= 5
    assert traffic_prune() == 1
