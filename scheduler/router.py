"""The HTTP router: Caddy, configured through its admin API with the whole route table at once.

Each pass computes every app's route from the database (the app's healthy web jobs on hosts that
are up), reads the configuration Caddy holds, and loads the new one when they differ; a Caddy that
stopped answering is started again. Caddy runs as its own process, so apps keep serving while the
control plane is stopped.
"""

import json
import logging
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from apps.models import App
from apps.selectors import app_url
from hosts.models import HostState
from scheduler.models import Job, JobState

log = logging.getLogger("paas.router")

memory_router: dict = {"config": None}


class RouterError(Exception):
    """The router would not take a configuration; the message is the router's own reason."""


def _routed_jobs() -> dict[str, list[Job]]:
    """App name -> its web jobs that are up (of every release, during a deploy); every app has an entry."""
    routes: dict[str, list[Job]] = {name: [] for name in App.objects.values_list("name", flat=True)}
    jobs = Job.objects.filter(process_type="web", state=JobState.UP, host__state=HostState.UP, host_port__isnull=False)
    for job in jobs.select_related("app", "host").order_by("app__name", "index"):
        routes[job.app.name].append(job)
    return routes


def _addresses(jobs: list[Job]) -> list[str]:
    return [f"{job.host.address}:{job.host_port}" for job in jobs]


def _app_route(app_name: str, upstreams: list[str]) -> dict:
    match = [{"host": [f"{app_name}.{settings.PAAS_DOMAIN}"]}]
    if not upstreams:
        body = f"{app_name} has no web process running. Scale it up with: paas scale web=1 -a {app_name}\n"
        handler = {"handler": "static_response", "status_code": 503, "body": body}
    else:
        handler = {
            "handler": "reverse_proxy",
            "upstreams": [{"dial": address} for address in upstreams],
            "load_balancing": {"selection_policy": {"policy": "round_robin"}, "try_duration": "3s"},
        }
    return {"match": match, "handle": [handler], "terminal": True}


def router_config(routes: dict[str, list[str]]) -> dict:
    """The full Caddy configuration for these routes."""
    not_found = {
        "handler": "static_response",
        "status_code": 404,
        "body": f"No app is deployed at this address. Apps answer at {app_url('APP')}\n",
    }
    app_routes = [_app_route(name, upstreams) for name, upstreams in sorted(routes.items())]
    server = {
        "listen": [f":{settings.PAAS_ROUTER_PORT}"],
        "routes": [*app_routes, {"handle": [not_found]}],
        "automatic_https": {"disable": True},
    }
    return {
        "admin": {"listen": settings.PAAS_ROUTER_ADMIN},
        "apps": {"http": {"servers": {"paas": server}}},
    }


def _admin_url(path: str) -> str:
    return f"http://{settings.PAAS_ROUTER_ADMIN}{path}"


def router_load(config: dict) -> None:
    """Replaces Caddy's whole configuration (with PAAS_ROUTER=memory, only remembers it)."""
    if settings.PAAS_ROUTER == "memory":
        memory_router["config"] = config
        return
    request = urllib.request.Request(
        _admin_url("/load"),
        data=json.dumps(config).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace").strip()
        raise RouterError(f"caddy refused the routes: {detail or error}") from error


def router_current() -> dict | None:
    """The configuration the router holds now, or None when it does not answer."""
    if settings.PAAS_ROUTER == "memory":
        return memory_router["config"]
    try:
        with urllib.request.urlopen(_admin_url("/config/"), timeout=5) as response:
            return json.loads(response.read() or b"null")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def router_sync() -> None:
    """Loads the current route table into the router if what it holds differs, then marks jobs routed."""
    jobs = _routed_jobs()
    config = router_config({name: _addresses(app_jobs) for name, app_jobs in jobs.items()})
    current = router_current()
    if current != config:
        try:
            if current is None and settings.PAAS_ROUTER != "memory":
                log.warning("router: %s", router_start())  # adopts it again if it only missed one call
            router_load(config)
        except (urllib.error.URLError, OSError, RouterError) as error:
            log.warning("router did not take the new routes (%s); retrying on the next pass", error)
            return
    routed = [job.pk for app_jobs in jobs.values() for job in app_jobs]
    now = timezone.now()
    Job.objects.filter(pk__in=routed, routed_at__isnull=True).update(routed_at=now, updated_at=now)
    Job.objects.filter(routed_at__isnull=False).exclude(pk__in=routed).update(routed_at=None, updated_at=now)


def router_answers() -> bool:
    """Whether a Caddy admin API answers at PAAS_ROUTER_ADMIN."""
    try:
        with urllib.request.urlopen(_admin_url("/config/"), timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


def router_start() -> str:
    """Adopts the Caddy answering at PAAS_ROUTER_ADMIN, or starts one that outlives this process."""
    if router_answers():
        return "adopted"
    executable = shutil.which("caddy")
    if executable is None:
        raise RouterError("caddy is not installed; run `make up`, which installs it")
    state_dir = Path(settings.DATA_DIR) / "caddy"
    state_dir.mkdir(parents=True, exist_ok=True)
    config_path = state_dir / "initial.json"
    config_path.write_text(json.dumps(router_config({})))
    env = {**os.environ, "XDG_DATA_HOME": str(state_dir / "data"), "XDG_CONFIG_HOME": str(state_dir / "config")}
    with open(state_dir / "caddy.log", "ab") as caddy_log:
        caddy = subprocess.Popen(
            [executable, "run", "--config", str(config_path)],
            stdout=caddy_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and caddy.poll() is None:
        if router_answers():
            return "started"
        time.sleep(0.2)
    raise RouterError(f"caddy did not start: {_last_error(state_dir / 'caddy.log')}")


def _last_error(log_path: Path) -> str:
    """Caddy's own last words, e.g. `listen tcp :8080: bind: address already in use`."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or [f"see {log_path}"])[-1].removeprefix("Error: ")
