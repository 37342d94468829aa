"""How long `paas scale web=N` takes to get N healthy, routed jobs, against starting the same containers by hand.

Runs its own platform (`paas up` on free ports, real Docker and Caddy, as the end-to-end tests do), pushes a tiny
stdlib web app once, sets an HTTP health check and resource limits on it, then for N = 1, 4 and 8:

- paas: `scale web=N` from web=0, timed until the API shows N jobs up (the router is synced in the same pass);
- raw: N `docker run` of the same image, command, limits and port, one after another, each polled until its
  health check path answers 200.

It prints both times and paas/raw as a ratio (lower is better; under 1 means paas is faster than the loop).

    make bench-scale
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.settings")
os.environ.setdefault("PAAS_DATA_DIR", tempfile.mkdtemp(prefix="paas-bench-client-"))  # this process's, unused
django.setup()  # the e2e Platform helper imports the router's admin client

from tests.e2e.conftest import Platform, commit  # noqa: E402 - after Django is set up

SIZES = (1, 4, 8)
APP = "benchapp"
MEMORY, CPUS = "128m", 0.5
SERVER = """\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\\n")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def ok(result) -> str:
    if result.exit_code != 0:
        raise SystemExit(f"paas failed: {result.output}")
    return result.output


def platform_ready(root: Path) -> Platform:
    platform = Platform(root)
    platform.env["PAAS_SCHEDULER_INTERVAL"] = "2"  # the default, as `paas up` runs
    platform.start()
    ok(platform.paas("login", platform.url, input=platform.token() + "\n"))
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(platform.key)]
    subprocess.run(keygen, check=True)
    ok(platform.paas("keys", "add", f"{platform.key}.pub"))
    return platform


def app_pushed(platform: Platform) -> None:
    source = platform.root / APP
    source.mkdir()
    (source / "app.py").write_text(SERVER)
    (source / "requirements.txt").write_text("")
    (source / "Procfile").write_text("web: python app.py\n")
    commit(platform, source, "bench")
    ok(platform.paas("create", APP, cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    if push.returncode != 0:
        raise SystemExit(f"push failed: {push.stderr}")
    ok(platform.paas("checks", "set", "web", "/healthz", "-a", APP))
    ok(platform.paas("limits", "set", "web", f"memory={MEMORY}", f"cpu={CPUS}", "-a", APP))


def api_get(platform: Platform, path: str):
    request = urllib.request.Request(
        f"{platform.url}/api{path}", headers={"Authorization": f"Token {platform.token()}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def jobs_up(platform: Platform) -> list[dict]:
    return [job for job in api_get(platform, f"/apps/{APP}/jobs/") if job["state"] == "up"]


def scale_to_zero(platform: Platform) -> None:
    ok(platform.paas("scale", "web=0", "-a", APP))
    while api_get(platform, f"/apps/{APP}/jobs/"):
        time.sleep(0.2)


def paas_scale(platform: Platform, count: int) -> float:
    scale_to_zero(platform)
    began = time.monotonic()
    ok(platform.paas("scale", f"web={count}", "--no-wait", "-a", APP))
    while len(jobs_up(platform)) < count:
        time.sleep(0.05)
    return time.monotonic() - began


def raw_loop(image: str, count: int) -> float:
    """N containers like the platform's jobs, each started and polled until healthy before the next."""
    names = [f"paas-bench-raw-{index}" for index in range(count)]
    began = time.monotonic()
    for name in names:
        command = ["docker", "run", "-d", "--init", "--name", name, "-e", "PORT=5000", "-p", "127.0.0.1::5000"]
        command += ["--user", "10000:10000", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        command += ["--memory", MEMORY, "--cpus", str(CPUS), "--pids-limit", "512", image, "python app.py"]
        subprocess.run(command, check=True, capture_output=True)
        port = subprocess.run(["docker", "port", name, "5000"], check=True, capture_output=True, text=True)
        _wait_healthy(int(port.stdout.split(":")[-1]))
    took = time.monotonic() - began
    subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
    return took


def _wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"a raw container on port {port} never answered")


def job_image(platform: Platform) -> str:
    [job] = jobs_up(platform)
    inspect = ["docker", "inspect", "--format", "{{.Config.Image}}", job["container_id"]]
    return subprocess.run(inspect, check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    platform = platform_ready(Path(tempfile.mkdtemp(prefix="paas-bench-scale-")))
    try:
        app_pushed(platform)
        image = job_image(platform)
        print(f"scale web=N to N healthy jobs (HTTP check, memory={MEMORY} cpu={CPUS}) vs N raw docker run + ready")
        print(f"{'N':>3}  {'paas':>8}  {'raw':>8}  {'paas/raw':>8}")
        for count in SIZES:
            paas_seconds = paas_scale(platform, count)
            raw_seconds = raw_loop(image, count)
            print(f"{count:>3}  {paas_seconds:>7.2f}s  {raw_seconds:>7.2f}s  {paas_seconds / raw_seconds:>7.2f}x")
    finally:
        platform.cleanup()


if __name__ == "__main__":
    main()
