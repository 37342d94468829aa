"""A second Docker engine on this machine, for end-to-end tests where it plays a second host.

It runs in a network namespace of its own: its own addresses, loopback and firewall, as a host of its own has. Two
engines that share one firewall do not get along: an engine that starts empties Docker's chains, the other engine's
rules with them (published ports, isolation between networks). Its data, exec root, containerd and socket are its
own too. A pair of virtual interfaces links it to this machine, as a host on the same network: this machine reaches
its published ports at `gateway` and its containers' own addresses, its containers reach this machine at
`controller_address` and, through it, the outside world.
"""

import contextlib
import ipaddress
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import docker
import requests

NAMESPACE = "paas-e2"
LINK = ("paas-e2-h", "paas-e2-n")  # the link's end on this machine, its end in the engine's namespace
LINK_ADDRESSES = ("10.231.255.1", "10.231.255.2")  # on a /30
BRIDGE = "10.231.0.1/24"  # the engine's default bridge: its address is where its published ports are reached
ADDRESS_POOL = "10.232.0.0/16"  # the networks the engine makes (a /24 each)
APP_NETWORKS = "10.214.0.0/16"  # the platform's app networks on the engine
RULE_COMMENT = "paas-second-engine"  # marks this machine's firewall rules that let the engine out
START_TIMEOUT = 60
STOP_TIMEOUT = 30
LOG_LINES = 40


class EngineClient(docker.DockerClient):
    """A Docker client that closes its connections at the end of a `with` block."""

    def __enter__(self) -> "EngineClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class SecondEngine:
    """A dockerd of its own on this machine, reached at `url`, started by `start` and gone after `stop`."""

    def __init__(self, root: Path):
        """An engine whose socket, configuration, data and log are kept under `root`; not started yet."""
        self.root = root.absolute()
        self.url = f"unix://{self.root / 'docker.sock'}"
        self.gateway = str(ipaddress.ip_interface(BRIDGE).ip)
        self.controller_address = LINK_ADDRESSES[0]
        self.app_networks = APP_NETWORKS
        self.namespace = NAMESPACE
        self.log = self.root / "dockerd.log"
        self.process: subprocess.Popen | None = None

    def client(self, timeout: int = 60) -> EngineClient:
        """A Docker client of this engine, to close or use in a `with` block."""
        return EngineClient(base_url=self.url, timeout=timeout)

    def start(self) -> None:
        """Links the engine's namespace to this machine, starts dockerd in it and waits until it answers. A
        leftover of an engine that was never stopped is removed first; an engine that does not start is stopped."""
        self.stop()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            _namespace_up()
            self.process = self._dockerd()
            self._wait()
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        """Removes the engine's containers, stops dockerd (and its containerd), unlinks its namespace and deletes
        its data. Safe to call again, and on an engine that never started."""
        self.resume()
        self._containers_remove()
        self._dockerd_stop()
        _namespace_down()
        mounted = _mount_points()
        for directory in (self.root / "data", self.root / "exec"):
            if not any(point == directory or directory in point.parents for point in mounted):
                shutil.rmtree(directory, ignore_errors=True)  # what is still mounted there is kept, with its files

    def pause(self) -> None:
        """Freezes dockerd: the engine stops answering while its containers go on running and serving at their
        published ports, as when a host's engine hangs or the host is cut off from the platform."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Lets a paused dockerd carry on where it stopped."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        """Signals dockerd: the one this object started, else the one its pid file names."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signum)
            return
        pidfile = self.root / "docker.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().strip()), signum)

    def load_image(self, reference: str) -> None:
        """Copies an image of the first engine into this one (unless it has it already), streaming it across."""
        with contextlib.closing(docker.from_env(timeout=600)) as first, self.client(timeout=600) as second:
            image_id = first.images.get(reference).id
            if any(image.id == image_id for image in second.images.list(name=reference)):
                return
            for status in second.api.load_image(first.api.get_image(reference)):
                if "error" in status:
                    raise RuntimeError(f"the second engine could not load {reference}: {status['error']}")

    def run_in_namespace(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs a command of this machine in the engine's network: its addresses, its loopback."""
        return subprocess.run(_in_namespace(*command), capture_output=True, text=True, timeout=timeout)

    def _dockerd(self) -> subprocess.Popen:
        """Starts dockerd in the engine's namespace, with nothing of the first engine's: a configuration file,
        socket, data and exec roots (where it starts its own containerd), bridge and address pool of its own."""
        config = self.root / "daemon.json"
        config.write_text("{}\n")  # not this machine's daemon.json
        command = _in_namespace(
            *("dockerd", "--config-file", str(config), "--host", self.url, "--pidfile", str(self.root / "docker.pid")),
            *("--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec")),
            *("--bip", BRIDGE, "--default-address-pool", f"base={ADDRESS_POOL},size=24"),
        )
        with open(self.log, "ab") as log:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

    def _wait(self) -> None:
        """Returns once the engine answers; raises, with the end of its log, when it exits or does not answer."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the second engine exited with {self.process.returncode}:\n{self._log_tail()}")
            if self.answers():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the second engine did not answer within {START_TIMEOUT}s:\n{self._log_tail()}")

    def answers(self) -> bool:
        """Whether the engine answers at its socket."""
        try:
            with self.client(timeout=5) as client:
                return client.ping()
        except (docker.errors.DockerException, requests.RequestException):
            return False

    def _log_tail(self) -> str:
        """The last lines of dockerd's log."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-LOG_LINES:])

    def _containers_remove(self) -> None:
        """Removes every container of the engine, running or not, when it answers."""
        if not self.answers():
            return
        with self.client() as client:
            for container in client.containers.list(all=True):
                container.remove(force=True, v=True)

    def _dockerd_stop(self) -> None:
        """Stops dockerd, then whatever is left in its namespace (its containerd when it could not stop it)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        _namespace_processes_stop()


def _mount_points() -> list[Path]:
    """This machine's mount points."""
    with open("/proc/self/mounts") as mounts:
        return [Path(line.split()[1].replace("\\040", " ")) for line in mounts]


def _in_namespace(*command: str) -> list[str]:
    """The command run in the engine's network namespace (and this machine's mounts, where the cgroups are)."""
    return ["nsenter", f"--net=/run/netns/{NAMESPACE}", *command]


def _run(*command: str, check: bool = True) -> str:
    """Runs a command, returns its output; raises with its error output when it fails and `check` is set."""
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


def _namespace_up() -> None:
    """Makes the engine's namespace and links it to this machine: routes to its bridge, its networks and the
    platform's app networks there go through the link; its traffic to the outside world through this machine."""
    here, there = LINK
    _run("ip", "netns", "add", NAMESPACE)
    _run("ip", "link", "add", here, "type", "veth", "peer", "name", there, "netns", NAMESPACE)
    _run("ip", "addr", "add", f"{LINK_ADDRESSES[0]}/30", "dev", here)
    _run("ip", "link", "set", here, "up")
    _run("ip", "-n", NAMESPACE, "addr", "add", f"{LINK_ADDRESSES[1]}/30", "dev", there)
    _run("ip", "-n", NAMESPACE, "link", "set", there, "up")
    _run("ip", "-n", NAMESPACE, "link", "set", "lo", "up")
    _run("ip", "-n", NAMESPACE, "route", "add", "default", "via", LINK_ADDRESSES[0])
    # Forwarding off, as on a host that just booted: dockerd turns it on and closes its firewall's FORWARD chain.
    _run(*_in_namespace("sysctl", "-q", "-w", "net.ipv4.ip_forward=0"))
    for network in (str(ipaddress.ip_interface(BRIDGE).network), ADDRESS_POOL, APP_NETWORKS):
        _run("ip", "route", "add", network, "via", LINK_ADDRESSES[1], "dev", here)
    _egress_rules_add()


def _namespace_down() -> None:
    """Unlinks the engine's namespace (its routes go with the link), deletes it and this machine's rules for it."""
    _run("ip", "link", "delete", LINK[0], check=False)
    _run("ip", "netns", "delete", NAMESPACE, check=False)
    _egress_rules_remove()


def _namespace_processes_stop() -> None:
    """Stops the processes left in the engine's namespace: SIGTERM, then SIGKILL after STOP_TIMEOUT."""
    started, terminated = time.monotonic(), set()
    while pids := _namespace_pids():
        waited = time.monotonic() - started
        if waited > STOP_TIMEOUT + 10:
            raise RuntimeError(f"processes {pids} are still running in the network namespace {NAMESPACE}")
        for pid in pids:
            if waited > STOP_TIMEOUT or pid not in terminated:  # once: dockerd gives up cleaning after 3 SIGTERMs
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL if waited > STOP_TIMEOUT else signal.SIGTERM)
                terminated.add(pid)
        time.sleep(0.2)


def _namespace_pids() -> list[int]:
    """The processes in the engine's namespace (none when it does not exist)."""
    return [int(pid) for pid in _run("ip", "netns", "pids", NAMESPACE, check=False).split()]


def _egress_rules_add() -> None:
    """Lets the engine's traffic out through this machine's default route, masqueraded as this machine."""
    uplink = _uplink()
    if uplink is None:
        return
    here, mark = LINK[0], ["-m", "comment", "--comment", RULE_COMMENT]
    _iptables("filter", "-A", "FORWARD", "-i", here, "-o", uplink, *mark, "-j", "ACCEPT")
    established = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"]
    _iptables("filter", "-A", "FORWARD", "-i", uplink, "-o", here, *established, *mark, "-j", "ACCEPT")
    _iptables("nat", "-A", "POSTROUTING", "-s", LINK_ADDRESSES[1], "-o", uplink, *mark, "-j", "MASQUERADE")


def _egress_rules_remove() -> None:
    """Deletes this machine's rules that let the engine out, found by their comment."""
    for table in ("filter", "nat"):
        for rule in _run("iptables", "-w", "-t", table, "-S").splitlines():
            if f"--comment {RULE_COMMENT}" in rule and rule.startswith("-A "):
                _iptables(table, "-D", *shlex.split(rule)[1:])


def _iptables(table: str, *rule: str) -> None:
    """Changes a rule of this machine's firewall, waiting for the lock the engines hold while they change theirs."""
    _run("iptables", "-w", "-t", table, *rule)


def _uplink() -> str | None:
    """The interface of this machine's default route, if it has one."""
    words = _run("ip", "-4", "route", "show", "default").split()
    return words[words.index("dev") + 1] if "dev" in words else None
