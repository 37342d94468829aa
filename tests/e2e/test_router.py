"""The router on real Caddy and Docker: custom and wildcard domains, HTTPS with the router's CA and with a user's
certificate, the HTTP-to-HTTPS redirect, and what the proxy tells the app."""

import http.client
import json
import socket
import ssl
import threading
import time

import pytest

from tests.e2e.conftest import commit, eventually, ok
from tests.router.certs import certificate_pem

pytestmark = pytest.mark.e2e

APP = "routed"
ECHO = """\
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def _get(platform, host: str, path: str = "/", *, tls: bool = False, context=None, headers=None):
    """GET through the router as a client that resolved `host` to it: (status, headers, body)."""
    port = platform.router_tls_port if tls else platform.router_port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    if tls:  # the TLS handshake names `host` (SNI), as a browser that resolved it would
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        connection.sock = context.wrap_socket(raw, server_hostname=host)
    try:
        connection.request("GET", path, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode(errors="replace")
    finally:
        connection.close()


def _app_pushed(platform, app: str, script: str, code: str) -> None:
    """Creates `app` and pushes a stdlib web process: `code` in `script`, run by the Procfile."""
    source = platform.root / app
    source.mkdir()
    (source / script).write_text(code)
    (source / "Procfile").write_text(f"web: python3 {script}\n")
    commit(platform, source, app)
    ok(platform.paas("create", app, cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr


def _trusting(cafile) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


def _peer_certificate(platform, host: str) -> bytes | None:
    """The certificate the router presents for `host` (DER), whoever signed it; None while it has none."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", platform.router_tls_port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=host) as wrapped:
                return wrapped.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return None


@pytest.fixture(scope="module")
def routed(logged_in):
    platform = logged_in
    _app_pushed(platform, APP, "echo.py", ECHO)
    return platform


def test_custom_and_wildcard_domains_route_to_the_app_and_others_get_404(routed):
    platform = routed
    assert "answers at www.example.test" in ok(platform.paas("domains", "add", "www.example.test", "-a", APP))
    ok(platform.paas("domains", "add", "*.wild.test", "-a", APP))
    assert eventually(lambda: _get(platform, "www.example.test")[0] == 200)
    assert eventually(lambda: _get(platform, "shop.wild.test", "/hello")[0] == 200)  # the next pass, perhaps
    status, _, body = _get(platform, "shop.wild.test", "/hello")
    assert status == 200 and json.loads(body)["path"] == "/hello"
    status, _, body = _get(platform, "a.b.wild.test")
    assert status == 404 and "paas domains add" in body
    listed = platform.paas_json("domains", "-a", APP)
    assert [(domain["name"], domain["kind"]) for domain in listed] == [
        (f"{APP}.localhost", "default"),
        ("*.wild.test", "custom"),
        ("www.example.test", "custom"),
    ]


def test_the_app_is_told_who_asked_and_every_request_has_an_id(routed):
    platform = routed
    status, headers, body = _get(platform, f"{APP}.localhost")
    seen = json.loads(body)["headers"]
    assert status == 200
    assert seen["X-Forwarded-For"] == "127.0.0.1" and seen["X-Forwarded-Proto"] == "http"
    assert seen["X-Forwarded-Host"] == f"{APP}.localhost"
    assert len(seen["X-Request-Id"]) == 36 and headers["X-Request-Id"] == seen["X-Request-Id"]
    _, headers, body = _get(platform, f"{APP}.localhost", headers={"X-Request-Id": "from-the-client-1"})
    assert json.loads(body)["headers"]["X-Request-Id"] == "from-the-client-1" == headers["X-Request-Id"]


def test_https_with_the_routers_ca_out_of_the_box(routed):
    platform = routed
    ok(platform.paas("domains", "add", "secure.example.test", "-a", APP))
    ca = platform.data_dir / "router-ca.crt"
    assert eventually(ca.exists, timeout=30), platform.log()

    def answers() -> bool:
        try:
            return _get(platform, "secure.example.test", tls=True, context=_trusting(ca))[0] == 200
        except (ssl.SSLError, OSError):
            return False

    assert eventually(answers, timeout=30), platform.log()
    status, _, body = _get(platform, f"{APP}.localhost", tls=True, context=_trusting(ca))
    assert status == 200 and json.loads(body)["headers"]["X-Forwarded-Proto"] == "https"
    listed = {domain["name"]: domain for domain in platform.paas_json("domains", "-a", APP)}
    assert listed["secure.example.test"]["certificate"] == "internal"
    assert eventually(lambda: platform.paas_json("domains", "-a", APP)[0]["expires_at"] is not None)


def test_a_users_own_certificate_is_served_for_its_domain(routed):
    platform = routed
    ok(platform.paas("domains", "add", "own.example.test", "-a", APP))
    cert, key = certificate_pem("own.example.test")
    (platform.root / "own.crt").write_text(cert)
    (platform.root / "own.key").write_text(key)
    files = [str(platform.root / "own.crt"), str(platform.root / "own.key")]
    result = platform.paas("certs", "add", "own.example.test", *files, "-a", APP)
    assert result.exit_code == 0, result.output
    assert "is served with your certificate" in result.output
    expected = ssl.PEM_cert_to_DER_cert(cert)
    assert eventually(lambda: _peer_certificate(platform, "own.example.test") == expected, timeout=30)
    status, _, _ = _get(platform, "own.example.test", tls=True, context=_trusting(platform.root / "own.crt"))
    assert status == 200
    listed = {domain["name"]: domain for domain in platform.paas_json("domains", "-a", APP)}
    assert listed["own.example.test"]["certificate"] == "own" and listed["own.example.test"]["expires_at"]


def test_plain_http_is_redirected_to_https_once_asked(routed):
    platform = routed
    ok(platform.paas("domains", "redirect", "on", "-a", APP))

    def redirected() -> bool:
        status, headers, _ = _get(platform, "www.example.test", "/shop?x=1")
        location = f"https://www.example.test:{platform.router_tls_port}/shop?x=1"
        return status == 308 and headers.get("Location") == location

    assert eventually(redirected)
    ok(platform.paas("domains", "redirect", "off", "-a", APP))
    assert eventually(lambda: _get(platform, "www.example.test")[0] == 200)


def test_metrics_count_the_requests_made_and_access_lines_join_the_apps_log(routed):
    platform = routed
    _app_pushed(platform, "counted", "echo.py", ECHO)
    for number in range(37):
        assert _get(platform, "counted.localhost", f"/counted-{number}")[0] == 200
    assert _get(platform, "counted.localhost", tls=False, headers={"X-Request-Id": "rid-counted"})[0] == 200

    def counted() -> int:
        minutes = platform.paas_json("metrics", "--minutes", "10", "-a", "counted")["minutes"]
        return sum(minute["requests"] for minute in minutes)

    assert eventually(lambda: counted() == 38, timeout=30), counted()
    busiest = max(platform.paas_json("metrics", "-a", "counted")["minutes"], key=lambda minute: minute["requests"])
    assert busiest["p50_ms"] is not None and busiest["error_rate"] == 0
    logged = ok(platform.paas("logs", "-n", "200", "-a", "counted"))
    assert sum(f"router: GET /counted-{number} 200 " in logged for number in range(37)) == 37
    assert "request_id=rid-counted" in logged
    access_lines = [line for line in logged.splitlines() if "router: GET /counted-" in line]
    assert all(" web.1 request_id=" in line for line in access_lines), access_lines[:3]  # the job that answered
    table = ok(platform.paas("metrics", "-a", "counted"))
    assert "req/s" in table and "-- v1" in table


WEBSOCKET = """\
import base64
import hashlib
import os
import signal
import struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

signal.signal(signal.SIGTERM, lambda *_: None)  # as an app that drains: it serves its sockets until its grace ends
RELEASE = os.environ["PAAS_RELEASE"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() != "websocket":
            body = RELEASE.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        accept = hashlib.sha1((self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(accept.digest()).decode())
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2 or head[0] & 0x0F == 8:
                return
            length = head[1] & 0x7F
            mask = self.rfile.read(4)
            data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(self.rfile.read(length)))
            reply = f"{RELEASE}: {data.decode()}".encode()
            self.wfile.write(struct.pack("!BB", 0x81, len(reply)) + reply)
            self.wfile.flush()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


class WebSocket:
    """A WebSocket client through the router, enough for short text messages."""

    def __init__(self, platform, host: str):
        self.sock = socket.create_connection(("127.0.0.1", platform.router_port), timeout=10)
        self.sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.reader = self.sock.makefile("rb")
        status = self.reader.readline()
        assert b" 101 " in status, status
        while self.reader.readline() not in (b"\r\n", b""):
            pass

    def ask(self, text: str) -> str:
        data = text.encode()
        mask = b"\x01\x02\x03\x04"
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
        self.sock.sendall(bytes([0x81, 0x80 | len(data)]) + mask + masked)
        head = self.reader.read(2)
        assert len(head) == 2, "the connection was closed"
        return self.reader.read(head[1] & 0x7F).decode()

    def close(self) -> None:
        self.sock.close()


def test_a_websocket_stays_open_through_a_deploy_until_its_job_has_had_its_grace(routed):
    platform = routed
    _app_pushed(platform, "sockets", "ws.py", WEBSOCKET)
    opened = WebSocket(platform, "sockets.localhost")
    try:
        assert opened.ask("hello") == "v1: hello"
        assert "v2 is live" in ok(platform.paas("env", "set", "COLOUR=blue", "-a", "sockets"))  # a deploy: a reload
        assert eventually(lambda: _get(platform, "sockets.localhost")[2] == "v2")
        assert opened.ask("still there?") == "v1: still there?"  # the same connection, to the job being replaced
    finally:
        opened.close()
    fresh = WebSocket(platform, "sockets.localhost")
    assert fresh.ask("hi") == "v2: hi"
    fresh.close()


ONE_AT_A_TIME = """\
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

RELEASE = os.environ["PAAS_RELEASE"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(4)
        body = f"{RELEASE} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()  # one request at a time; SIGTERM kills
"""


def test_a_replaced_job_is_stopped_only_once_the_requests_sent_to_it_are_answered(routed):
    platform = routed
    _app_pushed(platform, "queued", "serial.py", ONE_AT_A_TIME)
    answers = {}

    def ask(path: str) -> None:
        try:
            answers[path] = _get(platform, "queued.localhost", path)[::2]
        except OSError as error:
            answers[path] = (0, str(error))

    slow = threading.Thread(target=ask, args=("/slow",))
    slow.start()
    time.sleep(0.5)
    queued = threading.Thread(target=ask, args=("/queued",))  # waits in the job's accept queue behind /slow
    queued.start()
    time.sleep(0.5)
    assert "v2 is live" in ok(platform.paas("env", "set", "COLOUR=blue", "-a", "queued"))  # the router switches
    assert slow.is_alive()  # still being answered by v1: the switch came first
    slow.join(timeout=30)
    queued.join(timeout=30)
    assert answers == {"/slow": (200, "v1 /slow"), "/queued": (200, "v1 /queued")}
    assert _get(platform, "queued.localhost")[::2] == (200, "v2 /")


EVENTS = """\
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RELEASE = os.environ["PAAS_RELEASE"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for count in range(10_000):
            self.wfile.write(f"data: {RELEASE} {count}\\n\\n".encode())
            self.wfile.flush()
            time.sleep(0.2)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_server_sent_events_flow_as_sent_and_outlive_a_deploy(routed):
    platform = routed
    _app_pushed(platform, "events", "events.py", EVENTS)
    connection = http.client.HTTPConnection("127.0.0.1", platform.router_port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": "events.localhost", "Accept": "text/event-stream"})
        stream = connection.getresponse()
        assert stream.getheader("Content-Type") == "text/event-stream"

        def event() -> str:
            line = b"\n"
            while line.strip() == b"":  # the blank line that ends each event
                line = stream.readline()
            return line.decode().strip()

        assert event() == "data: v1 0"  # each event as it is sent, not when a buffer fills
        assert "v2 is live" in ok(platform.paas("env", "set", "COLOUR=blue", "-a", "events"))
        assert event().startswith("data: v1 ")  # the same stream, from the job being replaced
    finally:
        connection.close()
