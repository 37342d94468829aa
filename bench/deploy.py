"""How long a push takes to serve, first and after a one-line code change, against `docker build` + `docker run`.

Runs its own platform (as bench/scale.py does) and, in the same run, for the Flask sample
(tests/apps/python-requirements):

- paas first push: `git push` until the router answers with the new code;
- raw uncached: `docker build --no-cache` of an equivalent Dockerfile FROM the same stack image, `docker run`,
  first 200;
- paas re-push: a one-line change, pushed, until the router answers with it;
- raw cached: the same change, `docker build` with its layer cache, `docker run` (the old container removed), first 200.

It prints the times and paas/raw as ratios (lower is better).

    make bench-deploy
"""

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from django.conf import settings  # noqa: E402
from scale import platform_ready  # noqa: E402 - sets Django up first

from buildpacks.stack import stack_image  # noqa: E402
from tests.e2e.conftest import commit, ok  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "apps" / "python-requirements"
APP = "benchflask"
RAW = "paas-bench-raw-flask"
DOCKERFILE = """\
FROM {stack}
WORKDIR /app
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
COPY requirements.txt .
RUN python3 -m venv /app/.venv && /app/.venv/bin/pip install --progress-bar off -r requirements.txt
COPY . .
USER 10000:10000
CMD ["/app/.venv/bin/gunicorn", "--bind", "0.0.0.0:5000", "app:app"]
"""


def answers(url: str, host: str | None, text: str, timeout: float = 300) -> None:
    """Waits until `url` answers 200 with `text` in its body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, headers={"Host": host} if host else {})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200 and text in response.read().decode():
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"{url} never answered with {text!r}")


def set_version(source: Path, version: str) -> None:
    app = source / "app.py"
    lines = [
        f'VERSION = "{version}"' if line.startswith("VERSION = ") else line for line in app.read_text().splitlines()
    ]
    app.write_text("\n".join(lines) + "\n")


def paas_push(platform, source: Path, version: str) -> float:
    set_version(source, version)
    commit(platform, source, f"v{version}")
    began = time.monotonic()
    push = platform.git("push", "paas", "main", cwd=source)
    if push.returncode != 0:
        raise SystemExit(f"push failed: {push.stderr}")
    answers(f"http://127.0.0.1:{platform.router_port}/", f"{APP}.localhost", f"v{version}")
    return time.monotonic() - began


def raw_deploy(context: Path, version: str, *, cached: bool) -> float:
    set_version(context, version)
    began = time.monotonic()
    build = ["docker", "build", "-q", "-t", f"{RAW}:latest", str(context)]
    subprocess.run(build if cached else [*build[:2], "--no-cache", *build[2:]], check=True, capture_output=True)
    subprocess.run(["docker", "rm", "-f", RAW], capture_output=True)
    run = ["docker", "run", "-d", "--name", RAW, "-p", "127.0.0.1::5000", f"{RAW}:latest"]
    subprocess.run(run, check=True, capture_output=True)
    port = subprocess.run(["docker", "port", RAW, "5000"], check=True, capture_output=True, text=True)
    answers(f"http://127.0.0.1:{port.stdout.split(':')[-1].strip()}/", None, f"v{version}")
    return time.monotonic() - began


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="paas-bench-deploy-"))
    platform = platform_ready(root)
    source, context = root / APP, root / "raw"
    shutil.copytree(SAMPLE, source)
    shutil.copytree(SAMPLE, context)
    (context / "Dockerfile").write_text(DOCKERFILE.format(stack=stack_image()))
    # The CA bundle builds get (PAAS_BUILD_CA_BUNDLE): pip trusts the same roots in both.
    shutil.copyfile(
        settings.PAAS_BUILD_CA_BUNDLE or "/etc/ssl/certs/ca-certificates.crt", context / "ca-certificates.crt"
    )
    try:
        commit(platform, source, "sample")
        ok(platform.paas("create", APP, cwd=source))
        first = paas_push(platform, source, "first")
        raw_first = raw_deploy(context, "first", cached=False)
        again = paas_push(platform, source, "second")
        raw_again = raw_deploy(context, "second", cached=True)
        print("git push to the new code serving (Flask sample) vs raw docker build + docker run + first 200")
        print(f"{'':>20}  {'paas':>8}  {'raw':>8}  {'paas/raw':>8}")
        for name, paas_seconds, raw_seconds in (
            ("first push", first, raw_first),
            ("code-only re-push", again, raw_again),
        ):
            print(f"{name:>20}  {paas_seconds:>7.2f}s  {raw_seconds:>7.2f}s  {paas_seconds / raw_seconds:>7.2f}x")
    finally:
        subprocess.run(["docker", "rm", "-f", RAW], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", f"{RAW}:latest"], capture_output=True)
        platform.cleanup()


if __name__ == "__main__":
    main()
