"""The HTTP router: Caddy, configured through its admin API with the whole route table at once.

Each pass computes the route table from the database (scheduler.routes: every app's names, its healthy
web jobs on hosts that are up, the users' certificates), turns it into Caddy's configuration, and loads
it when Caddy holds another; a Caddy that stopped answering is started again. Caddy runs as its own
process, so apps keep serving while the control plane is stopped. PAAS_ROUTER=memory keeps the table in
memory instead, for unit tests.

Caddy runs as its own unprivileged user (PAAS_ROUTER_USER), which may bind ports below 1024 only when the
router port is one, and its admin API listens only on a Unix socket (PAAS_ROUTER_ADMIN), 0600 in a directory
that is the router user's own: no other local user can reconfigure it. Caddy runs in that directory and names
its socket and state relative to it, so it needs no access to the private DATA_DIR above it.
"""

import contextlib
import dataclasses
import http.client
import json
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from apps.selectors import app_url
from scheduler.models import Job
from scheduler.routes import Route, RouteTable, route_table

log = logging.getLogger("paas.router")

SOCKET_PATH_MAX = 107  # bytes: a Unix socket address holds 108, with the closing NUL
ACCESS_LOG = "access.log"  # in the router's directory: one JSON line per request
ACCESS_LOGGER = "http.log.access.paas"
DRAINING_MATCH = [{"expression": "false"}]  # the route of draining upstreams: no request matches it
CA_COPY = "router-ca.crt"  # in DATA_DIR: the root certificate of the router's own CA, for clients to trust
_CA_ROOT = Path("data") / "caddy" / "pki" / "authorities" / "local" / "root.crt"  # under the router's directory
_CERTIFICATES = Path("data") / "caddy" / "certificates"  # the router's own certificates, by issuer then name
# Names no public CA issues certificates for: they get the router's own, even with PAAS_ACME_EMAIL set.
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".test", ".example", ".invalid", ".lan", ".home.arpa")


class RouterError(Exception):
    """The router could not start, or would not take a configuration; the message says why (in Caddy's words)."""


ADMIN_ERRORS = (OSError, http.client.HTTPException, RouterError)  # the admin API did not answer, or refused


class MemoryRouter:
    """The router of unit tests: holds the route table it was given, and has the requests in flight a test sets."""

    table: RouteTable | None = None  # what it holds, for every instance (a restarted router: None)
    requests: dict[str, int] = {}  # upstream -> requests in flight to it, as a test sets them

    def holds(self, table: RouteTable) -> bool:
        return table.held_by(MemoryRouter.table)

    def load(self, table: RouteTable) -> None:
        MemoryRouter.table = table

    def in_flight(self) -> dict[str, int]:
        return dict(MemoryRouter.requests)


class CaddyRouter:
    """Caddy, configured whole through its admin API; one that stopped answering is started again."""

    def holds(self, table: RouteTable) -> bool:
        if not (Path(settings.DATA_DIR) / CA_COPY).exists():
            router_ca_copy()  # made with the first configuration that has a name
        current = router_current()
        held = dataclasses.replace(table, draining=_draining_in(current))
        return current == caddy_config(held) and table.held_by(held)

    def load(self, table: RouteTable) -> None:
        if not router_answers():
            log.warning("router: %s", router_start())  # adopts it again if it only missed one call
        router_load(caddy_config(table))

    def in_flight(self) -> dict[str, int]:
        """Upstream address -> requests Caddy is proxying to it now, those of a configuration it has just replaced
        included (Caddy's upstream pool is shared by its configurations)."""
        status, answer = router_admin("GET", "/reverse_proxy/upstreams", timeout=1)
        try:
            listed = json.loads(answer) if status == 200 else None
            if not isinstance(listed, list):
                raise ValueError(f"status {status}, {answer[:200]!r}")
            return {entry["address"]: int(entry["num_requests"]) for entry in listed if entry["num_requests"]}
        except (ValueError, KeyError, TypeError) as error:
            raise RouterError(f"caddy did not list its upstreams: {error}") from error


def router() -> MemoryRouter | CaddyRouter:
    """The router PAAS_ROUTER names: "caddy", or "memory" for unit tests."""
    return MemoryRouter() if settings.PAAS_ROUTER == "memory" else CaddyRouter()


def acme_issues_for(host: str) -> bool:
    """Whether the router gets `host`'s certificate from ACME: PAAS_ACME_EMAIL is set, and it is a public name that
    a CA can check over HTTP (no wildcard, no private suffix)."""
    private = host.startswith("*.") or host.endswith(_PRIVATE_SUFFIXES) or "." not in host
    return bool(settings.PAAS_ACME_EMAIL) and not private


def caddy_config(table: RouteTable) -> dict:
    """The full Caddy configuration for a route table: plain HTTP on PAAS_ROUTER_PORT, HTTPS on
    PAAS_ROUTER_TLS_PORT, the same routes on both (but for redirects), and the certificates they need."""
    servers = {
        "paas": _caddy_server(table, settings.PAAS_ROUTER_PORT, tls=False),
        "paas-tls": _caddy_server(table, settings.PAAS_ROUTER_TLS_PORT, tls=True),
    }
    return {
        # Relative to Caddy's working directory, which is the socket's: Caddy needs no path through DATA_DIR.
        "admin": {"listen": f"unix/{_admin_path().name}", "config": {"persist": False}},
        "logging": _caddy_logging(),
        "apps": {
            "http": {"servers": servers},
            "tls": _caddy_tls(table),
            "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
        },
    }


def _caddy_logging() -> dict:
    """Access lines (JSON, one per request) go to ACCESS_LOG in Caddy's directory, for scheduler.traffic; Caddy's
    own messages to its standard error, as before."""
    writer = {"output": "file", "filename": ACCESS_LOG, "roll_size_mb": 50, "roll_keep": 2}
    # Without the headers, which nothing reads (the request id is a field of its own): a line a third the size,
    # and less of the router's time spent writing it.
    unread = {field: {"filter": "delete"} for field in ("request>headers", "resp_headers")}
    encoder = {"format": "filter", "wrap": {"format": "json"}, "fields": unread}
    return {
        "logs": {
            "default": {"exclude": [ACCESS_LOGGER]},
            "access": {"writer": writer, "encoder": encoder, "include": [ACCESS_LOGGER]},
        }
    }


def access_log_path() -> Path:
    """Where Caddy writes its access lines."""
    return _admin_path().parent / ACCESS_LOG


def _caddy_server(table: RouteTable, port: int, *, tls: bool) -> dict:
    not_found = {
        "handler": "static_response",
        "status_code": 404,
        "body": f"No app is deployed at this address. Apps answer at {app_url('APP')}, and at the domains added "
        "with `paas domains add`.\n",
    }
    routes = [*(_caddy_route(route, tls=tls) for route in table.routes), {"handle": [not_found]}]
    if table.draining and not tls:
        routes.append(_caddy_draining(table.draining))
    server = {
        "listen": [f":{port}"],
        "routes": routes,
        "automatic_https": {"disable": True},
        "logs": {"default_logger_name": ACCESS_LOGGER.rpartition(".")[2]},
    }
    if tls:
        server["tls_connection_policies"] = [{}]
    return server


def _draining_in(config: dict | None) -> tuple[str, ...]:
    """The draining upstreams a Caddy configuration names (see _caddy_draining)."""
    try:
        routes = config["apps"]["http"]["servers"]["paas"]["routes"]
        draining = [route for route in routes if route.get("match") == DRAINING_MATCH]
        return tuple(upstream["dial"] for route in draining for upstream in route["handle"][0]["upstreams"])
    except (TypeError, KeyError, IndexError):
        return ()


def _caddy_draining(upstreams: tuple[str, ...]) -> dict:
    """A route no request matches, to the upstreams of jobs being stopped. Caddy counts the requests in flight to
    an upstream only while a configuration names it: one that a reload dropped reads as idle, though the replaced
    configuration may still be waiting on it."""
    proxy = {"handler": "reverse_proxy", "upstreams": [{"dial": address} for address in upstreams]}
    return {"match": DRAINING_MATCH, "handle": [proxy]}


def _caddy_route(route: Route, *, tls: bool) -> dict:
    match = [{"host": [route.host]}]
    if route.redirect_https and not tls:
        port = "" if settings.PAAS_ROUTER_TLS_PORT == 443 else f":{settings.PAAS_ROUTER_TLS_PORT}"
        location = f"https://{{http.request.host}}{port}{{http.request.uri}}"
        redirect = {"handler": "static_response", "status_code": 308, "headers": {"Location": [location]}}
        return {"match": match, "handle": [redirect], "terminal": True}
    if not route.upstreams:
        body = f"{route.app} has no web process running. Scale it up with: paas scale web=1 -a {route.app}\n"
        handler = {"handler": "static_response", "status_code": 503, "body": body}
        return {"match": match, "handle": [_request_id(), handler], "terminal": True}
    proxy = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": address} for address in route.upstreams],
        "load_balancing": {"selection_policy": {"policy": "round_robin"}, "try_duration": "3s"},
        "headers": {"request": {"set": {"X-Forwarded-Host": ["{http.request.host}"]}}},
        # A WebSocket or event stream outlives a reload (every deploy is one) for as long as a job being replaced
        # is given to finish: it ends with its job, not with the configuration that opened it.
        "stream_close_delay": int(settings.PAAS_STOP_GRACE * 1e9),
    }
    upstream = {"handler": "log_append", "key": "upstream", "value": "{http.reverse_proxy.upstream.hostport}"}
    body_limit = {"handler": "request_body", "max_size": settings.PAAS_ROUTER_MAX_BODY}
    return {"match": match, "handle": [_request_id(), body_limit, upstream, proxy], "terminal": True}


def _request_id() -> dict:
    """Gives a request without an X-Request-Id one (a UUID), answers with it, and logs it."""
    absent = [{"not": [{"header": {"X-Request-Id": ["*"]}}]}]
    generate = {"handler": "headers", "request": {"set": {"X-Request-Id": ["{http.request.uuid}"]}}}
    echo = {"handler": "headers", "response": {"set": {"X-Request-Id": ["{http.request.header.X-Request-Id}"]}}}
    logged = {"handler": "log_append", "key": "request_id", "value": "{http.request.header.X-Request-Id}"}
    return {"handler": "subroute", "routes": [{"match": absent, "handle": [generate]}, {"handle": [echo, logged]}]}


def _caddy_tls(table: RouteTable) -> dict:
    """The certificates: the users' own, ACME's for public names when PAAS_ACME_EMAIL is set, the router's CA's
    for every other name."""
    own = {certificate.host for certificate in table.certificates}
    names = sorted({route.host for route in table.routes} - own)
    acme = [name for name in names if acme_issues_for(name)]
    internal = [name for name in names if name not in acme]
    policies = []
    if internal:
        policies.append({"subjects": internal, "issuers": [{"module": "internal"}]})
    if acme:
        policies.append({"subjects": acme, "issuers": [{"module": "acme", "email": settings.PAAS_ACME_EMAIL}]})
    tls: dict = {"automation": {"policies": policies}} if policies else {}
    certificates: dict = {"automate": names} if names else {}
    if table.certificates:
        certificates["load_pem"] = [
            {"certificate": certificate.certificate, "key": certificate.key, "tags": [certificate.host]}
            for certificate in table.certificates
        ]
    if certificates:
        tls["certificates"] = certificates
    return tls


def router_ca_copy() -> Path | None:
    """Copies the root certificate of the router's own CA to DATA_DIR/router-ca.crt (readable by all: it is
    public), once the router has made it; returns the copy's path, or None when there is none yet."""
    root = _admin_path().parent / _CA_ROOT
    target = Path(settings.DATA_DIR) / CA_COPY
    try:
        data = root.read_bytes()
    except OSError:
        return None
    if not target.exists() or target.read_bytes() != data:
        staged = target.with_suffix(".new")
        staged.write_bytes(data)
        staged.chmod(0o644)
        os.replace(staged, target)
    return target


def router_certificate_expiry(host: str):
    """When the router's own certificate for `host` expires (it renews it before then), or None when it has
    none (yet)."""
    from cryptography import x509

    safe = host.replace("*", "wildcard_")
    for path in (_admin_path().parent / _CERTIFICATES).glob(f"*/{safe}/{safe}.crt"):
        try:
            return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc
        except (OSError, ValueError):
            continue
    return None


def _admin_path() -> Path:
    return Path(settings.PAAS_ROUTER_ADMIN.removeprefix("unix/"))  # Caddy's own spelling, unix//path, works too


def admin_socket() -> Path:
    """The Unix socket of Caddy's admin API: PAAS_ROUTER_ADMIN, which must be an absolute path."""
    path = _admin_path()
    if not path.is_absolute():
        raise RouterError(
            f"PAAS_ROUTER_ADMIN must be the absolute path of a Unix socket (Caddy's admin API listens on no TCP "
            f"port), not {settings.PAAS_ROUTER_ADMIN!r}"
        )
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        raise RouterError(f"PAAS_ROUTER_ADMIN is longer than a Unix socket path may be ({SOCKET_PATH_MAX} bytes)")
    return path


class _AdminConnection(http.client.HTTPConnection):
    """HTTP to Caddy's admin API over its Unix socket."""

    def __init__(self, socket_path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(os.fspath(self.socket_path))


def router_admin(
    method: str, path: str, *, body: dict | None = None, socket_path: Path | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    """One request to Caddy's admin API (on PAAS_ROUTER_ADMIN unless `socket_path`); returns the status and body.

    Raises OSError or http.client.HTTPException when nothing answers there.
    """
    connection = _AdminConnection(socket_path or admin_socket(), timeout)
    data = None if body is None else json.dumps(body).encode()
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", "")  # the Host Caddy 2.6 expects on a Unix socket
        if data is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def router_load(config: dict) -> None:
    """Replaces Caddy's whole configuration."""
    status, answer = router_admin("POST", "/load", body=config)
    if status != 200:
        detail = answer.decode(errors="replace").strip()
        raise RouterError(f"caddy refused the routes: {detail or f'status {status}'}")


def router_current() -> dict | None:
    """The configuration Caddy holds now, or None when it does not answer."""
    try:
        status, answer = router_admin("GET", "/config/", timeout=5)
        return json.loads(answer or b"null") if status == 200 else None
    except (*ADMIN_ERRORS, ValueError):
        return None


def router_refresh() -> RouteTable | None:
    """Loads the current route table into this process's router if what it holds differs; returns the table, or None
    when the router did not take it. A controller that does not run the scheduler keeps its router current so."""
    table = route_table()
    backend = router()
    try:
        if not backend.holds(table):
            backend.load(table)
    except ADMIN_ERRORS as error:
        log.warning("router did not take the new routes (%s); retrying on the next pass", error)
        return None
    return table


_marked: set[int] | None = None  # the jobs the last sync of this process marked routed; None: none yet


def router_marks_forget() -> None:
    """Forgets what the last sync marked: this process takes the scheduler over, and another may have marked since."""
    global _marked
    _marked = None


def router_sync() -> None:
    """The scheduler's step: refreshes the router, then marks jobs routed (and no longer routed); when the routed
    jobs are those the last sync marked, nothing is written (a pass with nothing to change writes nothing)."""
    global _marked
    table = router_refresh()
    if table is None:
        return
    routed = {job_id for route in table.routes for job_id in route.job_ids}
    if routed == _marked:
        return
    now = timezone.now()
    Job.objects.filter(pk__in=routed, routed_at__isnull=True).update(routed_at=now, updated_at=now)
    unrouted = Job.objects.filter(routed_at__isnull=False).exclude(pk__in=routed)
    unrouted.update(routed_at=None, unrouted_at=now, updated_at=now)
    _marked = routed


def router_answers() -> bool:
    """Whether a Caddy admin API answers on PAAS_ROUTER_ADMIN."""
    try:
        return router_admin("GET", "/config/", timeout=2)[0] == 200
    except ADMIN_ERRORS:
        return False


MIGRATE_ACCEPT_QUEUES = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def accept_queues_migrate() -> bool:
    """Makes the kernel hand the connections waiting on a closing listener to its successor (tcp_migrate_req).

    Caddy opens a new listener (SO_REUSEPORT) at each configuration change and closes the old one: without this,
    the connections that had just arrived on the old one are reset, a failed request for someone at every deploy.
    It needs root (it is per network namespace); returns whether it is on.
    """
    try:
        if MIGRATE_ACCEPT_QUEUES.read_text().strip() != "1":
            MIGRATE_ACCEPT_QUEUES.write_text("1\n")
    except OSError as error:
        log.warning(
            "cannot set net.ipv4.tcp_migrate_req=1 (%s): a request arriving as the router reloads may be reset; "
            "set it as root (sysctl -w net.ipv4.tcp_migrate_req=1)",
            error,
        )
        return False
    return True


def router_start() -> str:
    """Adopts the Caddy answering on PAAS_ROUTER_ADMIN, or starts one that outlives this process, as the router user."""
    accept_queues_migrate()
    if router_answers():
        return "adopted"
    executable = caddy_executable()
    admin = admin_socket()
    user = _router_user()
    log_path = Path(settings.DATA_DIR) / "router.log"
    caddy = _caddy_spawn(router_command(executable, user), admin, user, log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and caddy.poll() is None:
        if router_answers():
            _socket_protect(admin)
            return "started"
        time.sleep(0.2)
    raise RouterError(f"caddy did not start: {_last_error(log_path)}")


def caddy_executable() -> str:
    """The Caddy the router runs: PAAS_CADDY, else the one installed beside this Python (the platform's own, pinned
    in setup.cfg: one that keeps WebSockets open through a reload), else Caddy on the PATH."""
    candidates = [settings.PAAS_CADDY] if settings.PAAS_CADDY else [str(Path(sys.executable).parent / "caddy"), "caddy"]
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise RouterError(f"caddy is not installed ({' nor '.join(candidates)}); run `make up`, which installs it")


def router_command(executable: str, user: pwd.struct_passwd | None) -> list[str]:
    """How Caddy is run: as `user`, with no capability but binding ports below 1024, and that only when the router
    port is one, and no way to gain any. With no `user` (the platform is not root), as the platform's own user."""
    caddy = [executable, "run", "--config", "-"]  # the first configuration comes on stdin
    if user is None:
        return caddy
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RouterError("setpriv is not installed; it is in util-linux (apt-get install util-linux)")
    low_port = settings.PAAS_ROUTER_PORT < 1024
    capabilities = (
        ["--bounding-set=-all,+net_bind_service", "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service"]
        if low_port
        else ["--bounding-set=-all"]
    )
    identity = [f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--no-new-privs"]
    return [setpriv, *identity, *capabilities, "--", *caddy]


def _router_user() -> pwd.struct_passwd | None:
    """The system user Caddy runs as (PAAS_ROUTER_USER), made when missing; None when the platform is not root."""
    if os.geteuid() != 0:
        return None
    name = settings.PAAS_ROUTER_USER
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
            + ["--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
        )
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            raise RouterError(f"cannot make the router's user {name}: {made.stderr.strip()}") from None
    if user.pw_uid == 0:
        raise RouterError(f"PAAS_ROUTER_USER {name} is root; the router must run as an unprivileged user")
    return user


def _router_home(directory: Path, user: pwd.struct_passwd | None) -> None:
    """Makes the socket's directory the router's own (Caddy's working directory and state): 0700, its user's.

    One that exists must be the router's already, or empty: it is never taken from anyone else.
    """
    uid, gid = (user.pw_uid, user.pw_gid) if user else (os.geteuid(), os.getegid())
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        status = directory.lstat()
        if not stat.S_ISDIR(status.st_mode) or (status.st_uid != uid and any(directory.iterdir())):
            raise RouterError(
                f"{directory} is not the router's own directory; give PAAS_ROUTER_ADMIN a directory of its own"
            ) from None
    os.chown(directory, uid, gid, follow_symlinks=False)
    os.chmod(directory, 0o700)


def _caddy_spawn(command: list[str], admin: Path, user: pwd.struct_passwd | None, log_path: Path) -> subprocess.Popen:
    """Starts Caddy in the socket's directory, with its first configuration on stdin and an environment that holds
    none of the platform's secrets. Its own state goes under that directory, named relative to it."""
    home = admin.parent
    try:
        _router_home(home, user)
        admin.unlink(missing_ok=True)  # left by a Caddy that died: nothing answers on it
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as error:
        raise RouterError(f"cannot prepare the router's directory {home}: {error}") from error
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": ".",
        "XDG_DATA_HOME": "data",
        "XDG_CONFIG_HOME": "config",
        # Its live heap is small, so more garbage between collections costs little memory: collecting once the
        # heap has grown 400% over it (Go's default: 100%) took the router from 0.79x to 0.83-0.86x of the app's
        # own throughput (bench/router.py).
        "GOGC": "400",
    }
    with os.fdopen(log_fd, "ab") as caddy_log:
        caddy = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=caddy_log,
            stderr=subprocess.STDOUT,
            cwd=home,
            env=env,
            umask=0o077,
            start_new_session=True,
        )
    with contextlib.suppress(BrokenPipeError), caddy.stdin:
        caddy.stdin.write(json.dumps(caddy_config(RouteTable())).encode())
    return caddy


def _socket_protect(admin: Path) -> None:
    """Leaves the admin socket 0600: only its owner, the router user, and root may connect (links are refused)."""
    try:
        os.chmod(admin, 0o600, follow_symlinks=False)
    except (OSError, NotImplementedError) as error:
        raise RouterError(f"cannot make the router's admin socket {admin} private: {error}") from error


def _last_error(log_path: Path) -> str:
    """Caddy's own last words, e.g. `listen tcp :8080: bind: address already in use`."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or [f"see {log_path}"])[-1].removeprefix("Error: ")
