"""Traffic metrics and access lines, from the router's access log.

Caddy writes one JSON line per request (scheduler.router.access_log_path). Each scheduler pass reads what is new
(from an offset kept in DATA_DIR, so a restart counts nothing twice), adds `router: GET /path 200 3ms ...` to the
app's log, and adds the request to the app's TrafficMinute: counts per minute, 5xx answers, and a latency
histogram from which p50, p95 and p99 are read. Minutes older than PAAS_METRICS_RETENTION_HOURS are dropped.
"""

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.logs import app_log_write
from apps.models import App
from scheduler.models import TrafficMinute
from scheduler.routes import RouteTable, draining_jobs, job_upstream, route_table, routed_jobs

log = logging.getLogger("paas.traffic")

# Upper bounds of the latency buckets (ms); a last bucket takes the longer ones.
LATENCY_BUCKETS_MS = (
    *(1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750),
    *(1000, 2000, 5000, 10000, 30000),
)
READ_MAX_BYTES = 8 * 1024 * 1024  # read per pass: a burst is taken over a few passes
OFFSET_FILE = "router-access.offset"


def _offset_path(access_log: Path) -> Path:
    """Where the offset of this router's access log is kept. Controllers of a cluster share DATA_DIR and each has a
    router of its own: each router's log has its own offset (the default router's keeps the plain name)."""
    data_dir = Path(settings.DATA_DIR)
    if access_log == data_dir / "router" / access_log.name:
        return data_dir / OFFSET_FILE
    return data_dir / f"router-access-{hashlib.sha256(str(access_log).encode()).hexdigest()[:12]}.offset"


@dataclass(frozen=True)
class Access:
    """One request the router answered."""

    at: float
    app: str
    method: str
    uri: str
    status: int
    duration_ms: float
    size: int
    request_id: str
    job: str = ""  # the web job that answered (web.2), when the router named its address and it is still known


def access_parse(line: str, table: RouteTable, jobs: dict[str, str] | None = None) -> Access | None:
    """One access log line as an app's request, or None (not JSON, or for no app). `jobs` names the jobs behind
    the upstream addresses ("ADDRESS:PORT" -> "web.2")."""
    try:
        entry = json.loads(line)
        request = entry["request"]
        route = table.route_for(_host_name(str(request.get("host", ""))))
        if route is None:
            return None
        return Access(
            at=float(entry["ts"]),
            app=route.app,
            method=str(request.get("method", "")),
            uri=str(request.get("uri", "")),
            status=int(entry.get("status") or 0),
            duration_ms=float(entry.get("duration") or 0) * 1000,
            size=int(entry.get("size") or 0),
            request_id=str(entry.get("request_id", "")),
            job=(jobs or {}).get(str(entry.get("upstream", "")), ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _host_name(host: str) -> str:
    """The name of a Host header, without its port; "" for an IP literal in brackets (no app's)."""
    return "" if host.startswith("[") else host.rsplit(":", 1)[0]


def bucket_of(duration_ms: float) -> int:
    """The index of the latency bucket of a request that took `duration_ms`."""
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        if duration_ms <= bound:
            return index
    return len(LATENCY_BUCKETS_MS)


def percentile(buckets: list[int], fraction: float) -> float | None:
    """The latency (ms) under which `fraction` of the requests counted in `buckets` took: read from the histogram,
    interpolated within the bucket. None for no requests."""
    total = sum(buckets)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            low = LATENCY_BUCKETS_MS[index - 1] if index else 0
            high = LATENCY_BUCKETS_MS[index] if index < len(LATENCY_BUCKETS_MS) else LATENCY_BUCKETS_MS[-1] * 2
            return round(low + (high - low) * (rank - seen) / count, 1)
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])


def traffic_record(accesses: list[Access]) -> None:
    """Adds requests to their apps' minutes, and their access lines to the apps' logs."""
    minutes: dict[tuple[str, datetime], list] = {}
    for access in accesses:
        minute = datetime.fromtimestamp(access.at - access.at % 60, UTC)
        counts = minutes.setdefault((access.app, minute), [0, 0, [0] * (len(LATENCY_BUCKETS_MS) + 1)])
        counts[0] += 1
        counts[1] += access.status >= 500
        counts[2][bucket_of(access.duration_ms)] += 1
    apps = dict(App.objects.filter(name__in={app for app, _ in minutes}).values_list("name", "pk"))
    for (app, minute), (requests, errors, latency) in minutes.items():
        if app in apps:
            _minute_add(apps[app], minute, requests, errors, latency)
    _access_lines(accesses)


def _minute_add(app_id: int, minute: datetime, requests: int, errors: int, latency: list[int]) -> None:
    with transaction.atomic():
        row, _ = TrafficMinute.objects.select_for_update().get_or_create(
            app_id=app_id, process_type="web", minute=minute
        )
        row.requests += requests
        row.errors += errors
        row.latency = [a + b for a, b in zip(row.latency or [0] * len(latency), latency, strict=False)]
        row.save()


def _access_lines(accesses: list[Access]) -> None:
    by_app: dict[str, list] = {}
    for access in accesses:
        text = f"{access.method} {access.uri} {access.status} {access.duration_ms:.0f}ms {access.size}B"
        if access.job:
            text += f" {access.job}"
        if access.request_id:
            text += f" request_id={access.request_id}"
        by_app.setdefault(access.app, []).append((access.at, "router", text))
    for app, entries in by_app.items():
        try:
            app_log_write(app_name=app, entries=entries)
        except OSError as error:
            log.warning("could not write the access lines of %s: %s", app, error)


class AccessLogReader:
    """Reads the lines added to a log file since the last read, across restarts (the offset is kept in a file)
    and rotations (a new file is read from its start)."""

    def __init__(self, path: Path, state: Path):
        self.path, self.state = path, state

    def _saved(self) -> tuple[int, int]:
        try:
            inode, offset = self.state.read_text().split()
            return int(inode), int(offset)
        except (OSError, ValueError):
            return 0, 0

    def read_new(self) -> list[str]:
        try:
            status = self.path.stat()
        except OSError:
            return []
        inode, offset = self._saved()
        if inode != status.st_ino or offset > status.st_size:
            offset = 0  # a new file (rolled over), or another one
        with open(self.path, "rb") as reader:
            reader.seek(offset)
            data = reader.read(READ_MAX_BYTES)
        complete = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
        if complete:
            staged = self.state.with_suffix(".new")
            staged.write_text(f"{status.st_ino} {offset + len(complete)}\n")
            os.replace(staged, self.state)
        return complete.decode("utf-8", "replace").splitlines()


def traffic_collect(path: Path | None = None) -> int:
    """Takes in what the router logged since the last call; returns how many requests it counted."""
    from scheduler.router import access_log_path

    path = path or access_log_path()
    reader = AccessLogReader(path, _offset_path(path))
    lines = reader.read_new()
    if not lines:
        return 0
    table = route_table()
    jobs = {job_upstream(job): job.name for job in draining_jobs()}
    jobs |= {job.upstream: job.name for app_jobs in routed_jobs().values() for job in app_jobs}
    accesses = [access for access in (access_parse(line, table, jobs) for line in lines) if access]
    traffic_record(accesses)
    return len(accesses)


def traffic_prune() -> int:
    """Drops the minutes older than PAAS_METRICS_RETENTION_HOURS."""
    since = timezone.now() - timedelta(hours=settings.PAAS_METRICS_RETENTION_HOURS)
    return TrafficMinute.objects.filter(minute__lt=since).delete()[0]


def traffic_series(*, app: App, minutes: int) -> list[dict]:
    """The app's last `minutes` minutes of traffic, oldest first, one entry per minute (quiet ones too): requests,
    requests per second, p50/p95/p99 latency (ms) and the share of 5xx answers."""
    now = timezone.now().replace(second=0, microsecond=0)
    first = now - timedelta(minutes=minutes - 1)
    rows = {row.minute: row for row in TrafficMinute.objects.filter(app=app, process_type="web", minute__gte=first)}
    series = []
    for step in range(minutes):
        minute = first + timedelta(minutes=step)
        row = rows.get(minute)
        requests, errors, latency = (row.requests, row.errors, row.latency) if row else (0, 0, [])
        series.append(
            {
                "minute": minute,
                "process_type": "web",
                "requests": requests,
                "rps": round(requests / 60, 2),
                "p50_ms": percentile(latency, 0.50),
                "p95_ms": percentile(latency, 0.95),
                "p99_ms": percentile(latency, 0.99),
                "error_rate": round(errors / requests, 4) if requests else 0.0,
            }
        )
    return series


def traffic_chart(*, app: App, minutes: int = 60, width: int = 600, height: int = 120) -> dict:
    """What the console draws for the app's last `minutes` minutes (an SVG drawn on the server: no script): the
    polylines of requests per second and p95 latency, scaled to `width` x `height`, and the deploys as marks."""
    from releases.models import Release

    series = traffic_series(app=app, minutes=minutes)
    step = width / max(minutes - 1, 1)
    top_rps = max((entry["rps"] for entry in series), default=0) or 1
    top_p95 = max((entry["p95_ms"] or 0 for entry in series), default=0) or 1

    def points(values, top) -> str:
        scaled = (height - (value or 0) / top * (height - 4) for value in values)
        return " ".join(f"{index * step:.1f},{y:.1f}" for index, y in enumerate(scaled))

    first = series[0]["minute"]
    releases = Release.objects.filter(app=app, created_at__gte=first).order_by("version")
    marks = [
        {"x": round((release.created_at - first).total_seconds() / 60 * step, 1), "version": release.version}
        for release in releases
    ]
    return {
        "width": width,
        "height": height,
        "rps": points([entry["rps"] for entry in series], top_rps),
        "p95": points([entry["p95_ms"] for entry in series], top_p95),
        "top_rps": top_rps,
        "top_p95": top_p95,
        "requests": sum(entry["requests"] for entry in series),
        "marks": marks,
        "minutes": minutes,
    }
