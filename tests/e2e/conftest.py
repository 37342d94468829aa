"""A real platform for end-to-end tests: `paas up` as a subprocess on free ports, real Docker and Caddy."""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner

from paas.cli.main import cli
from scheduler.router import router_admin

PAAS = Path(sys.executable).parent / "paas"
# The PostgreSQL server `make test` starts (scripts/install-postgres); tests make databases of their own on it.
POSTGRES_URL = os.environ.get("PAAS_TEST_POSTGRES", "postgres://paas:paas@127.0.0.1:5432/paas")
GIT_IDENTITY = ["-c", "user.name=paas test", "-c", "user.email=test@paas.invalid"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Platform:
    """One `paas up` process, its ports, and what a user would do with it."""

    command = "up"

    def __init__(self, root: Path):
        self.root = root
        self.data_dir = root / "data"
        self.api_port, self.ssh_port = free_port(), free_port()
        self.router_port, self.router_tls_port = free_port(), free_port()
        self.admin_socket = self.data_dir / "router" / "admin.sock"  # the default: PAAS_ROUTER_ADMIN is not set
        self.process = None
        self.key = root / "id_ed25519"
        self.cli_config = root / "cli.json"
        self.env = {
            **os.environ,
            "PAAS_DATA_DIR": str(self.data_dir),
            "PAAS_API_PORT": str(self.api_port),
            "PAAS_SSH_PORT": str(self.ssh_port),
            "PAAS_ROUTER_PORT": str(self.router_port),
            "PAAS_ROUTER_TLS_PORT": str(self.router_tls_port),
            "PAAS_BIND": "127.0.0.1",
            "PAAS_SCHEDULER_INTERVAL": "1",
            "PAAS_STOP_GRACE": "5",
            "DJANGO_SETTINGS_MODULE": "paas.settings",
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        log = open(self.root / "paas-up.log", "ab")  # the process keeps it open
        self.process = subprocess.Popen(
            [str(PAAS), self.command], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"paas {self.command} exited with {self.process.returncode}:\n{self.log()}")
            if self._api_answers():
                return
            time.sleep(0.3)
        pytest.fail(f"paas {self.command} did not answer within 90s:\n{self.log()}")

    def _api_answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/api/", timeout=2)
        except urllib.error.HTTPError as error:
            return error.code == 401
        except OSError:
            return False
        return True

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def log(self) -> str:
        path = self.root / "paas-up.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def instance(self) -> str:
        return (self.data_dir / "instance.id").read_text().strip()

    def token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def paas(self, *args: str, cwd: Path | None = None, input: str | None = None):
        """Runs the CLI in-process against the live platform, with `input` on its standard input; returns click's
        result."""
        runner = CliRunner()
        with contextlib.chdir(cwd or self.root):
            env = {"PAAS_CONFIG": str(self.cli_config), "PAAS_APP": None}
            return runner.invoke(cli, list(args), input=input, env=env)

    def paas_json(self, *args: str, cwd: Path | None = None):
        result = self.paas(*args, "--json", cwd=cwd)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def _git_env(self) -> dict:
        ssh = f"ssh -i {self.key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        return {**os.environ, "GIT_SSH_COMMAND": ssh}

    def git(self, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        command = ["git", *GIT_IDENTITY, *args]
        return subprocess.run(command, cwd=cwd, env=self._git_env(), capture_output=True, text=True, timeout=900)

    def git_background(self, *args: str, cwd: Path) -> subprocess.Popen:
        command = ["git", *GIT_IDENTITY, *args]
        return subprocess.Popen(
            command, cwd=cwd, env=self._git_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def curl(self, app: str, port: int | None = None) -> str:
        """What curl gets from an app through the router (or straight from a job's published port)."""
        url = f"http://127.0.0.1:{port}/" if port else f"http://{app}.localhost:{self.router_port}/"
        result = subprocess.run(["curl", "-sS", "-m", "10", url], capture_output=True, text=True)
        return result.stdout + result.stderr

    def cleanup(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if (self.data_dir / "instance.id").exists():
            _remove_instance(self.instance())
        with contextlib.suppress(OSError, http.client.HTTPException):
            router_admin("POST", "/stop", socket_path=self.admin_socket, timeout=5)


def postgres_sql(statement: str) -> None:
    """Runs one statement on the PostgreSQL server, outside any transaction (as CREATE DATABASE must be)."""
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(statement)


def postgres_database_url(name: str) -> str:
    """The URL of database `name` on the tests' PostgreSQL server."""
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


def postgres_database_drop(name: str, timeout: float = 30) -> None:
    """Drops a test database once the processes that used it have let go of it (the server ends its own autovacuum
    there; it may not end those of another role, as DROP ... WITH (FORCE) would try)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            postgres_sql(f"DROP DATABASE IF EXISTS {name}")
            return
        except psycopg.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _remove_instance(instance: str) -> None:
    client = docker.from_env()
    for container in client.containers.list(all=True, filters={"label": f"paas.instance={instance}"}):
        container.remove(force=True)
    for image in client.images.list(name="paas-app/*"):
        for tag in image.tags:
            if f":{instance}-" in tag:
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag, force=True)
    for volume in client.volumes.list(filters={"name": f"paas-cache-{instance}-"}):
        with contextlib.suppress(docker.errors.APIError):
            volume.remove(force=True)
    for volume in client.volumes.list(filters={"label": f"paas.instance={instance}"}):  # add-ons' and apps' volumes
        with contextlib.suppress(docker.errors.APIError):
            volume.remove(force=True)
    for network in client.networks.list(filters={"label": f"paas.instance={instance}"}):
        with contextlib.suppress(docker.errors.APIError):
            network.remove()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    for tool in ("git", "ssh", "ssh-keygen", "curl", "caddy"):
        assert shutil.which(tool), f"{tool} is missing; `make test` installs it"
    docker.from_env().ping()
    root = tmp_path_factory.mktemp("platform")
    running = Platform(root)
    running.start()
    try:
        yield running
    finally:
        running.cleanup()


def ok(result) -> str:
    """The output of a CLI run that must have succeeded."""
    assert result.exit_code == 0, result.output
    return result.output


def commit(platform, directory: Path, message: str) -> None:
    if not (directory / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=directory, check=True)
    platform.git("add", "-A", cwd=directory)
    result = platform.git("commit", "-q", "-m", message, cwd=directory)
    assert result.returncode == 0, result.stderr


def eventually(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


@pytest.fixture(scope="module")
def logged_in(platform):
    result = platform.paas("login", platform.url, input=platform.token() + "\n")  # as `paas login URL < FILE`
    assert result.exit_code == 0, result.output
    assert "as admin" in result.output
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e@paas", "-f", str(platform.key)]
    subprocess.run(keygen, check=True)
    result = platform.paas("keys", "add", f"{platform.key}.pub")
    assert result.exit_code == 0, result.output
    assert "SHA256:" in result.output
    return platform


class LoadLoop(threading.Thread):
    """Requests an app through the router over and over (bounded), recording each status and body."""

    def __init__(self, platform: Platform, app: str, max_seconds: float = 300, workers: int = 1):
        super().__init__(daemon=True)
        self.workers = workers  # request threads, each one request at a time
        self.url = f"http://127.0.0.1:{platform.router_port}/"
        self.host = f"{app}.localhost"
        self.deadline = time.monotonic() + max_seconds
        self.answers: list[tuple[int, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        others = [threading.Thread(target=self._requests, daemon=True) for _ in range(self.workers - 1)]
        for thread in others:
            thread.start()
        self._requests()
        for thread in others:
            thread.join(timeout=15)

    def _requests(self) -> None:
        while not self.stopping.is_set() and time.monotonic() < self.deadline:
            request = urllib.request.Request(self.url, headers={"Host": self.host})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    self.answers.append((response.status, response.read().decode()))
            except urllib.error.HTTPError as error:
                self.answers.append((error.code, error.read().decode(errors="replace")))
            except OSError as error:
                self.answers.append((0, str(error)))
            time.sleep(0.05)

    def __enter__(self) -> "LoadLoop":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.join(timeout=15)

    def failures(self) -> list[tuple[int, str]]:
        return [answer for answer in self.answers if answer[0] != 200]

    def bodies(self) -> set[str]:
        return {body for status, body in self.answers if status == 200}


WEB_APP = """\
import collections
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

hog = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hog":  # allocates far past any small memory limit
            hog.append(bytearray(512 * 1024 * 1024))
        status = HEALTH if self.path == "/healthz" else 200
        body = (ANSWER.format_map(collections.defaultdict(lambda: "hello", os.environ)) + "\\n").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def web_app(answer: str, health: int = 200) -> str:
    """A small stdlib web app's source: GET answers `answer` with environment variables filled in (`{PAAS_RELEASE}`;
    "hello" for one that is not set), GET /healthz answers `health`, GET /hog allocates far past a small memory
    limit."""
    return f"ANSWER = {answer!r}\nHEALTH = {health}\n" + WEB_APP
