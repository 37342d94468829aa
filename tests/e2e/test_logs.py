"""`paas logs` on real Docker: lines outlive their containers and deploys, crashes are told, and following goes on
across a deploy without reconnecting."""

import contextlib
import socket
import threading
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import commit, eventually, ok

pytestmark = pytest.mark.e2e

LOGGER = """\
import os

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    print(f"served {GREETING} by {os.environ['DYNO']}", flush=True)
    return f"{GREETING}\\n"
"""
CRASHER = """\
import sys

print("worker giving up on purpose", file=sys.stderr, flush=True)
sys.exit(1)
"""


def write_logger(directory: Path, greeting: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "app.py").write_text(f"GREETING = {greeting!r}\n" + LOGGER)
    (directory / "crash.py").write_text(CRASHER)
    (directory / "requirements.txt").write_text("flask\ngunicorn\n")
    (directory / "Procfile").write_text("web: gunicorn --bind 0.0.0.0:$PORT app:app\nworker: python crash.py\n")


class Follower(threading.Thread):
    """`GET /api/apps/APP/logs/?follow=1` over one connection, recording each line as it arrives."""

    def __init__(self, platform, app: str):
        super().__init__(daemon=True)
        url = f"{platform.url}/api/apps/{app}/logs/?lines=0&follow=1"
        self.request = urllib.request.Request(url, headers={"Authorization": f"Token {platform.token()}"})
        self.lines: list[str] = []
        self.response = None

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.request, timeout=600) as self.response:
                for line in self.response:
                    self.lines.append(line.decode())
        except (OSError, ValueError, AttributeError):  # closed by the test (from its thread)
            pass

    def seen(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self) -> None:
        """Ends the connection from the test's thread. Its socket is shut down first: closing the response alone
        waits for the reading thread, which waits for a line that may never come."""
        with contextlib.suppress(OSError, AttributeError):
            self.response.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        self.join(timeout=10)


def _push(platform, source: Path, version: int) -> None:
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    assert f"v{version} deployed" in push.stderr


def test_logs_outlive_deploys_tell_crashes_and_follow_across_a_deploy(logged_in):
    platform = logged_in
    source = platform.root / "chatty"
    write_logger(source, "v1 greeting")
    commit(platform, source, "first")
    ok(platform.paas("create", "chatty", cwd=source))
    _push(platform, source, 1)
    assert platform.curl("chatty") == "v1 greeting\n"
    assert eventually(
        lambda: "web.1 v1 stdout: served v1 greeting by web.1" in ok(platform.paas("logs", "-a", "chatty"))
    )

    follower = Follower(platform, "chatty")
    follower.start()
    time.sleep(1)
    write_logger(source, "v2 greeting")
    commit(platform, source, "second")
    _push(platform, source, 2)
    assert platform.curl("chatty") == "v2 greeting\n"
    assert eventually(lambda: follower.seen("web.1 v2 stdout: served v2 greeting by web.1"), timeout=15), follower.lines
    assert eventually(lambda: follower.seen("paas[deploy]: v2 deployed"), timeout=5), follower.lines
    assert follower.is_alive()  # the same connection, still open

    engine = docker.from_env()
    labels = ["paas.app=chatty", f"paas.instance={platform.instance()}"]
    assert eventually(lambda: len(engine.containers.list(all=True, filters={"label": labels})) == 1)
    shown = ok(platform.paas("logs", "-a", "chatty", "-n", "1000"))
    assert "web.1 v1 stdout: served v1 greeting by web.1" in shown  # its container is gone
    assert "web.1 v2 stdout: served v2 greeting by web.1" in shown
    assert "paas[deploy]: deploying v2" in shown and "paas[deploy]: v2 deployed" in shown

    ok(platform.paas("scale", "worker=1", "--no-wait", "-a", "chatty"))
    crashed = "paas[scheduler]: worker.1 crashed, exit 1, restarting in"
    assert eventually(lambda: crashed in ok(platform.paas("logs", "-p", "worker", "-a", "chatty")), timeout=60)
    worker = ok(platform.paas("logs", "-p", "worker", "-a", "chatty"))
    assert "worker.1 v2 stderr: worker giving up on purpose" in worker and "web.1" not in worker.replace(crashed, "")
    assert eventually(lambda: follower.seen(crashed), timeout=5), follower.lines[-5:]
    ok(platform.paas("scale", "worker=0", "--no-wait", "-a", "chatty"))
    follower.stop()
    _restart_goes_on_without_repeating(platform)


def _restart_goes_on_without_repeating(platform) -> None:
    """A `paas up` that stops and starts again adopts the running job: its lines go on, none written twice."""
    served = "web.1 v2 stdout: served v2 greeting by web.1"
    assert platform.stop() == 0
    assert platform.curl("chatty") == "v2 greeting\n"  # while nothing collects: Docker keeps it
    platform.start()
    assert platform.curl("chatty") == "v2 greeting\n"
    logs = lambda: ok(platform.paas("logs", "-n", "1000", "-a", "chatty"))  # noqa: E731
    assert eventually(lambda: logs().count(served) == 3), logs()
    time.sleep(3)  # more passes: nothing is copied again
    assert logs().count(served) == 3 and logs().count("[INFO] Starting gunicorn") == 2
