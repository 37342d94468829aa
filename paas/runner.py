"""`paas up`: the whole platform in one process, for one machine.

The ASGI API and admin console (uvicorn), the git SSH server, an in-process Celery worker on the
memory:// broker and the scheduler loop share this process; the local Docker engine is host
`local`; Caddy runs as its own process. Ctrl-C stops the control plane and leaves apps serving:
their containers and Caddy keep running, and the next `paas up` adopts them.
"""

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import socket
import threading
import warnings
from pathlib import Path

import django
from django.conf import settings

log = logging.getLogger("paas.up")
BUILDS_QUEUE = "builds"


class CeleryWorker(threading.Thread):
    """A Celery worker consuming in this process (builds), on a thread pool."""

    def __init__(self, concurrency: int = 2):
        super().__init__(name="celery-worker", daemon=True)
        from paas.celery import app, worker_options

        app.loader.import_default_modules()
        hostname = f"paas@{socket.gethostname()}"
        self.controller = app.WorkController(
            **worker_options(queue=BUILDS_QUEUE, concurrency=concurrency, hostname=hostname)
        )

    def run(self) -> None:
        self.controller.start()

    def stop(self, timeout: float = 10) -> None:
        """Stops consuming; a task still running after `timeout` seconds is abandoned with the process."""
        stopper = threading.Thread(target=self._stop, daemon=True)
        stopper.start()
        stopper.join(timeout)

    def _stop(self) -> None:
        with contextlib.suppress(Exception):
            self.controller.stop(in_sighandler=False)


def _api_server():
    import uvicorn

    from paas.asgi import application

    class ApiServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            yield  # this process handles SIGINT and SIGTERM itself

    config = uvicorn.Config(
        application,
        host=settings.PAAS_BIND,
        port=settings.PAAS_API_PORT,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    return ApiServer(config)


async def _serve() -> None:
    from buildpacks.sshd import git_server_start

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        git_server = await git_server_start(settings.PAAS_BIND, settings.PAAS_SSH_PORT)
    except OSError as error:
        raise SystemExit(f"paas: cannot listen for git on port {settings.PAAS_SSH_PORT}: {error}") from error
    api = _api_server()
    api_task = asyncio.create_task(api.serve())
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({api_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    api.should_exit = True
    with contextlib.suppress(SystemExit, asyncio.CancelledError):
        await api_task
    git_server.close()
    await git_server.wait_closed()
    if not stop.is_set():
        raise SystemExit(f"paas: the API server stopped; is port {settings.PAAS_API_PORT} free?")


def _banner(token_path, password_path) -> str:
    from scheduler.router import CA_COPY

    api = f"http://localhost:{settings.PAAS_API_PORT}"
    ca = Path(settings.DATA_DIR) / CA_COPY
    return (
        "paas is up.\n"
        f"  API:          {api}/api/   (docs: {api}/api/docs/)\n"
        f"  web console:  {api}/admin/   (user admin, password in {password_path})\n"
        f"  git over SSH: ssh://git@localhost:{settings.PAAS_SSH_PORT}/APP.git\n"
        f"  apps:         http://APP.{settings.PAAS_DOMAIN}:{settings.PAAS_ROUTER_PORT}/\n"
        f"                https://APP.{settings.PAAS_DOMAIN}:{settings.PAAS_ROUTER_TLS_PORT}/   (its CA: {ca})\n"
        f"{_exposure_warning()}"
        "Log in from another terminal with:\n"
        f"  paas login {api} < {shlex.quote(str(token_path))}\n"
        "Press Ctrl-C to stop the control plane; deployed apps keep serving.\n"
    )


def _exposure_warning() -> str:
    """A warning when PAAS_BIND puts the API (plain HTTP) and the git server on more than this machine's loopback."""
    if settings.PAAS_BIND in ("127.0.0.1", "::1", "localhost"):
        return ""
    return (
        f"  WARNING: PAAS_BIND={settings.PAAS_BIND}: the API and console (plain HTTP: tokens and passwords in the\n"
        "  clear) and the git server listen beyond this machine; put TLS in front of them, or bind 127.0.0.1.\n"
    )


def _check_docker(host) -> None:
    from hosts.drivers import host_driver

    try:
        host_driver(host).job_containers()
    except Exception as error:
        raise SystemExit(
            f"paas: cannot reach Docker at {host.docker_url} ({error}).\n"
            "Start it with `dockerd &` (or run `make up`, which does) and try again."
        ) from error


def _abandon_builds() -> None:
    """In embedded mode this process is the only build worker, and holds every `paas run` terminal: builds it is
    not running have ended, and attached runs it no longer holds are stopped."""
    from buildpacks.services import build_fail_interrupted
    from hosts.engine import build_engine
    from scheduler.oneoff import runs_orphaned_stop

    if settings.CELERY_BROKER_URL.startswith("memory://"):
        build_fail_interrupted()
        build_engine().build_containers_remove()
        runs_orphaned_stop()  # their terminals were connected to this process


def _router_hint(error) -> str:
    hint = "(PAAS_ROUTER_PORT chooses the router's port, PAAS_ROUTER_ADMIN the Unix socket of its admin API.)"
    if "address already in use" in str(error):  # perhaps the router of an earlier paas, whose admin API was TCP
        hint += "\nA router started by an earlier paas stops with: curl -X POST http://localhost:2019/stop"
    return hint


def _prepare():
    """Migrates the database and registers everything the loops need; returns the admin's token and password paths."""
    from django.core.management import call_command

    from hosts.services import host_register_local
    from paas.bootstrap import admin_bootstrap
    from scheduler.router import RouterError, router_start

    call_command("migrate", interactive=False, verbosity=0)
    paths = admin_bootstrap()
    host = host_register_local()
    _check_docker(host)
    _abandon_builds()
    try:
        log.info("router %s", router_start())
    except RouterError as error:
        raise SystemExit(f"paas: {error}\n{_router_hint(error)}") from error
    return paths


def _cluster_check(role: str) -> None:
    """A role of a cluster needs the cluster's shared parts: PostgreSQL for state, Redis as the broker."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"paas {role}: set DATABASE_URL=postgres://USER:PASSWORD@HOST/DB, the cluster's database")
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        raise SystemExit(f"paas {role}: set CELERY_BROKER_URL=redis://HOST:6379/0, the cluster's broker")


def _setup(role: str) -> None:
    from celery.exceptions import SecurityWarning

    # Celery warns a worker run as root against pickled messages; these take JSON only. (An agent is root, or in the
    # docker group, to drive its engine.)
    warnings.filterwarnings("ignore", category=SecurityWarning)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.settings")
    from paas.datadir import data_dir_prepare

    data_dir_prepare()
    django.setup()
    _cluster_check(role)


def run_controller() -> None:
    """`paas controller`: the API and console, the git server, the scheduler (one controller at a time runs it: the
    others wait for its lease) and the router, with builds on `paas builder` workers and jobs on `paas agent` hosts."""
    _setup("controller")
    from django.core.management import call_command

    from hosts.logship import LogIntake
    from paas.bootstrap import admin_bootstrap
    from scheduler.loop import SchedulerLoop
    from scheduler.router import RouterError, router_start

    call_command("migrate", interactive=False, verbosity=0)
    token_path, password_path = admin_bootstrap()
    try:
        log.info("router %s", router_start())
    except RouterError as error:
        raise SystemExit(f"paas: {error}\n{_router_hint(error)}") from error
    scheduler = SchedulerLoop()
    scheduler.start()
    intake = LogIntake()  # the lines of jobs that agents follow
    intake.start()
    print(_banner(token_path, password_path).replace("paas is up.", "paas controller is up."), flush=True)
    try:
        asyncio.run(_serve())
    finally:
        intake.stopping.set()
        scheduler.stop()
        print("paas controller stopped; apps keep serving.", flush=True)


def run_builder(concurrency: int) -> None:
    """`paas builder`: a Celery worker of the `builds` queue, building on the Docker engine of DOCKER_HOST."""
    _setup("builder")
    from paas.celery import app, worker_options

    app.loader.import_default_modules()
    print(f"paas builder: building on {settings.DOCKER_HOST}, {concurrency} at a time", flush=True)
    hostname = f"builder@{socket.gethostname()}"
    app.Worker(**worker_options(queue=BUILDS_QUEUE, concurrency=concurrency, hostname=hostname), quiet=True).start()


def run_agent(*, name: str, docker_url: str, address: str) -> None:
    """`paas agent`: the agent of one Docker host (hosts.agent)."""
    os.environ["DOCKER_HOST"] = docker_url  # the engine its images are made on, too
    _setup("agent")
    from hosts.agent import agent_run

    agent_run(name=name, docker_url=docker_url, address=address)


def run() -> None:
    """Runs the platform until SIGINT or SIGTERM."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.settings")
    from paas.datadir import data_dir_prepare

    data_dir_prepare()  # first of all: umask 077, so that everything this process and its children write is private
    django.setup()
    from scheduler.logs import log_collector_stop
    from scheduler.loop import SchedulerLoop

    token_path, password_path = _prepare()
    worker = CeleryWorker()
    worker.start()
    scheduler = SchedulerLoop()
    scheduler.start()
    print(_banner(token_path, password_path), flush=True)
    try:
        asyncio.run(_serve())
    finally:
        scheduler.stop()
        log_collector_stop()
        _abandon_builds()
        worker.stop()
        print("paas stopped; apps keep serving.", flush=True)
