"""Discovery on real Docker: an app's worker and one-off runs reach its web process as `web.APP.internal:PORT`,
without the router, at the address `GET /api/apps/APP/discover/` gives; another app's jobs neither resolve nor
reach it until its owner links them; destroying the app removes its network, linked jobs or not."""

import json
import urllib.request

import docker
import pytest

from tests.e2e.conftest import commit, eventually, ok, web_app

pytestmark = pytest.mark.e2e

WORKER = """\
import os, time, urllib.request
url = f"http://web.{os.environ['PAAS_APP']}.internal:{os.environ['PORT']}/"
while True:
    try:
        print("fetched:", urllib.request.urlopen(url, timeout=5).read().decode().strip(), flush=True)
    except OSError as error:
        print("failed:", error, flush=True)
    time.sleep(2)
"""

PROBE = """\
import json, sys, urllib.error, urllib.request
def fetch(target):
    try:
        return urllib.request.urlopen(f"http://{target}/", timeout=5).read().decode().strip()
    except urllib.error.URLError as error:
        return type(error.reason).__name__
    except OSError as error:
        return type(error).__name__
print("PROBE " + json.dumps({target: fetch(target) for target in sys.argv[1:]}), flush=True)
"""


def _deployed(platform, name: str, procfile: str) -> None:
    source = platform.root / name
    source.mkdir()
    (source / "app.py").write_text(web_app("{PAAS_APP} {DYNO}"))
    (source / "worker.py").write_text(WORKER)
    (source / "probe.py").write_text(PROBE)
    (source / "requirements.txt").write_text("")
    (source / "Procfile").write_text(procfile)
    commit(platform, source, name)
    ok(platform.paas("create", name, cwd=source))
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr


def _probe(platform, app: str, *targets: str) -> dict:
    output = ok(platform.paas("run", "--no-tty", "-a", app, "--", "python", "probe.py", *targets))
    return json.loads(output.split("PROBE ", 1)[1].splitlines()[0])


def _discover(platform, app: str, query: str = "") -> list[dict]:
    request = urllib.request.Request(
        f"{platform.url}/api/apps/{app}/discover/{query}", headers={"Authorization": f"Token {platform.token()}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_an_apps_jobs_reach_its_web_process_by_name_and_other_apps_cannot(logged_in):
    platform = logged_in
    _deployed(platform, "front", "web: python app.py\nworker: python worker.py\n")
    _deployed(platform, "outsider", "web: python app.py\n")
    ok(platform.paas("scale", "web=1", "worker=1", "-a", "front"))

    [web] = _discover(platform, "front", "?process=web")
    assert (web["job"], web["internal"]) == ("web.1", "web.front.internal:5000")
    assert platform.curl("front", port=int(web["address"].rpartition(":")[2])) == "front web.1\n"

    def worker_log() -> str:
        return ok(platform.paas("logs", "-p", "worker", "-a", "front"))

    assert eventually(lambda: "fetched: front web.1" in worker_log(), timeout=60), worker_log()
    assert _probe(platform, "front", web["internal"], "web.1.front.internal:5000") == {
        "web.front.internal:5000": "front web.1",
        "web.1.front.internal:5000": "front web.1",
    }

    app_network = f"paas-{platform.instance()}-app-front"
    labels = ["paas.app=front", "paas.process_type=web", f"paas.instance={platform.instance()}"]
    [container] = docker.from_env().containers.list(filters={"label": labels})
    address = container.attrs["NetworkSettings"]["Networks"][app_network]["IPAddress"]
    seen = _probe(platform, "outsider", web["internal"], f"{address}:5000", "web.outsider.internal:5000")
    assert seen["web.front.internal:5000"] == "gaierror", seen  # not even resolved
    assert seen[f"{address}:5000"] != "front web.1", seen
    assert seen["web.outsider.internal:5000"] == "outsider web.1", seen  # its own name works

    assert "once its jobs have restarted" in ok(platform.paas("links", "add", "front", "-a", "outsider"))
    assert "web.front.internal" in ok(platform.paas("links", "-a", "outsider"))
    assert _probe(platform, "outsider", web["internal"])[web["internal"]] == "front web.1"  # the owner's choice
    outsider_web = [*labels[1:], "paas.app=outsider"]
    assert eventually(lambda: _joined(outsider_web, app_network), timeout=60)  # its web job restarted onto it

    ok(platform.paas("destroy", "-a", "front", "--confirm", "front"))
    networks = docker.from_env().networks
    assert eventually(lambda: app_network not in [network.name for network in networks.list()], timeout=30)
    assert "reaches only its own jobs" in ok(platform.paas("links", "-a", "outsider"))


def _joined(labels: list[str], network: str) -> bool:
    """Whether the running containers with these labels are all on `network`, and there is one at least."""
    containers = docker.from_env().containers.list(filters={"label": labels})
    return bool(containers) and all(network in c.attrs["NetworkSettings"]["Networks"] for c in containers)
