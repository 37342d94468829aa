"""A one-off run's terminal on a host run by an agent: its session carried over two Redis lists.

The agent starts the container attached (as on any host) and pumps: what the job writes goes onto the run's output
list, what its user types comes off its input list. It also keeps a key alive while the run lasts, so that the
controller's side ends the session, rather than waiting for ever, when the agent goes away.
"""

import base64
import json
import secrets
import threading

from hosts.rpc import redis_client

LIST_TTL = 3600  # seconds the lists outlive a session nobody ended
ALIVE_TTL = 15  # seconds the agent's "still running" mark lasts unless renewed
WAIT = 5  # seconds a read waits before it checks that the agent is still there


def session_key() -> str:
    """A new session's key, the prefix of its lists."""
    return f"paas:run:{secrets.token_hex(12)}"


def _push(client, key: str, item: dict) -> None:
    client.rpush(key, json.dumps(item))
    client.expire(key, LIST_TTL)


class RemoteSession:
    """The controller's side of a run's session on an agent's host: the JobSession interface."""

    def __init__(self, key: str):
        self.key = key
        self.client = redis_client(blocking=True)

    def read(self) -> tuple[str, bytes] | None:
        while True:
            popped = self.client.blpop([f"{self.key}:out"], timeout=WAIT)
            if popped is not None:
                item = json.loads(popped[1])
                return None if "end" in item else (item["stream"], base64.b64decode(item["data"]))
            if not self.client.exists(f"{self.key}:alive"):
                return None  # the agent went away with the run

    def write(self, data: bytes) -> None:
        _push(self.client, f"{self.key}:in", {"data": base64.b64encode(data).decode()})

    def close_input(self) -> None:
        _push(self.client, f"{self.key}:in", {"eof": True})

    def close(self) -> None:
        _push(self.client, f"{self.key}:in", {"close": True})


class SessionPump:
    """The agent's side: copies the attached container's output out, and its user's input in, until it ends."""

    def __init__(self, key: str, session):
        self.key, self.session = key, session
        self.client = redis_client(blocking=True)
        self.ended = threading.Event()

    def start(self) -> None:
        self.client.set(f"{self.key}:alive", "1", ex=ALIVE_TTL)
        for target, name in ((self._output, "out"), (self._input, "in"), (self._alive, "alive")):
            threading.Thread(target=target, name=f"run-{name}", daemon=True).start()

    def _output(self) -> None:
        try:
            while (item := self.session.read()) is not None:
                stream, data = item
                _push(self.client, f"{self.key}:out", {"stream": stream, "data": base64.b64encode(data).decode()})
        finally:
            _push(self.client, f"{self.key}:out", {"end": True})
            self.ended.set()

    def _input(self) -> None:
        while not self.ended.is_set():
            popped = self.client.blpop([f"{self.key}:in"], timeout=1)
            if popped is None:
                continue
            item = json.loads(popped[1])
            if "close" in item:
                self.session.close()
                return
            if "eof" in item:
                self.session.close_input()
            else:
                self.session.write(base64.b64decode(item["data"]))

    def _alive(self) -> None:
        while not self.ended.wait(ALIVE_TTL / 3):
            self.client.set(f"{self.key}:alive", "1", ex=ALIVE_TTL)
        self.client.delete(f"{self.key}:alive")
