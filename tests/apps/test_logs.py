"""The app log store: entries, rotation, reading the last ones across files, filters, following, removal."""

import os
import time

import pytest

from apps.logs import (
    LINE_MAX_CHARS,
    LogFilter,
    LogFollower,
    app_log_event,
    app_log_last_time,
    app_log_remove,
    app_log_stream,
    app_log_tail,
    app_log_write,
    log_path,
    log_since,
    log_timestamp,
)

AT = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def _write(app_name, *lines, source="web.1 v1 stdout", at=AT):
    app_log_write(app_name=app_name, entries=[(at + i, source, line) for i, line in enumerate(lines)])


def _texts(entries):
    return [entry.split(": ", 1)[1] for entry in entries]


def test_an_entry_has_its_time_source_and_text_on_one_private_line():
    _write("shop", "hello\r\n", "two\nlines\x1b[2J")
    path = log_path("shop")
    assert path.read_text().splitlines() == [
        "2026-09-21T14:13:20.000000Z web.1 v1 stdout: hello",
        "2026-09-21T14:13:21.000000Z web.1 v1 stdout: two lines\x1b[2J",
    ]
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_long_lines_are_capped():
    _write("shop", "x" * (LINE_MAX_CHARS * 2))
    assert len(_texts(app_log_tail(app_name="shop", lines=5, log_filter=LogFilter()))[0]) == LINE_MAX_CHARS


def test_the_log_rotates_past_its_size_and_the_tail_spans_both_files(settings):
    settings.PAAS_LOG_MAX_BYTES = 2000
    lines = [f"line {i:03d}" for i in range(100)]  # ~45 bytes an entry: 4500 bytes, two rotations
    for i, line in enumerate(lines):
        _write("shop", line, at=AT + i)
    path = log_path("shop")
    assert path.with_name("shop.log.1").exists()
    assert path.stat().st_size < 2000 and path.with_name("shop.log.1").stat().st_size >= 2000
    kept = _texts(app_log_tail(app_name="shop", lines=1000, log_filter=LogFilter()))
    assert kept == lines[-len(kept) :] and 40 < len(kept) < 100  # the oldest file is gone: bounded
    in_current = len(path.read_text().splitlines())
    spanning = app_log_tail(app_name="shop", lines=in_current + 3, log_filter=LogFilter())
    assert _texts(spanning) == lines[-in_current - 3 :]


def test_filters_by_process_type_and_since():
    _write("shop", "served", source="web.1 v1 stdout")
    _write("shop", "worked", source="worker.1 v1 stderr", at=AT + 10)
    app_log_write(app_name="shop", entries=[(AT + 20, "paas[scheduler]", "worker.1 crashed, exit 1, restarting in 1s")])
    app_log_write(app_name="shop", entries=[(AT + 30, "paas[deploy]", "v2 deployed")])
    everything = app_log_tail(app_name="shop", lines=10, log_filter=LogFilter())
    assert _texts(everything) == ["served", "worked", "worker.1 crashed, exit 1, restarting in 1s", "v2 deployed"]
    worker = app_log_tail(app_name="shop", lines=10, log_filter=LogFilter(process="worker"))
    assert _texts(worker) == ["worked", "worker.1 crashed, exit 1, restarting in 1s"]
    recent = app_log_tail(app_name="shop", lines=10, log_filter=LogFilter(since=log_timestamp(AT + 10)))
    assert _texts(recent) == ["worked", "worker.1 crashed, exit 1, restarting in 1s", "v2 deployed"]
    assert _texts(app_log_tail(app_name="shop", lines=2, log_filter=LogFilter())) == _texts(everything)[-2:]


def test_since_takes_durations_and_times():
    now = AT + 3600
    assert log_since("10m", now=now) == log_timestamp(now - 600)
    assert log_since("2h", now=now) == log_timestamp(now - 7200)
    assert log_since("2026-09-21T14:13:20") == "2026-09-21T14:13:20.000000Z"
    assert log_since("2026-09-21T16:13:20+02:00") == "2026-09-21T14:13:20.000000Z"
    for wrong in ("yesterday", "10 minutes", "99999999999d"):
        with pytest.raises(ValueError, match="is not a duration"):
            log_since(wrong)


def test_a_platform_event_joins_the_stream():
    app_log_event("shop", "scheduler", "web.1 crashed, exit 1, restarting in 4s")
    (entry,) = app_log_tail(app_name="shop", lines=10, log_filter=LogFilter())
    assert entry.endswith("Z paas[scheduler]: web.1 crashed, exit 1, restarting in 4s")


def test_the_last_time_of_a_job_is_found_across_files(settings):
    settings.PAAS_LOG_MAX_BYTES = 200
    _write("shop", "old", source="web.1 v1 stdout", at=AT)
    _write("shop", "x", "y", "z", source="web.1 v2 stdout", at=AT + 100)
    assert app_log_last_time(app_name="shop", source="web.1 v1") == pytest.approx(AT, abs=1e-5)
    assert app_log_last_time(app_name="shop", source="web.1 v2") == pytest.approx(AT + 102, abs=1e-5)
    assert app_log_last_time(app_name="shop", source="web.1 v3") is None


def test_a_follower_reads_new_entries_across_a_rotation(settings):
    settings.PAAS_LOG_MAX_BYTES = 300
    _write("shop", "before")
    follower = LogFollower("shop", LogFilter())
    assert follower.new_entries() == []
    _write("shop", "one", "two")
    assert _texts(follower.new_entries()) == ["one", "two"]
    _write("shop", *[f"more {i}" for i in range(10)])  # rotates, perhaps more than once
    _write("shop", "after")
    seen = _texts(follower.new_entries())
    assert seen[-1] == "after" and "more 9" in seen
    follower.close()


def test_following_streams_the_tail_then_new_entries(settings):
    settings.PAAS_LOG_FOLLOW_MAX_SECONDS = 1
    _write("shop", "first")
    stream = app_log_stream(app_name="shop", lines=10, log_filter=LogFilter(), follow=True)
    assert _texts([next(stream)]) == ["first\n"]
    _write("shop", "second")
    started = time.monotonic()
    assert _texts(list(stream)) == ["second\n"]
    assert time.monotonic() - started < 3


def test_removal_takes_both_files(settings):
    settings.PAAS_LOG_MAX_BYTES = 100
    _write("shop", "a", "b", "c")
    app_log_remove(app_name="shop")
    assert not log_path("shop").exists() and not log_path("shop").with_name("shop.log.1").exists()
    assert app_log_tail(app_name="shop", lines=10, log_filter=LogFilter()) == []
