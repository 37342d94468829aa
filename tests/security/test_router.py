"""The router's admin API is a private Unix socket, and Caddy runs without root.

The unit tests drive the admin client against a fake Caddy on a Unix socket; the end-to-end ones check the real
Caddy that `paas up` starts.
"""

import http.server
import json
import os
import pwd
import re
import socketserver
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from scheduler import router
from scheduler.router import RouterError, admin_socket, caddy_config, router_admin, router_command
from scheduler.routes import Route, RouteTable

# The configuration of the issue: with it, Caddy served /etc/shadow and DATA_DIR/secret.key on the router port.
FILE_SERVER_CONFIG = {
    "apps": {"http": {"servers": {"leak": {"listen": [":0"], "routes": [{"handle": [{"handler": "file_server"}]}]}}}}
}


class _FakeCaddy(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def fake_caddy(tmp_path, settings):
    """An admin API on a Unix socket that answers as Caddy's does, recording each request."""
    path = tmp_path / "router" / "admin.sock"
    path.parent.mkdir()
    seen: list[tuple[str, str, str | None, dict | None]] = []
    state = {"config": {"apps": {}}, "refuse": None}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(("GET", self.path, self.headers.get("Host"), None))
            self._answer(200, json.dumps(state["config"]).encode())

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            seen.append(("POST", self.path, self.headers.get("Host"), body))
            if state["refuse"]:
                self._answer(400, json.dumps({"error": state["refuse"]}).encode())
                return
            state["config"] = body
            self._answer(200, b"")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = _FakeCaddy(str(path), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.PAAS_ROUTER = "caddy"
    settings.PAAS_ROUTER_ADMIN = str(path)
    try:
        yield seen, state
    finally:
        server.shutdown()
        server.server_close()


def test_the_admin_api_listens_on_a_unix_socket_only(settings):
    settings.PAAS_ROUTER_ADMIN = "/var/lib/paas/router/admin.sock"
    admin = caddy_config(RouteTable((Route("hello.localhost", "hello", ()),)))["admin"]
    assert admin["listen"] == "unix/admin.sock"  # relative to Caddy's working directory: the socket's
    assert admin_socket() == Path("/var/lib/paas/router/admin.sock")
    settings.PAAS_ROUTER_ADMIN = "unix//run/paas/admin.sock"  # Caddy's own spelling works too
    assert admin_socket() == Path("/run/paas/admin.sock")


@pytest.mark.parametrize("value", ["localhost:2019", "127.0.0.1:2019", "router/admin.sock", "/" + "x" * 120])
def test_an_admin_address_that_is_not_a_usable_socket_path_is_refused(settings, value):
    settings.PAAS_ROUTER_ADMIN = value
    with pytest.raises(RouterError, match="PAAS_ROUTER_ADMIN"):
        admin_socket()
    settings.PAAS_ROUTER = "caddy"
    assert router.router_answers() is False  # and nothing is asked over TCP


def test_the_platform_reads_and_loads_the_routes_over_the_socket(fake_caddy):
    seen, state = fake_caddy
    assert router.router_answers()
    assert router.router_current() == {"apps": {}}
    config = caddy_config(RouteTable((Route("hello.localhost", "hello", ("127.0.0.1:40000",)),)))
    router.router_load(config)
    assert state["config"] == config
    assert [(method, path) for method, path, _, _ in seen] == [
        ("GET", "/config/"),
        ("GET", "/config/"),
        ("POST", "/load"),
    ]
    assert {host for _, _, host, _ in seen} == {""}  # the only Host Caddy 2.6 accepts on a Unix socket


def test_routes_the_router_refuses_raise_its_reason(fake_caddy):
    _, state = fake_caddy
    state["refuse"] = "loading config: unknown handler"
    with pytest.raises(RouterError, match="caddy refused the routes: .*unknown handler"):
        router.router_load(caddy_config(RouteTable()))


def test_a_router_that_does_not_answer_is_reported_down(settings, tmp_path):
    settings.PAAS_ROUTER = "caddy"
    settings.PAAS_ROUTER_ADMIN = str(tmp_path / "admin.sock")
    assert router.router_answers() is False
    assert router.router_current() is None


ROUTER_USER = pwd.struct_passwd(("paas-router", "x", 4242, 4243, "", "/nonexistent", "/usr/sbin/nologin"))


def test_caddy_runs_as_the_router_user_without_capabilities_on_a_high_port(settings):
    settings.PAAS_ROUTER_PORT = 8080
    command = router_command("/usr/bin/caddy", ROUTER_USER)
    assert Path(command[0]).name == "setpriv"
    assert {"--reuid=4242", "--regid=4243", "--clear-groups", "--no-new-privs", "--bounding-set=-all"} <= set(command)
    assert not [option for option in command if "caps" in option]
    assert command[command.index("--") + 1 :] == ["/usr/bin/caddy", "run", "--config", "-"]


def test_caddy_may_bind_a_port_below_1024_and_nothing_else(settings):
    settings.PAAS_ROUTER_PORT = 80
    command = router_command("/usr/bin/caddy", ROUTER_USER)
    assert "--ambient-caps=+net_bind_service" in command and "--inh-caps=+net_bind_service" in command
    assert "--bounding-set=-all,+net_bind_service" in command
    assert "--no-new-privs" in command and "--reuid=4242" in command


def test_a_platform_that_is_not_root_runs_caddy_as_itself():
    assert router_command("/usr/bin/caddy", None) == ["/usr/bin/caddy", "run", "--config", "-"]


def test_the_router_never_takes_a_directory_that_holds_someone_elses_files(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "secret.key").write_text("not the router's")
    with pytest.raises(RouterError, match="not the router's own directory"):
        router._router_home(shared, ROUTER_USER)
    assert shared.stat().st_uid == os.geteuid()


@pytest.mark.skipif(os.geteuid() != 0, reason="gives the directory to another user")
def test_the_router_directory_is_the_router_users_alone(tmp_path):
    home = tmp_path / "router"
    router._router_home(home, ROUTER_USER)
    status = home.stat()
    assert (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) == (4242, 4243, 0o700)


# End to end: the Caddy that `paas up` started.


def _caddy_pid(platform) -> int:
    """The process listening on the router port."""
    listening = subprocess.run(
        ["ss", "-H", "-ltnp", f"sport = :{platform.router_port}"], capture_output=True, text=True, check=True
    )
    found = re.search(r"pid=(\d+)", listening.stdout)
    assert found, listening.stdout
    return int(found.group(1))


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _curl(socket_path: Path, *args: str, as_nobody: bool = False) -> subprocess.CompletedProcess:
    """curl on the admin socket, as root or as `nobody` (an unprivileged local user)."""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if as_nobody else []
    curl = ["curl", "-sS", "-f", "-m", "5", "--unix-socket", str(socket_path), "-H", "Host;", *args]
    return subprocess.run([*nobody, *curl], capture_output=True, text=True)


@pytest.mark.e2e
def test_only_root_can_use_the_admin_socket_and_no_tcp_port_serves_it(platform):
    socket_path = platform.admin_socket
    status = os.lstat(socket_path)
    assert stat.S_ISSOCK(status.st_mode) and stat.S_IMODE(status.st_mode) == 0o600
    assert status.st_uid != 0  # the router user's, in its own 0700 directory
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    answer, config = router_admin("GET", "/config/", socket_path=socket_path)  # root, as the platform
    assert answer == 200 and b"unix/admin.sock" in config
    assert _curl(socket_path, "http://localhost/config/").returncode == 0  # root's curl gets in

    load = ["-X", "POST", "-H", "Content-Type: application/json", "-d", json.dumps(FILE_SERVER_CONFIG)]
    refused = _curl(socket_path, *load, "http://localhost/load", as_nobody=True)
    assert refused.returncode != 0, refused.stdout
    assert _curl(socket_path, "http://localhost/config/", as_nobody=True).returncode != 0
    assert "file_server" not in router_admin("GET", "/config/", socket_path=socket_path)[1].decode()

    pid = _caddy_pid(platform)
    listening = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True, check=True).stdout
    ports = {int(line.split()[3].rsplit(":", 1)[1]) for line in listening.splitlines() if f"pid={pid}," in line}
    assert ports == {platform.router_port, platform.router_tls_port}  # HTTP and HTTPS, and no admin port


@pytest.mark.e2e
def test_caddy_runs_without_root_and_without_the_platforms_environment(platform):
    pid = _caddy_pid(platform)
    status = _status(pid)
    assert "0" not in status["Uid"].split() and "0" not in status["Gid"].split(), status["Uid"]
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0  # a router port above 1024
    assert status["NoNewPrivs"] == "1"
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not [variable for variable in environment if variable.startswith((b"PAAS_", b"DATABASE_URL"))]
