"""Containers are confined: an unprivileged user, no capabilities, limits, and no way to reach another app.

The unit tests check what the Docker driver and the build engine ask Docker for (a fake client stands in for the
engine); the end-to-end ones look from inside a real job container of a pushed app.
"""

import contextlib
import dataclasses
import json
import socket
import threading
import time
from types import SimpleNamespace

import docker
import pytest
from docker.errors import APIError, NotFound

from hosts.drivers import JobContainer, JobSpec
from hosts.drivers.docker import (
    APP_GID,
    APP_UID,
    APP_USER,
    HEALTH_HOLD_SECONDS,
    ICC_OPTION,
    Confinement,
    DockerHostDriver,
    instance_network,
)
from hosts.engine import DockerBuildEngine
from scheduler.services import WEB_PORT
from tests.e2e.conftest import commit
from tests.e2e.test_git_push_deploy import deploy_new_app, write_app


class FakeDocker:
    """Docker's API as the driver and the engine use it, recording the containers and networks they make."""

    def __init__(self):
        self.cpus = 8
        self.made: list[dict] = []
        self.networks_made: list[dict] = []
        self.network_attrs: dict[str, dict] = {}  # name -> Options and Labels of the networks there are
        self.network_error: APIError | None = None  # what making a network fails with
        self.connected: list[tuple[str, str, list[str]]] = []  # (container, network, aliases)
        self.api = SimpleNamespace(
            remove_container=lambda *args, **kwargs: None,
            connect_container_to_network=lambda container, network, aliases: self.connected.append(
                (container, network, aliases)
            ),
        )
        self.containers = SimpleNamespace(run=self._container, create=self._container)
        self.networks = SimpleNamespace(get=self._network_get, create=self._network_create, list=self._network_list)

    def info(self) -> dict:
        return {"NCPU": self.cpus}

    def _container(self, image, **options):
        self.made.append({"image": image, **options})
        attrs = {"State": {"Running": True}, "NetworkSettings": {"Ports": {}}}
        labels = options.get("labels", {})
        return SimpleNamespace(
            id="c1", attrs=attrs, labels=labels, reload=lambda: None, start=lambda: None, remove=lambda **kw: None
        )

    def _network_get(self, name):
        if name not in self.network_attrs:
            raise NotFound(f"network {name} not found")
        return SimpleNamespace(name=name, attrs=self.network_attrs[name], remove=lambda: self.network_attrs.pop(name))

    def _network_create(self, name, **options):
        if self.network_error is not None:
            raise self.network_error
        self.networks_made.append({"name": name, **options})
        pools = options["ipam"]["Config"] if options.get("ipam") else []
        self.network_attrs[name] = {
            "Options": options["options"],
            "Labels": options["labels"],
            "IPAM": {"Config": [{"Subnet": pool["Subnet"]} for pool in pools]},
        }
        return self._network_get(name)

    def _network_list(self, filters=None):
        wanted = [label.partition("=") for label in (filters or {}).get("label", [])]
        networks = [self._network_get(name) for name in self.network_attrs]
        return [
            network
            for network in networks
            if all(
                key in network.attrs["Labels"] and value in ("", network.attrs["Labels"][key])
                for key, _, value in wanted
            )
        ]


@pytest.fixture
def client(monkeypatch):
    """What `docker.DockerClient(...)` gives the driver and the engine."""
    fake = FakeDocker()
    monkeypatch.setattr(docker, "DockerClient", lambda **kwargs: fake)
    return fake


def _driver() -> DockerHostDriver:
    return DockerHostDriver("unix:///var/run/docker.sock", "127.0.0.1", "t3st", Confinement("512m", 1.5, 256))


def _spec() -> JobSpec:
    return JobSpec(job_id=7, name="paas-t3st-hello-web.1-7", app="hello", process_type="web", image="i", command="c")


def _confined(options: dict, *, memory: str, nano_cpus: int, pids: int) -> None:
    assert options["user"] == APP_USER and APP_UID != 0
    assert options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    assert (options["mem_limit"], options["nano_cpus"], options["pids_limit"]) == (memory, nano_cpus, pids)


def test_a_job_runs_confined_on_a_network_where_containers_cannot_reach_one_another(client):
    _driver().job_start(_spec())
    network = client.networks_made[0]
    assert network["name"] == "paas-t3st" and network["options"] == {ICC_OPTION: "false"}
    assert network["labels"] == {"paas.instance": "t3st"}
    [job] = client.made
    assert job["network"] == "paas-t3st"
    _confined(job, memory="512m", nano_cpus=1_500_000_000, pids=256)
    assert "cap_add" not in job and "privileged" not in job

    _driver().job_start(_spec())  # the networks are made once
    assert len(client.networks_made) == 2 and client.made[1]["network"] == "paas-t3st"


def test_a_job_joins_its_apps_own_network_under_its_internal_names_before_it_starts(client):
    _driver().job_start(dataclasses.replace(_spec(), env={"DYNO": "web.1"}))
    [_, network] = client.networks_made
    assert network["name"] == "paas-t3st-app-hello" and network["options"] == {ICC_OPTION: "true"}
    assert network["internal"] is True  # no way out through it: the instance network stays the only one
    assert network["labels"] == {"paas.instance": "t3st", "paas.app": "hello"}
    assert client.connected == [("c1", "paas-t3st-app-hello", ["web.hello.internal", "web.1.hello.internal"])]
    assert _driver().app_networks() == ["hello"]
    _driver().app_network_remove("hello")
    _driver().app_network_remove("hello")  # gone already: fine
    assert _driver().app_networks() == [] and "paas-t3st" in client.network_attrs


def test_each_apps_network_takes_a_free_subnet_of_its_own(client, settings, caplog):
    settings.PAAS_APP_NETWORKS = "10.213.0.0/24"  # two /25s, the first overlapping a network already there
    taken = {"Options": {}, "Labels": {}, "IPAM": {"Config": [{"Subnet": "10.213.0.0/26"}]}}
    client.network_attrs["someone-elses"] = taken
    driver = _driver()
    driver.job_start(_spec())
    driver.job_start(dataclasses.replace(_spec(), job_id=8, name="paas-t3st-shop-web.1-8", app="shop"))
    subnets = {made["name"]: made["ipam"]["Config"][0]["Subnet"] for made in client.networks_made if made.get("ipam")}
    assert subnets == {"paas-t3st-app-hello": "10.213.0.128/25"}
    assert "paas-t3st-shop-web.1-8 starts without its app's network: every subnet of PAAS_APP_NETWORKS" in caplog.text


@pytest.mark.parametrize("problem", ["not ours", "no address pool left"])
def test_a_job_starts_even_when_its_apps_network_cannot_be_made_or_used(client, caplog, problem):
    instance_network(client, "t3st")
    if problem == "not ours":
        client.network_attrs["paas-t3st-app-hello"] = {"Options": {}, "Labels": {}}
    else:
        client.network_error = APIError("could not find an available, non-overlapping IPv4 address pool")
    container = _driver().job_start(_spec())
    assert container.running and client.connected == []
    assert "paas-t3st-hello-web.1-7 starts without its app's network" in caplog.text


def test_cpus_are_capped_at_what_the_host_has(client):
    client.cpus = 1
    _driver().job_start(_spec())
    assert client.made[0]["nano_cpus"] == 1_000_000_000


def test_a_network_that_lets_containers_talk_is_never_used(client):
    client.network_attrs["paas-t3st"] = {"Options": {ICC_OPTION: "true"}, "Labels": {}}  # made by hand, say
    with pytest.raises(RuntimeError, match="lets containers reach each other"):
        _driver().job_start(_spec())
    assert client.made == []


@pytest.mark.parametrize(("listener", "healthy"), [("holds", True), ("closes", False), (None, False)])
def test_a_job_is_healthy_once_its_process_listens_not_when_dockers_proxy_does(client, listener, healthy):
    """Docker's port proxy accepts, then closes at once while nothing listens in the container (a limited CPU
    makes that last longer): only a connection held open means the job's process is there."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if listener is None:
        server.close()
    else:
        threading.Thread(target=_accept, args=(server, listener == "closes"), daemon=True).start()
    container = JobContainer(job_id=7, container_id="c1", running=True, host_port=port)
    assert _driver().job_healthy(container) is healthy
    server.close()


@pytest.mark.parametrize(("server", "healthy"), [("listens", True), ("refuses", False)])
def test_on_a_local_engine_a_job_is_healthy_as_soon_as_a_process_listens_at_its_address(client, server, healthy):
    """No proxy stands between this machine and a job's own address: a connection the kernel completes is a
    process listening, known at once (no request sent, nothing held). The published port is not even tried."""
    listening = socket.create_server(("127.0.0.1", 0))
    address = listening.getsockname()
    if server == "refuses":
        listening.close()
    container = JobContainer(job_id=7, container_id="c1", running=True, host_port=1, private_address=address)
    started = time.monotonic()
    assert _driver().job_healthy(container) is healthy
    assert time.monotonic() - started < HEALTH_HOLD_SECONDS
    listening.close()


def test_a_job_address_this_machine_cannot_reach_falls_back_to_the_published_port(client, monkeypatch):
    """Rootless Docker, or a control plane in a container: the job's own address does not answer from here."""
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_accept, args=(server, False), daemon=True).start()  # the proxy, holding: listening
    connect = socket.create_connection

    def unreachable_job(address, *args, **kwargs):
        if address == ("10.99.0.2", 5000):
            raise TimeoutError("timed out")
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", unreachable_job)
    port = server.getsockname()[1]
    container = JobContainer(
        job_id=7, container_id="c1", running=True, host_port=port, private_address=("10.99.0.2", 5000)
    )
    assert _driver().job_healthy(container) is True
    server.close()


def test_on_a_remote_engine_the_published_port_decides(client):
    server = socket.create_server(("127.0.0.1", 0))  # the job's address, from here: not where the job is
    threading.Thread(target=_accept, args=(server, False), daemon=True).start()
    remote = DockerHostDriver("tcp://10.0.0.9:2375", "127.0.0.1", "t3st", Confinement("512m", 1.5, 256))
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    container = JobContainer(
        job_id=7, container_id="c1", running=True, host_port=port, private_address=server.getsockname()
    )
    assert remote.job_healthy(container) is False
    server.close()


def _accept(server: socket.socket, close: bool) -> None:
    with contextlib.suppress(OSError):
        connection, _ = server.accept()
        if close:
            connection.close()
        else:
            time.sleep(1)


def _engine() -> DockerBuildEngine:
    return DockerBuildEngine("unix:///var/run/docker.sock", "t3st", Confinement("2g", 2, 512))


def test_a_build_hands_its_directories_to_the_app_user_and_runs_as_it(client):
    with _engine().container("stack", command=["/bin/bash", "b"], env={}, binds={}, build_id=3, handover=("/app",)):
        pass
    [build] = client.made
    assert build["network"] == "paas-t3st"
    assert build["user"] == "0:0" and build["cap_drop"] == ["ALL"]  # root only to chown, with just these
    assert sorted(build["cap_add"]) == ["CHOWN", "DAC_READ_SEARCH", "SETGID", "SETUID"]
    assert build["security_opt"] == ["no-new-privileges"]
    assert (build["mem_limit"], build["nano_cpus"], build["pids_limit"]) == ("2g", 2_000_000_000, 512)
    assert build["entrypoint"] == ["/bin/sh"]  # never the image's own entrypoint (a layer image has the launcher)
    flag, script, _, *command = build["command"]
    assert (flag, command) == ("-c", ["/bin/bash", "b"])
    # Only what is not the app user's yet changes owner.
    assert script.startswith(
        f"find /app \\( ! -user {APP_UID} -o ! -group {APP_GID} \\) -exec chown -h {APP_USER} {{}} + && "
        f"exec setpriv --reuid={APP_UID} "
    )


def test_a_container_with_nothing_to_hand_over_runs_as_the_app_user_from_the_start(client):
    with _engine().container("stack", command=["/bin/true"], env={}, binds={}, build_id=3):
        pass
    _confined(client.made[0], memory="2g", nano_cpus=2_000_000_000, pids=512)
    assert (client.made[0]["entrypoint"], client.made[0]["command"]) == (["/bin/true"], [])


# End to end: two pushed apps, alpha and beta; alpha's build leaves what its process saw in /app/.build-status.

BUILD_PROBE = """\
import pathlib

import setuptools

pathlib.Path("/app/.build-status").write_text(pathlib.Path("/proc/self/status").read_text())
setuptools.setup(name="build-probe", version="1", py_modules=[])
"""

REACH_PROBE = """\
import json, socket, sys, urllib.request
reached = {}
for name, host, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((host, port), timeout=3).close()
        reached[name] = "open"
    except OSError as error:
        reached[name] = type(error).__name__
try:
    request = urllib.request.Request(sys.argv[2], headers={"Host": sys.argv[3]})
    reached["router"] = urllib.request.urlopen(request, timeout=10).read().decode()
except OSError as error:
    reached["router"] = repr(error)
print(json.dumps(reached))
"""

SELF_PROBE = """\
import json, os, pathlib
def status(path):
    lines = pathlib.Path(path).read_text().splitlines()
    fields = dict(line.split(":\\t", 1) for line in lines if ":\\t" in line)
    return {key: fields[key] for key in ("Name", "Uid", "Gid", "CapEff", "NoNewPrivs")}
processes = [status(f"/proc/{pid}/status") for pid in os.listdir("/proc") if pid.isdigit()]
pathlib.Path("/app/written-by-the-app").write_text("mine")
pathlib.Path("/tmp/written-by-the-app").write_text("mine")
print(json.dumps({
    "processes": processes,
    "build": status("/app/.build-status"),
    "venv_owner": os.stat("/app/.venv/bin/pip").st_uid,
}))
"""


def _job_container(platform, app: str):
    labels = [f"paas.app={app}", f"paas.instance={platform.instance()}"]
    [container] = docker.from_env().containers.list(filters={"label": labels})
    return container


def _exec_json(container, *command: str) -> dict:
    code, output = container.exec_run(list(command))
    assert code == 0, output.decode(errors="replace")
    return json.loads(output)


@pytest.fixture(scope="module")
def apps(logged_in):
    platform = logged_in
    source = platform.root / "alpha"
    write_app(source, "alpha", requirements="flask\ngunicorn\n./probe\n")
    (source / "probe").mkdir()
    (source / "probe" / "setup.py").write_text(BUILD_PROBE)
    commit(platform, source, "first")
    assert platform.paas("create", "alpha", cwd=source).exit_code == 0
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode == 0, push.stderr
    deploy_new_app(platform, "beta", "beta")
    return platform, _job_container(platform, "alpha"), _job_container(platform, "beta")


def _address(container) -> tuple[str, str]:
    """The container's IP address on the instance network and its gateway (the host, as the container sees it)."""
    network = container.attrs["NetworkSettings"]["Networks"][f"paas-{container.labels['paas.instance']}"]
    return network["IPAddress"], network["Gateway"]


@pytest.mark.e2e
def test_an_app_reaches_another_app_only_through_the_router(apps):
    platform, alpha, beta = apps
    beta_ip, _ = _address(beta)
    _, gateway = _address(alpha)
    beta_port = int(beta.attrs["NetworkSettings"]["Ports"][f"{WEB_PORT}/tcp"][0]["HostPort"])
    targets = [
        ("itself", "127.0.0.1", WEB_PORT),
        ("beta's job", beta_ip, WEB_PORT),
        ("beta's published port", gateway, beta_port),
        ("beta's published port on loopback", "127.0.0.1", beta_port),
        ("the API", gateway, platform.api_port),
        ("the git server", gateway, platform.ssh_port),
    ]
    router_url = f"http://{gateway}:{platform.router_port}/"
    reached = _exec_json(alpha, "python3", "-c", REACH_PROBE, json.dumps(targets), router_url, "beta.localhost")
    assert reached.pop("itself") == "open"  # the probe works
    assert reached.pop("router").startswith("beta from job"), reached
    assert {name: answer for name, answer in reached.items() if answer == "open"} == {}


@pytest.mark.e2e
def test_apps_and_builds_run_unprivileged_and_limited(apps):
    _, alpha, _ = apps
    host_config = alpha.attrs["HostConfig"]
    assert host_config["PidsLimit"] > 0 and host_config["Memory"] > 0 and host_config["NanoCpus"] > 0
    assert host_config["CapDrop"] == ["ALL"] and not host_config["CapAdd"]
    assert "no-new-privileges" in host_config["SecurityOpt"]

    seen = _exec_json(alpha, "python3", "-c", SELF_PROBE)  # it also writes to /app and /tmp, as apps may
    assert {process["Name"] for process in seen["processes"]} >= {"gunicorn"}
    for process in [*seen["processes"], seen["build"]]:
        assert process["Uid"].split()[0] == str(APP_UID) and process["Gid"].split()[0] == str(APP_UID), process
        assert int(process["CapEff"], 16) == 0 and process["NoNewPrivs"] == "1", process
    assert seen["venv_owner"] == APP_UID  # what the build made is the app user's
