"""Each app's log: what its jobs wrote and what the platform did to it, kept under DATA_DIR past the containers.

One file per app, `DATA_DIR/logs/APP.log` (0600), one entry per line:

    2026-11-25T22:26:26.123456Z web.1 v7 stdout: text        (a job's line)
    2026-11-25T22:26:27.000000Z paas[scheduler]: web.1 crashed, exit 1, restarting in 4s   (a platform event)

Past PAAS_LOG_MAX_BYTES the file is renamed to `APP.log.1` (one old file is kept), so an app's log takes at most
twice that. Timestamps are UTC with microseconds, so entries sort as text. Appends hold one lock per app.
"""

import asyncio
import os
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

LINE_MAX_CHARS = 8192
TAIL_MAX_LINES = 10000
FOLLOW_POLL_SECONDS = 0.3
_BLOCK = 64 * 1024
_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()
_LINE_BREAKS = re.compile(r"[\r\n\x00]")  # what would split an entry (or end a C string)


def log_dir():
    return settings.DATA_DIR / "logs"


def log_path(app_name: str):
    """Where `app_name`'s current log file is; the older one is beside it with `.1` added."""
    return log_dir() / f"{app_name}.log"


def log_timestamp(at: float) -> str:
    """`at` (seconds since the epoch) as a log entry's timestamp: 2026-11-25T22:26:26.123456Z."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lock(app_name: str) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(app_name, threading.Lock())


def _clean(text: str) -> str:
    """One line of at most LINE_MAX_CHARS: no newline nor carriage return inside it."""
    return _LINE_BREAKS.sub(" ", text.rstrip("\r\n"))[:LINE_MAX_CHARS]


def app_log_write(*, app_name: str, entries: Iterable[tuple[float, str, str]]) -> None:
    """Appends entries (timestamp, source, text) to `app_name`'s log, then rotates it when it has grown too big.

    `source` is `web.1 v7 stdout` for a job's line, `paas[scheduler]` for a platform event.
    """
    text = "".join(f"{log_timestamp(at)} {source}: {_clean(line)}\n" for at, source, line in entries)
    if not text:
        return
    path = log_path(app_name)
    with _lock(app_name):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode("utf-8", "replace"))
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size >= settings.PAAS_LOG_MAX_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))


def app_log_event(app_name: str, source: str, text: str) -> None:
    """Adds a platform event to `app_name`'s log, as `paas[SOURCE]: TEXT` (e.g. source `scheduler`, `deploy`).

    Never raises: a log that cannot be written must not stop what it reports on.
    """
    try:
        app_log_write(app_name=app_name, entries=[(time.time(), f"paas[{source}]", text)])
    except OSError:
        pass


def app_log_remove(*, app_name: str) -> None:
    """Removes `app_name`'s log and its older file: the app is gone."""
    path = log_path(app_name)
    with _lock(app_name):
        for old in (path, path.with_name(path.name + ".1")):
            old.unlink(missing_ok=True)


@dataclass(frozen=True)
class LogFilter:
    """Which entries a reader wants: of one process type (and the platform's events about it), since a time."""

    process: str | None = None
    since: str | None = None  # a log timestamp; entries from then on

    def matches(self, entry: str) -> bool:
        stamp, _, rest = entry.partition(" ")
        if self.since and stamp < self.since:
            return False
        if not self.process:
            return True
        source, _, text = rest.partition(" ")
        if source.startswith("paas["):
            return text.startswith(f"{self.process}.")
        return source.startswith(f"{self.process}.")


def _lines_backwards(path, end: int | None = None) -> Iterator[str]:
    """The lines of the file at `path` (up to byte `end`), last first; nothing when it does not exist."""
    try:
        log_file = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with log_file:
        position = os.fstat(log_file.fileno()).st_size if end is None else end
        rest = b""
        while position > 0:
            start = max(0, position - _BLOCK)
            log_file.seek(start)
            block = log_file.read(position - start) + rest
            position = start
            lines = block.split(b"\n")
            rest = lines.pop(0)
            for line in reversed(lines):
                if line:
                    yield line.decode("utf-8", "replace")
        if rest:
            yield rest.decode("utf-8", "replace")


def app_log_tail(*, app_name: str, lines: int, log_filter: LogFilter, end: int | None = None) -> list[str]:
    """The last `lines` entries of `app_name`'s log that pass the filter, oldest first, across its rotated file.

    `end` reads the current file only up to that byte (where a follower goes on from).
    """
    path = log_path(app_name)
    found: deque[str] = deque()
    sources = (_lines_backwards(path, end), _lines_backwards(path.with_name(path.name + ".1")))
    for source in sources:
        for entry in source:
            if len(found) >= lines:
                return list(found)
            if log_filter.matches(entry):
                found.appendleft(entry)
    return list(found)


def app_log_last_time(*, app_name: str, source: str) -> float | None:
    """When the last entry from `source` (a job: `web.1 v7`) was written, just past it; None when there is none.

    A collector that restarts goes on from there, so that it writes no line twice.
    """
    path = log_path(app_name)
    for entries in (_lines_backwards(path), _lines_backwards(path.with_name(path.name + ".1"))):
        for entry in entries:
            stamp, _, rest = entry.partition(" ")
            if rest.startswith(f"{source} "):
                try:
                    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                except ValueError:
                    continue
                return moment.timestamp() + 0.000001
    return None


class LogFollower:
    """Reads `app_name`'s log as it grows, from where it ends now, across rotations: what a `-f` reader gets."""

    def __init__(self, app_name: str, log_filter: LogFilter):
        self.path = log_path(app_name)
        self.log_filter = log_filter
        self.file = None
        self.position = 0
        self.partial = b""
        self._open(at_end=True)

    def _open(self, at_end: bool) -> None:
        try:
            self.file = open(self.path, "rb")  # noqa: SIM115 - closed in close() or on rotation
        except FileNotFoundError:
            self.file = None
            self.position = 0
            return
        self.position = os.fstat(self.file.fileno()).st_size if at_end else 0

    def new_entries(self) -> list[str]:
        """Entries written since the last call (those of the file rotated meanwhile too)."""
        data = self._read()
        if self._rotated():
            self.close()
            self._open(at_end=False)
            data += self._read()
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        entries = (line.decode("utf-8", "replace") for line in lines if line)
        return [entry for entry in entries if self.log_filter.matches(entry)]

    def _read(self) -> bytes:
        if self.file is None:
            return b""
        self.file.seek(self.position)
        data = self.file.read()
        self.position += len(data)
        return data

    def _rotated(self) -> bool:
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            return False
        return self.file is None or os.fstat(self.file.fileno()).st_ino != current

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _tail_from(follower: LogFollower, app_name: str, lines: int) -> list[str]:
    end = follower.position if follower.file else None
    entries = app_log_tail(app_name=app_name, lines=lines, log_filter=follower.log_filter, end=end)
    return [f"{entry}\n" for entry in entries]


def app_log_stream(*, app_name: str, lines: int, log_filter: LogFilter, follow: bool) -> Iterator[str]:
    """The last entries, then (following) new ones as they are written, for at most PAAS_LOG_FOLLOW_MAX_SECONDS."""
    follower = LogFollower(app_name, log_filter)
    try:
        yield from _tail_from(follower, app_name, lines)
        deadline = time.monotonic() + settings.PAAS_LOG_FOLLOW_MAX_SECONDS
        while follow and time.monotonic() < deadline:
            time.sleep(FOLLOW_POLL_SECONDS)
            yield from (f"{entry}\n" for entry in follower.new_entries())
    finally:
        follower.close()


async def app_log_stream_async(*, app_name: str, lines: int, log_filter: LogFilter, follow: bool) -> AsyncIterator[str]:
    """`app_log_stream` for an ASGI server: it waits without holding a thread, and ends when the client goes."""
    follower = LogFollower(app_name, log_filter)
    try:
        for entry in _tail_from(follower, app_name, lines):
            yield entry
        deadline = time.monotonic() + settings.PAAS_LOG_FOLLOW_MAX_SECONDS
        while follow and time.monotonic() < deadline:
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            for entry in follower.new_entries():
                yield f"{entry}\n"
    finally:
        follower.close()


_AGO = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def log_since(text: str, now: float | None = None) -> str:
    """A `--since` value (10m, 2h, 30s, 1d, or an ISO 8601 time; UTC unless it says) as a log timestamp."""
    try:
        return log_timestamp(_since_seconds(text.strip(), time.time() if now is None else now))
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{text!r} is not a duration such as 10m, 2h, 1d or a time such as 2026-11-25T22:00") from None


def _since_seconds(text: str, now: float) -> float:
    match = _AGO.match(text)
    if match:
        return now - int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
