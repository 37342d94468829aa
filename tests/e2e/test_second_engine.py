"""The second Docker engine that plays a second host in end-to-end tests: it runs the stack image, this machine
reaches its published ports and its containers, its containers reach this machine and the outside world, and it
shares no container, network, subnet or firewall rule with the first engine."""

import contextlib
import ipaddress
import secrets
import socket
import subprocess
import threading
import urllib.error
import urllib.request

import docker
import pytest
import requests
from django.conf import settings

from buildpacks.stack import stack_image
from tests.e2e.conftest import eventually
from tests.e2e.engines import ADDRESS_POOL, BRIDGE, SecondEngine

pytestmark = pytest.mark.e2e

LABELS = {"paas.test": "second-engine"}  # on what these tests make
SERVE = "echo {token} > index.html && exec python3 -m http.server 8000"
FIREWALL_CHAINS = {"DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"}
CONNECT = "import socket, sys; print(socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).recv(64).decode())"
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"
RESOLVE = "import socket; socket.getaddrinfo('deb.debian.org', 80)"


def docker_rules() -> set[str]:
    """This machine's firewall rules in the chains Docker manages: the first engine's."""
    rules = set()
    for table in ("filter", "nat"):
        listing = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True, check=True)
        rules |= {f"{table} {rule}" for rule in listing.stdout.splitlines() if rule.split()[1] in FIREWALL_CHAINS}
    return rules


@pytest.fixture(scope="module")
def first():
    """A client of the first engine, which has the stack image."""
    client = docker.from_env()
    try:
        client.images.get(stack_image())
    except docker.errors.ImageNotFound:
        pytest.fail(f"the stack image {stack_image()} is missing; `make stack` builds it")
    yield client
    client.close()


@pytest.fixture(scope="module")
def started(first, tmp_path_factory):
    """The second engine, started, and the first engine's firewall rules just before and just after it started."""
    engine = SecondEngine(tmp_path_factory.mktemp("second-engine"))
    try:
        before = docker_rules()
        engine.start()
        yield engine, before, docker_rules()
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def engine(started):
    """The second engine, with the stack image."""
    engine, _, _ = started
    engine.load_image(stack_image())
    return engine


@pytest.fixture(scope="module")
def client(engine):
    """A client of the second engine."""
    client = engine.client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def server(engine, client):
    """A web server on the second engine, its port published on the engine's gateway and on its loopback: the
    container, the token it serves and its published ports by address, once it serves."""
    token = secrets.token_hex(8)
    ports = {"8000/tcp": [(engine.gateway, None), ("127.0.0.1", None)]}
    container = run(client, ["sh", "-c", SERVE.format(token=token)], ports=ports)
    bindings = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"]
    published = {binding["HostIp"]: int(binding["HostPort"]) for binding in bindings}
    [address] = addresses(container)
    assert eventually(lambda: fetch(str(address), 8000) == token, timeout=10), container.logs().decode()
    return container, token, published


def run(client, command: list[str], **options):
    """Runs a command in a container of the stack image, detached; returns the container, inspected."""
    container = client.containers.run(stack_image(), command, detach=True, labels=LABELS, **options)
    container.reload()
    return container


def output(container) -> str:
    """What a container printed, once it has exited 0."""
    result = container.wait(timeout=30)
    logs = container.logs().decode().strip()
    assert result["StatusCode"] == 0, logs
    return logs


def fetch(address: str, port: int) -> str | None:
    """The page served at the address and port, or None when nothing serves there."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/index.html", timeout=3) as response:
            return response.read().decode().strip()
    except (urllib.error.URLError, OSError):
        return None


def subnets(client) -> set[ipaddress.IPv4Network]:
    """The subnets of an engine's networks."""
    return {
        ipaddress.ip_network(config["Subnet"])
        for network in client.networks.list()
        for config in (network.attrs.get("IPAM") or {}).get("Config") or []
        if config.get("Subnet")
    }


def addresses(container) -> set[ipaddress.IPv4Address]:
    """A container's addresses on its networks."""
    container.reload()
    return {
        ipaddress.ip_address(network["IPAddress"])
        for network in container.attrs["NetworkSettings"]["Networks"].values()
    }


def test_starting_it_leaves_the_first_engines_firewall_rules_alone(started):
    _, before, after = started
    assert before <= after


def test_a_port_published_on_the_gateway_answers_from_this_machine(engine, server):
    container, token, published = server
    assert fetch(engine.gateway, published[engine.gateway]) == token
    [address] = addresses(container)  # where the server was reached first, as a container of this machine's engine
    assert address in ipaddress.ip_interface(BRIDGE).network


def test_a_port_published_on_its_loopback_answers_there_not_on_this_machine(engine, server):
    _, token, published = server
    url = f"http://127.0.0.1:{published['127.0.0.1']}/index.html"
    assert token in engine.run_in_namespace("python3", "-c", FETCH, url).stdout
    assert fetch("127.0.0.1", published["127.0.0.1"]) != token


def test_a_paused_engine_does_not_answer_while_its_containers_go_on_serving(engine, server):
    _, token, published = server
    engine.pause()
    try:
        assert not answers(engine, timeout=2)
        assert fetch(engine.gateway, published[engine.gateway]) == token
    finally:
        engine.resume()
    assert answers(engine, timeout=10)


def answers(engine, timeout: int) -> bool:
    """Whether the engine answers within the timeout."""
    try:
        with engine.client(timeout=timeout) as client:
            return client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False


def test_its_containers_reach_this_machine(engine, client):
    token = secrets.token_hex(8)
    with socket.create_server((engine.controller_address, 0)) as listener:
        threading.Thread(target=answer_once, args=(listener, token), daemon=True).start()
        port = str(listener.getsockname()[1])
        container = run(client, ["python3", "-c", CONNECT, engine.controller_address, port])
        assert output(container) == token


def answer_once(listener: socket.socket, token: str) -> None:
    """Sends the token on the first connection, then closes it."""
    connection, _ = listener.accept()
    with connection:
        connection.sendall(token.encode())


def test_its_containers_resolve_names_when_the_first_engines_do(first, client):
    with running(first, ["python3", "-c", RESOLVE]) as here, running(client, ["python3", "-c", RESOLVE]) as there:
        if here.wait(timeout=30)["StatusCode"] != 0:
            pytest.skip("the first engine's containers resolve no names here")
        assert there.wait(timeout=30)["StatusCode"] == 0, there.logs().decode()


def test_the_engines_share_no_container_network_or_subnet(engine, first, client):
    app_networks, pool = ipaddress.ip_network(engine.app_networks), ipaddress.ip_network(ADDRESS_POOL)
    assert not app_networks.overlaps(ipaddress.ip_network(settings.PAAS_APP_NETWORKS))
    subnet = docker.types.IPAMPool(subnet=str(next(app_networks.subnets(new_prefix=25))))
    with (
        network(client, "paas-test-app", internal=True, ipam=docker.types.IPAMConfig(pool_configs=[subnet])) as app,
        network(client, "paas-test-pooled") as pooled,
        running(first, ["sleep", "60"]) as here,
        running(client, ["sleep", "60"], network=pooled.name) as there,
    ):
        app.connect(there)
        assert_apart(first, client, here, there)
        # one address on the app network, the other on a network of the engine's pool
        assert sorted((address in app_networks, address in pool) for address in addresses(there)) == [
            (False, True),
            (True, False),
        ]


@contextlib.contextmanager
def running(client, command: list[str], **options):
    """A container of the stack image that runs the command, removed afterwards."""
    container = run(client, command, **options)
    try:
        yield container
    finally:
        container.remove(force=True)


@contextlib.contextmanager
def network(client, name: str, **options):
    """A network of the engine, removed afterwards."""
    made = client.networks.create(name, labels=LABELS, **options)
    try:
        yield made
    finally:
        made.remove()


def assert_apart(first, client, here, there) -> None:
    """Neither engine sees the other's container or networks, and their subnets do not overlap."""
    assert here.id not in {container.id for container in client.containers.list(all=True)}
    assert there.id not in {container.id for container in first.containers.list(all=True)}
    assert not {network.id for network in first.networks.list()} & {network.id for network in client.networks.list()}
    assert not [(one, other) for one in subnets(first) for other in subnets(client) if one.overlaps(other)]
