"""Deploy hooks on the real platform: a push's deploy reaches a local receiver as a signed JSON POST."""

import hashlib
import hmac
import http.server
import json
import threading

import pytest

from tests.e2e.conftest import commit, eventually, ok, web_app

pytestmark = pytest.mark.e2e


class Receiver(http.server.BaseHTTPRequestHandler):
    """A CI server, say: records what it is sent."""

    received: list[tuple[dict, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_push_tells_the_apps_hook_of_its_deploy_signed_with_the_hooks_secret(logged_in):
    platform = logged_in
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        source = platform.root / "hooked"
        source.mkdir()
        (source / "app.py").write_text(web_app("hooked {PAAS_RELEASE}"))
        (source / "requirements.txt").write_text("")
        (source / "Procfile").write_text("web: python app.py\n")
        commit(platform, source, "first")
        ok(platform.paas("create", "hooked", cwd=source))
        url = f"http://127.0.0.1:{server.server_address[1]}/paas"
        added = ok(platform.paas("hooks", "add", url, "--events", "deploy", "-a", "hooked"))
        secret = added.rsplit(": ", 1)[1].strip()
        push = platform.git("push", "paas", "main", cwd=source)
        assert push.returncode == 0, push.stderr
        assert eventually(lambda: Receiver.received, timeout=30), ok(
            platform.paas("hooks", "deliveries", "-a", "hooked")
        )
        headers, body = Receiver.received[0]
        assert headers["X-Paas-Event"] == "deploy"
        assert hmac.compare_digest(
            headers["X-Paas-Signature"], "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        )
        payload = json.loads(body)
        assert payload["app"] == "hooked" and payload["release"]["version"] == 1
        deliveries = eventually(
            lambda: "delivered" in (out := ok(platform.paas("hooks", "deliveries", "-a", "hooked"))) and out
        )
        assert "deploy" in deliveries and "204" in deliveries
    finally:
        server.shutdown()
