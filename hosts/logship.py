"""Job logs in a cluster: agents follow their jobs' output next to the containers, and send the lines to the
controllers over Redis, which append them to the apps' logs (apps.logs) in the data directory they share.

An agent also records, per job, the time of the last line it sent, so that an agent that restarts goes on from
there rather than sending a job's output again.
"""

import json
import logging
import threading

from hosts.rpc import redis_client

log = logging.getLogger("paas.hosts")
LOG_QUEUE = "paas:logs"
LAST_SENT = "paas:logs:last"  # hash: "APP SOURCE" -> the time of the last line sent
INTAKE_WAIT = 2  # seconds an intake waits for lines before it checks whether it should stop


class RedisLogSink:
    """An agent's side: where its log followers' lines go (scheduler.logs.LogCollector.sink)."""

    def __init__(self):
        self.client = redis_client()

    def write(self, app_name: str, source: str, entries: list[tuple[float, str, str]]) -> None:
        pipeline = self.client.pipeline()
        pipeline.rpush(LOG_QUEUE, json.dumps({"app": app_name, "entries": entries}))
        pipeline.hset(LAST_SENT, f"{app_name} {source}", entries[-1][0])
        pipeline.execute()

    def last_time(self, app_name: str, source: str) -> float | None:
        sent = self.client.hget(LAST_SENT, f"{app_name} {source}")
        return float(sent) if sent is not None else None


class LogIntake(threading.Thread):
    """A controller's side: appends the lines agents send to the apps' logs, until stopped."""

    def __init__(self):
        super().__init__(name="log-intake", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        from apps.logs import app_log_write

        client = redis_client()
        while not self.stopping.is_set():
            try:
                popped = client.blpop([LOG_QUEUE], timeout=INTAKE_WAIT)
                if popped is not None:
                    batch = json.loads(popped[1])
                    entries = [tuple(entry) for entry in batch["entries"]]
                    app_log_write(app_name=batch["app"], entries=entries)
            except Exception as error:  # noqa: BLE001 - Redis away, or a line that cannot be written: go on
                log.warning("could not take in the agents' log lines: %s", error)
                self.stopping.wait(INTAKE_WAIT)
