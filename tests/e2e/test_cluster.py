"""Past one machine, on the real parts: a controller, a builder and two agents on PostgreSQL and Redis, each agent
driving a Docker engine of its own; a push built on one host runs on both, a host that goes away loses its jobs to
the other, and a controller that dies mid-deploy is replaced by another that finishes it."""

import shutil
import signal
import subprocess
import time
from collections import Counter

import docker
import pytest

from buildpacks.stack import stack_image
from tests.e2e.cluster import Cluster
from tests.e2e.conftest import LoadLoop, commit, eventually, ok, web_app

pytestmark = pytest.mark.e2e

MOVE_WITHIN = 60  # seconds from a host's loss until its jobs run elsewhere


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        running.start(stack_image())
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        running.cleanup()


@pytest.fixture(scope="module")
def app(cluster):
    """The app `spread`, pushed once, answering with the container it runs in."""
    platform = cluster.platform
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e@paas", "-f", str(platform.key)]
    subprocess.run(keygen, check=True)
    assert platform.paas("keys", "add", f"{platform.key}.pub").exit_code == 0
    source = platform.root / "spread"
    source.mkdir()
    (source / "app.py").write_text(web_app("{PAAS_RELEASE} in {HOSTNAME}"))
    (source / "requirements.txt").write_text("")
    procfile = 'web: echo "booting $DYNO in $HOSTNAME"; sleep ${BOOT_SECONDS:-0}; exec python app.py\n'
    (source / "Procfile").write_text(procfile)
    commit(platform, source, "first")
    assert platform.paas("create", "spread", cwd=source).exit_code == 0, cluster.logs()
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0 and "v1 deployed" in push.stderr, push.stderr + cluster.logs()
    return source


def _jobs(cluster, state: str = "up") -> list[dict]:
    jobs = cluster.platform.paas_json("ps", "-a", "spread")
    return [job for job in jobs if job["state"] == state and job["kind"] == "formation"]


def _per_host(cluster) -> Counter:
    return Counter(job["host"] for job in _jobs(cluster))


def _running_containers(client, instance: str) -> list:
    """The running job containers of the platform on an engine, as listed (none inspected: they come and go)."""
    return client.api.containers(filters={"label": [f"paas.instance={instance}", "paas.job"]})


def test_agents_register_their_hosts_with_capacity(cluster):
    hosts = {host["name"]: host for host in cluster.platform.paas_json("hosts")}
    assert set(hosts) == {"one", "two"}
    for host in hosts.values():
        assert host["state"] == "up" and host["agent"] and host["memory"] > 0 and host["cpus"] > 0
    assert hosts["two"]["address"] == cluster.engine.gateway  # the router reaches its jobs there, not on loopback


def test_a_push_built_on_one_host_runs_on_both_and_scale_spreads_it(cluster, app):
    platform = cluster.platform
    ok(platform.paas("scale", "web=4", "-a", "spread"))
    assert eventually(lambda: _per_host(cluster) == {"one": 2, "two": 2}, timeout=120), _jobs(cluster, "starting")
    with cluster.engine.client() as second:  # made there from the slug, fetched from the controller
        assert second.images.list(name="paas-app/spread")
    containers = {job["container_id"][:12]: job["host"] for job in _jobs(cluster)}
    answered = {platform.curl("spread").strip().split(" in ")[-1] for _ in range(16)}
    assert {containers.get(container) for container in answered} == {"one", "two"}, answered

    def booted_on() -> set:
        lines = platform.paas("logs", "-a", "spread").output.splitlines()
        return {containers.get(line.split(" in ")[-1]) for line in lines if "booting web" in line}

    assert eventually(lambda: booted_on() >= {"one", "two"}), platform.paas("logs", "-a", "spread").output


def test_a_one_off_run_on_an_agents_host_streams_its_output_and_exit_status(cluster, app):
    result = cluster.platform.paas("run", "-a", "spread", "--", "echo ran in $HOSTNAME; exit 3")
    assert result.exit_code == 3, result.output
    assert "ran in " in result.output
    assert "stdout: ran in" not in cluster.platform.paas("logs", "-a", "spread").output  # its user's alone


def test_a_dockerfile_build_travels_to_the_other_host_as_its_image_archive(cluster, app):
    platform = cluster.platform
    source = platform.root / "docked"
    source.mkdir()
    (source / "Dockerfile").write_text("FROM paas/stack\nCOPY app.py /srv/\nCMD python3 /srv/app.py\n")
    (source / "app.py").write_text(web_app("{PAAS_RELEASE} in {HOSTNAME}"))
    commit(platform, source, "a Dockerfile")
    ok(platform.paas("create", "docked", cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0 and "v1 deployed" in push.stderr, push.stderr
    ok(platform.paas("scale", "web=2", "-a", "docked"))

    def spread() -> dict:
        jobs = platform.paas_json("ps", "-a", "docked")
        return {job["container_id"][:12]: job["host"] for job in jobs if job["state"] == "up"}

    assert eventually(lambda: sorted(spread().values()) == ["one", "two"], timeout=90), platform.paas(
        "ps", "-a", "docked"
    ).output
    answered = {platform.curl("docked").strip().split(" in ")[-1] for _ in range(8)}
    assert {spread().get(container) for container in answered} == {"one", "two"}, answered
    ok(platform.paas("scale", "web=0", "-a", "docked"))


def test_a_host_whose_engine_stops_loses_its_jobs_to_the_other_and_has_no_extra_copies_back(cluster, app):
    platform, instance = cluster.platform, cluster.platform.instance()
    with LoadLoop(platform, "spread") as load:
        time.sleep(1)
        stopped_at = time.monotonic()
        cluster.engine.pause()
        moved = eventually(lambda: _per_host(cluster) == {"one": 4}, timeout=MOVE_WITHIN + 15)
        moved_after = time.monotonic() - stopped_at
    assert moved and moved_after < MOVE_WITHIN, (moved_after, _jobs(cluster, "starting"))
    assert {host["name"]: host["state"] for host in platform.paas_json("hosts")}["two"] == "down"
    assert load.answers and load.failures() == [], load.failures()[:5]
    cluster.engine.resume()
    assert eventually(lambda: {h["name"]: h["state"] for h in platform.paas_json("hosts")}["two"] == "up", timeout=30)
    with cluster.engine.client() as second:
        assert eventually(lambda: not second.api.containers(all=True, filters={"label": "paas.job"}), timeout=30)
    assert len(_running_containers(docker.from_env(), instance)) == 4
    assert _per_host(cluster) == {"one": 4}


def test_a_controller_killed_mid_deploy_is_replaced_by_another_that_finishes_it(cluster, app):
    first = cluster.platform
    standby = cluster.controller_start()  # waits: the first holds the scheduler lease
    assert "runs the scheduler now" not in standby.log()
    ok(first.paas("env", "set", "BOOT_SECONDS=4", "--no-wait", "-a", "spread"))  # v2's jobs are slow to listen

    def midway() -> bool:  # v2's first jobs are starting or up, v1's still serve
        jobs = first.paas_json("ps", "-a", "spread")
        serving = any(job["release"] == 1 and job["state"] == "up" for job in jobs)
        return serving and any(job["release"] == 2 and job["state"] in ("starting", "up") for job in jobs)

    assert eventually(midway, timeout=30), first.paas("ps", "-a", "spread").output
    first.kill()
    assert eventually(lambda: "runs the scheduler now" in standby.log(), timeout=30), standby.log()

    def deployed():
        jobs = _jobs(cluster)
        return len(jobs) == 4 and {job["release"] for job in jobs} == {2} and jobs

    assert eventually(deployed, timeout=120), _jobs(cluster, "starting")
    assert standby.curl("spread").startswith("v2 in ")
    instance = standby.instance()

    def copies() -> int:
        with cluster.engine.client() as second:
            return len(_running_containers(docker.from_env(), instance) + _running_containers(second, instance))

    assert eventually(lambda: copies() == 4, timeout=60), copies()  # the replaced ones stopped, none twice
    slots = Counter(job["name"] for job in _jobs(cluster) + _jobs(cluster, "starting"))
    assert all(count == 1 for count in slots.values()), slots


def test_the_stopped_controller_stopping_cleanly_hands_the_lease_over_at_once(cluster, app):
    standby = cluster.controller_start()
    cluster.controllers[-2].process.send_signal(signal.SIGINT)
    assert cluster.controllers[-2].process.wait(timeout=60) == 0
    assert eventually(lambda: "runs the scheduler now" in standby.log(), timeout=5), standby.log()


COUNTER = """
import os, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

def incr():
    url = urlparse(os.environ["REDIS_URL"])
    with socket.create_connection((url.hostname, url.port), timeout=5) as connection:
        reader = connection.makefile("rb")
        for words in (("AUTH", url.password), ("INCR", "hits")):
            connection.sendall(f"*{len(words)}\\r\\n".encode() + b"".join(
                f"${len(word)}\\r\\n{word}\\r\\n".encode() for word in words))
            answer = reader.readline().decode().strip()
    return answer.lstrip(":")

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"count {incr()} in {os.environ['HOSTNAME']}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_an_addon_on_an_agents_host_pins_its_apps_jobs_there_and_is_backed_up_through_the_controller(cluster, app):
    platform = cluster.platform  # the controllers that took over since have a root of their own: the key goes there
    if not platform.key.exists():
        shutil.copy(cluster.controllers[0].key, platform.key)
    ok(platform.paas("hosts", "drain", "two"))  # the add-on goes to host one (its image is made from its stack)
    source = platform.root / "counted"
    source.mkdir()
    (source / "app.py").write_text(COUNTER)
    (source / "requirements.txt").write_text("")
    (source / "Procfile").write_text("web: python app.py\n")
    commit(platform, source, "a counter")
    ok(platform.paas("create", "counted", cwd=source))
    ok(platform.paas("addons", "create", "redis", "-a", "counted"))
    ok(platform.paas("hosts", "undrain", "two"))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    ok(platform.paas("scale", "web=3", "-a", "counted"))
    jobs = lambda: [job["host"] for job in platform.paas_json("ps", "-a", "counted") if job["state"] == "up"]  # noqa: E731
    assert eventually(lambda: jobs() == ["one"] * 3, timeout=90), platform.paas("ps", "-a", "counted").output
    counts = [eventually(lambda: platform.curl("counted").startswith("count") and platform.curl("counted"))]
    assert counts[0], platform.paas("logs", "-a", "counted").output
    ok(platform.paas("addons", "backup", "redis", "-a", "counted"))  # sent by agent one to the controller
    [backup] = platform.paas_json("addons", "backups", "redis", "-a", "counted")
    assert backup["size"] > 0
    assert platform.curl("counted").startswith("count 3 ")
    ok(platform.paas("addons", "restore", "redis", "b1", "-a", "counted"))  # fetched by agent one from it
    shown = ok(platform.paas("addons", "redis-cli", "redis", "GET", "hits", "-a", "counted"))  # a run on host one
    assert shown.splitlines()[-1] == "2", shown
