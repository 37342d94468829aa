"""A real cluster for end-to-end tests: controllers, a builder and two agents as separate `paas` processes, on
PostgreSQL and Redis, with this machine's Docker engine as host `one` and a second engine (tests.e2e.engines) as
host `two`."""

import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.e2e.conftest import (
    PAAS,
    Platform,
    _remove_instance,
    postgres_database_drop,
    postgres_database_url,
    postgres_sql,
)
from tests.e2e.engines import SecondEngine

REDIS_URL = "redis://127.0.0.1:6379/8"  # a database of its own, emptied first


class Role:
    """One `paas` process of the cluster other than a controller: a builder, or a host's agent."""

    def __init__(self, root: Path, name: str, args: list[str], env: dict, ready: str):
        self.name, self.args, self.env, self.ready = name, args, env, ready
        self.log_path = root / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        """Starts it and waits until its log says it is ready."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(PAAS), *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while self.ready not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"paas {self.args[0]} ({self.name}) did not start:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Kills it (and what it started)."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""


class Controller(Platform):
    """A `paas controller` process: a Platform whose command is `controller`, on the cluster's database."""

    command = "controller"

    def __init__(self, root: Path, env: dict):
        super().__init__(root)
        self.env.update(env)

    def kill(self) -> None:
        """Dies at once, mid-whatever (its router goes on serving, as Caddy is its own process)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


class Cluster:
    """The cluster's processes, its database, its engines, and a controller to talk to (`platform`)."""

    def __init__(self, root: Path):
        self.root = root
        self.database = f"paas_e2e_cluster_{secrets.token_hex(4)}"
        self.engine = SecondEngine(root / "engine-two")
        self.shared = {
            "DATABASE_URL": postgres_database_url(self.database),
            "CELERY_BROKER_URL": REDIS_URL,
            "PAAS_HEARTBEAT_INTERVAL": "2",
        }
        self.controllers: list[Controller] = []
        self.roles: list[Role] = []

    @property
    def platform(self) -> Controller:
        """The controller the tests talk to: the last one started."""
        return self.controllers[-1]

    def start(self, stack: str) -> None:
        """Database, broker, second engine (given the stack image), then a controller, the builder and two agents."""
        postgres_sql(f"CREATE DATABASE {self.database}")
        redis.Redis.from_url(REDIS_URL).flushdb()
        self.engine.start()
        self.engine.load_image(stack)
        self.controller_start()
        instance = self.platform.instance()
        builder_env = {**self.platform.env}
        self._role("builder", ["builder"], builder_env, "building on")
        self.agent_start("one", "unix:///var/run/docker.sock", "127.0.0.1", instance)
        env = {"PAAS_APP_NETWORKS": self.engine.app_networks}
        self.agent_start("two", self.engine.url, self.engine.gateway, instance, env)

    def controller_start(self) -> Controller:
        """Starts another controller, on ports of its own; it runs the scheduler only once it holds the lease."""
        controller = Controller(self.root / f"controller-{len(self.controllers) + 1}", self.shared)
        if self.controllers:  # the same data (blobs, instance, secret key) as the first, as a shared volume would be
            controller.data_dir = self.controllers[0].data_dir
            controller.env["PAAS_DATA_DIR"] = str(controller.data_dir)
            controller.admin_socket = controller.root / "router" / "admin.sock"
            controller.env["PAAS_ROUTER_ADMIN"] = str(controller.admin_socket)
        controller.admin_socket.parent.mkdir(parents=True, exist_ok=True)
        self.controllers.append(controller)
        controller.start()
        login = controller.paas("login", controller.url, input=controller.token() + "\n")
        assert login.exit_code == 0, login.output
        return controller

    def agent_start(self, name: str, docker_url: str, address: str, instance: str, env: dict | None = None) -> Role:
        data_dir = self.root / f"agent-{name}"
        agent_env = {**os.environ, **self.shared, "PAAS_DATA_DIR": str(data_dir), "PAAS_INSTANCE": instance}
        agent_env.update({"DJANGO_SETTINGS_MODULE": "paas.settings", **(env or {})})
        args = ["agent", "--name", name, "--docker-host", docker_url, "--address", address]
        return self._role(f"agent-{name}", args, agent_env, f"takes calls on host.{name}")

    def _role(self, name: str, args: list[str], env: dict, ready: str) -> Role:
        role = Role(self.root, name, args, env, ready)
        self.roles.append(role)
        role.start()
        return role

    def role(self, name: str) -> Role:
        return next(role for role in self.roles if role.name == name)

    def logs(self) -> str:
        """Every process's log, for a failing test's report."""
        parts = [f"--- controller {index}\n{controller.log()}" for index, controller in enumerate(self.controllers)]
        return "\n".join(parts + [f"--- {role.name}\n{role.log()}" for role in self.roles])

    def cleanup(self) -> None:
        for role in self.roles:
            role.stop()
        for controller in self.controllers:
            controller.cleanup()
        self.engine.stop()
        with contextlib.suppress(Exception):
            if self.controllers:
                _remove_instance(self.controllers[0].instance())
        with contextlib.suppress(Exception):
            redis.Redis.from_url(REDIS_URL).flushdb()
        postgres_database_drop(self.database)
