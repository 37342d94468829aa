"""Job logs in a cluster: agents follow their jobs' output next to the containers, and send the lines to the
controllers over Redis, which append them to the apps' logs (apps.logs) in the data directory they share.

An agent also records, per job, the time of the last line it sent, so that an agent that restarts goes on from
there rather than sending a job's output again.
"""

import json
import logging
import re
import threading
import time

from apps.models import APP_NAME_PATTERN
from hosts.rpc import redis_client

log = logging.getLogger("paas.hosts")
LOG_QUEUE = "paas:logs"
QUEUE_MAX = 200_000  # batches kept while no controller takes them in (none running): the oldest go first
LAST_SENT = "paas:logs:last:"  # + "APP SOURCE": the time of the last line sent, for a week
LAST_SENT_TTL = 7 * 24 * 3600
INTAKE_WAIT = 2  # seconds an intake waits for lines before it checks whether it should stop


class RedisLogSink:
    """An agent's side: where its log followers' lines go (scheduler.logs.LogCollector.sink)."""

    def __init__(self):
        self.client = redis_client()

    def write(self, app_name: str, source: str, entries: list[tuple[float, str, str]]) -> None:
        pipeline = self.client.pipeline()
        pipeline.rpush(LOG_QUEUE, json.dumps({"app": app_name, "entries": entries}))
        pipeline.ltrim(LOG_QUEUE, -QUEUE_MAX, -1)
        pipeline.set(f"{LAST_SENT}{app_name} {source}", entries[-1][0], ex=LAST_SENT_TTL)
        pipeline.execute()

    def last_time(self, app_name: str, source: str) -> float | None:
        sent = self.client.get(f"{LAST_SENT}{app_name} {source}")
        return float(sent) if sent is not None else None


class LogIntake(threading.Thread):
    """A controller's side: appends the lines agents send to the apps' logs, until stopped."""

    def __init__(self):
        super().__init__(name="log-intake", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        client = redis_client(blocking=True)
        while not self.stopping.is_set():
            try:
                popped = client.blpop([LOG_QUEUE], timeout=INTAKE_WAIT)
                if popped is not None:
                    _batch_write(json.loads(popped[1]))
            except Exception as error:  # noqa: BLE001 - Redis away, or a line that cannot be written: go on
                log.warning("could not take in the agents' log lines: %s", error)
                self.stopping.wait(INTAKE_WAIT)


def _batch_write(batch: dict) -> None:
    """Appends one batch of an agent's lines to its app's log; a batch naming no app of ours is dropped (the name
    makes a file's path)."""
    from apps.logs import app_log_write

    app_name = batch.get("app")
    if not isinstance(app_name, str) or not re.match(APP_NAME_PATTERN, app_name):
        log.warning("dropped log lines sent for %r, which is not an app's name", app_name)
        return
    if _app_known(app_name):
        app_log_write(
            app_name=app_name, entries=[(float(at), str(source), str(text)) for at, source, text in batch["entries"]]
        )


_known: dict[str, float] = {}  # app name -> until when it is known to exist (monotonic seconds)
KNOWN_FOR = 10.0


def _app_known(app_name: str) -> bool:
    """Whether an app of this name exists; asked of the database once in KNOWN_FOR seconds per app, not per line."""
    from apps.models import App

    now = time.monotonic()
    if _known.get(app_name, 0) > now:
        return True
    if not App.objects.filter(name=app_name).exists():
        return False
    _known[app_name] = now + KNOWN_FOR
    return True
