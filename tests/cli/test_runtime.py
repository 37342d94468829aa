"""`paas checks`, `paas limits` and `paas ps` against a live test server and the scheduler loop."""

import json
import time

from hosts.drivers.memory import MemoryHostDriver
from hosts.models import Host
from tests.cli.test_cli import logged_in, run, scheduler, user  # noqa: F401 - the fixtures
from tests.factories import deploy, make_app


def test_checks_through_the_cli(logged_in, user, scheduler):  # noqa: F811
    deploy(make_app("shop", owner=user))
    assert "No HTTP checks" in logged_in("checks", "-a", "shop").output
    result = logged_in("checks", "set", "web", "/healthz", "--timeout", "1.5", "--passes", "3", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert "Made v2 of shop" in result.output and "v2 is live." in result.output
    assert logged_in("checks", "-a", "shop").output.split() == [
        "web",
        "GET",
        "/healthz",
        "timeout",
        "1.5s",
        "3",
        "passes",
        "in",
        "a",
        "row",
    ]
    [job] = [job for job in json.loads(logged_in("ps", "--json", "-a", "shop").output) if job["state"] == "up"]
    assert job["last_check"] == "200 OK in 1 ms" and job["check_passes"] == 3
    result = logged_in("checks", "set", "worker", "/", "-a", "shop")
    assert result.exit_code != 0 and "only web processes" in result.output
    assert "Made v3 of shop" in logged_in("checks", "unset", "web", "-a", "shop").output


def test_limits_and_ps_through_the_cli(logged_in, user, scheduler):  # noqa: F811
    deploy(make_app("shop", owner=user))
    assert logged_in("limits", "-a", "shop").output.split() == ["web", "memory=512m", "cpu=1", "pids=512", "(defaults)"]
    result = logged_in("limits", "set", "web", "memory=128m", "cpu=0.5", "-a", "shop")
    assert result.exit_code == 0, result.output
    assert "web: memory=128m cpu=0.5 pids=512" in result.output and "is live." in result.output
    result = logged_in("limits", "set", "web", "disk=1g", "-a", "shop")
    assert result.exit_code == 1 and "say memory=512m or cpu=0.5" in result.output
    result = logged_in("limits", "set", "web", "memory=2m", "-a", "shop")
    assert result.exit_code != 0 and "from 4m to 64g" in result.output
    rows = [line.split() for line in logged_in("ps", "-a", "shop").output.splitlines()]
    [row] = [row for row in rows if row[1] == "up"]
    assert row[:4] == ["web.1", "up", "v1", "local"] and "128m/0.5cpu" in row
    [job] = [job for job in json.loads(logged_in("ps", "--json", "-a", "shop").output) if job["state"] == "up"]
    MemoryHostDriver.for_host("local").exit(job["container_id"], 137, oom_killed=True)
    scheduler.wakeup.set()
    for _ in range(50):
        output = logged_in("ps", "-a", "shop").output
        if "out of memory" in output:
            break
        scheduler.wakeup.wait(0.1)
    assert "killed: out of memory (limit 128m)" in output
    assert "web.1 killed: out of memory (limit 128m)" in logged_in("events", "-a", "shop").output


def test_links_and_discover_through_the_cli(logged_in, user, scheduler):  # noqa: F811
    deploy(make_app("shop", owner=user))
    deploy(make_app("stock", owner=user))
    assert "shop reaches only its own jobs (web.shop.internal)" in logged_in("links", "-a", "shop").output
    result = logged_in("links", "add", "stock", "-a", "shop")
    assert result.exit_code == 0 and "shop reaches stock's jobs at TYPE.stock.internal" in result.output
    assert logged_in("links", "-a", "shop").output.split() == ["shop", "reaches", "stock", "web.stock.internal"]
    assert logged_in("links", "-a", "stock").output.split() == ["reached", "by", "shop"]
    result = logged_in("links", "add", "nowhere", "-a", "shop")
    assert result.exit_code != 0 and "app 'nowhere' not found" in result.output
    assert "no longer reaches stock" in logged_in("links", "remove", "stock", "-a", "shop").output

    def discovered() -> list[str]:
        return logged_in("discover", "--process", "web", "-a", "shop").output.splitlines()

    deadline = time.monotonic() + 20
    while len(discovered()) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert discovered()[0].split() == ["job", "release", "host", "internal", "address"]
    assert discovered()[1].split()[:4] == ["web.1", "v1", "local", "web.shop.internal:5000"]


def test_hosts_and_constraints_through_the_cli(logged_in, user, scheduler):  # noqa: F811
    deploy(make_app("shop", owner=user), processes={"web": "serve", "worker": "work"})
    assert logged_in("hosts").exit_code != 0  # staff only
    user.is_staff = True
    user.save()
    header, local = logged_in("hosts").output.splitlines()
    assert header.split() == ["host", "state", "heartbeat", "address", "memory", "cpus", "jobs", "tags"]
    assert local.split()[:2] == ["local", "up"] and local.split()[4] == "127.0.0.1"
    Host.objects.filter(name="local").update(containers=3)  # as an agent's heartbeat says
    assert "(3 running)" in logged_in("hosts").output
    assert "local: tags eu, ssd" in logged_in("hosts", "tag", "local", "ssd", "eu").output
    assert "its jobs move to other hosts" in logged_in("hosts", "drain", "local").output
    assert logged_in("hosts").output.splitlines()[1].split()[:3] == ["local", "up,", "drained"]
    assert "local takes jobs again" in logged_in("hosts", "undrain", "local").output
    assert logged_in("constraints", "-a", "shop").output == "Every process type runs on any host.\n"
    assert "worker runs on hosts tagged ssd" in logged_in("constraints", "set", "worker", "ssd", "-a", "shop").output
    assert logged_in("constraints", "-a", "shop").output.split() == ["worker", "ssd"]
    assert "worker runs on any host" in logged_in("constraints", "unset", "worker", "-a", "shop").output
