"""One-off runs and release phases on real Docker, SSH and Caddy: `paas run` streams output and exits with the
command's status, a detached run writes to the logs, an interactive run gets a real terminal through SSH (window
size and Ctrl-C included), and a failing release phase leaves the old release serving."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import docker
import pytest

from tests.e2e.conftest import PAAS, commit, eventually, ok, web_app

pytestmark = pytest.mark.e2e

RELEASE = """\
import os
import sys

print(f"migrating for {os.environ['PAAS_RELEASE']}", flush=True)
print("a warning on stderr", file=sys.stderr, flush=True)
sys.exit(int(os.environ.get("RELEASE_EXIT", "0")))
"""


def write_app(directory: Path, release_phase: bool) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "app.py").write_text(web_app("{GREETING} {PAAS_RELEASE}"))
    (directory / "release.py").write_text(RELEASE)
    (directory / "requirements.txt").write_text("")
    procfile = "web: python app.py\n" + ("release: python release.py\n" if release_phase else "")
    (directory / "Procfile").write_text(procfile)


def deployed(platform, name: str, release_phase: bool = False) -> Path:
    source = platform.root / name
    write_app(source, release_phase)
    commit(platform, source, name)
    ok(platform.paas("create", name, cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    return source


def test_run_streams_output_exits_with_its_status_and_detached_runs_write_to_the_logs(logged_in):
    platform = logged_in
    deployed(platform, "runner")
    ok(platform.paas("env", "set", "GREETING=bonjour", "-a", "runner"))
    script = "import os, sys; print(os.environ['GREETING'], os.environ['DYNO']); sys.exit(7)"
    result = platform.paas("run", "-a", "runner", "--", "python", "-c", f'"{script}"')
    assert result.exit_code == 7, result.output
    assert "bonjour run.1" in result.output
    result = platform.paas("run", "-a", "runner", "-e", "EXTRA=yes", "--", "echo", "$EXTRA", "$PAAS_RELEASE")
    assert result.exit_code == 0 and "yes v2" in result.output, result.output

    output = ok(platform.paas("run", "--detach", "-a", "runner", "--", "sleep 2; echo detached-done"))
    assert "as run.3 (detached)" in output
    assert "run.3" in [job["name"] for job in platform.paas_json("ps", "-a", "runner")]

    def logged():
        return ok(platform.paas("logs", "-p", "run", "-a", "runner"))

    assert eventually(lambda: "run.3 exited with status 0" in logged(), timeout=30), logged()
    assert "run.3 v2 stdout: detached-done" in logged()
    assert "run.3" not in [job["name"] for job in platform.paas_json("ps", "-a", "runner")]
    labels = ["paas.app=runner", "paas.process_type=run", f"paas.instance={platform.instance()}"]
    assert docker.from_env().containers.list(all=True, filters={"label": labels}) == []
    assert platform.curl("runner") == "bonjour v2\n"  # runs are never routed


class Terminal:
    """`paas run bash` in a real pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, platform, app: str, rows: int, columns: int):
        self.master, slave = pty.openpty()
        self.resize(rows, columns)
        env = {**platform.env, **platform._git_env(), "PAAS_CONFIG": str(platform.cli_config)}
        env.pop("PAAS_APP", None)
        self.process = subprocess.Popen(
            [str(PAAS), "run", "-a", app, "-e", "SECRET=s3cret-value", "bash"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.seen = ""

    def resize(self, rows: int, columns: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} not seen; the terminal shows:\n{self.seen[-2000:]}"
            if select.select([self.master], [], [], min(remaining, 0.5))[0]:
                try:
                    self.seen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the other end closed
                    time.sleep(0.1)
        return self.seen

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            os.close(self.master)


def test_an_interactive_run_gets_a_terminal_through_ssh_with_its_size_and_ctrl_c(logged_in):
    platform = logged_in
    deployed(platform, "shell")
    terminal = Terminal(platform, "shell", rows=33, columns=101)
    terminal.type("stty size; tty; echo ready-$((6 * 7)) $SECRET\n")
    terminal.expect("ready-42 s3cret-value")
    assert "33 101" in terminal.seen and "/dev/pts/" in terminal.seen
    [run] = [job for job in platform.paas_json("ps", "-a", "shell") if job["kind"] == "run"]
    assert run["command"] == "bash"  # the variable went apart from the command: not shown with it
    terminal.resize(40, 120)
    time.sleep(0.5)  # ssh forwards the window change when its terminal signals it
    terminal.type("stty size\n")
    terminal.expect("40 120")
    terminal.type("sleep 300; echo slept-$((2 + 3))\n")
    time.sleep(1)
    terminal.type("\x03")  # Ctrl-C reaches the sleep, not the session
    terminal.type("echo after-$((1 + 1))\n")
    terminal.expect("after-2", timeout=10)
    assert "slept-5" not in terminal.seen
    terminal.type("exit 5\n")
    assert terminal.close() == 5
    assert eventually(lambda: not [j for j in platform.paas_json("ps", "-a", "shell") if j["kind"] == "run"])


def test_a_release_phase_runs_before_each_release_and_a_failing_one_leaves_the_old_release_serving(logged_in):
    platform = logged_in
    source = platform.root / "phased"
    write_app(source, release_phase=True)
    commit(platform, source, "with a release phase")
    ok(platform.paas("create", "phased", cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    assert "Running release command: python release.py" in push.stderr
    assert "migrating for v1" in push.stderr and "a warning on stderr" in push.stderr
    assert "v1 deployed" in push.stderr
    assert platform.curl("phased") == "hello v1\n"

    result = platform.paas("env", "set", "RELEASE_EXIT=3", "GREETING=broken", "-a", "phased")
    assert result.exit_code != 0
    assert "Running the release command of v2..." in result.output and "migrating for v2" in result.output
    assert "release command failed: exit status 3" in result.output
    assert platform.curl("phased") == "hello v1\n"
    assert [job["release"] for job in platform.paas_json("ps", "-a", "phased") if job["kind"] == "formation"] == [1]
    events = [event["action"] for event in platform.paas_json("events", "-a", "phased")]
    assert "release_phase.failed" in events

    output = ok(platform.paas("env", "set", "RELEASE_EXIT=0", "GREETING=fixed", "-a", "phased"))
    assert "migrating for v3" in output and "v3 is live." in output
    assert platform.curl("phased") == "fixed v3\n"
    log = ok(platform.paas("logs", "-p", "release", "-a", "phased"))
    assert "release.1 v2 stdout: migrating for v2" in log and "release.1 exited with status 3" in log

    (source / "release.py").write_text("import sys\nprint('broken migration')\nsys.exit(1)\n")
    commit(platform, source, "a migration that fails")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "broken migration" in push.stderr and "release command failed: exit status 1" in push.stderr
    assert platform.curl("phased") == "fixed v3\n"
    assert eventually(lambda: platform.curl("phased") == "fixed v3\n")

    result = platform.paas("scale", "release=1", "-a", "phased")
    assert result.exit_code != 0 and "runs once per deploy" in result.output
