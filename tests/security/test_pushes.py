"""Pushes are bounded, and what reaches the pusher's terminal is safe to show.

The unit tests run in memory; the end-to-end ones push over real git and SSH to a platform of their own, started
with low limits.
"""

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from buildpacks import push
from buildpacks.hook import _archive
from buildpacks.models import Build, BuildState
from buildpacks.push import push_stream
from buildpacks.services import build_create, repo_ensure
from paas.errors import InvalidInput
from paas.terminal import TerminalText, terminal_safe
from tests.e2e.conftest import Platform, commit
from tests.factories import make_app

ESC = "\x1b"


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("\x1b[31mred\x1b[0m text\n", "red text\n"),
        ("\x1b]0;a new window title\x07build\n", "build\n"),
        ("\x1b]8;;http://evil.invalid/\x1b\\link\x1b]8;;\x1b\\\n", "link\n"),
        ("ding\x07 \x1b[2J\x1b[H\x1b[1;1Hcleared\x1bc\n", "ding cleared\n"),
        ("fake\rreal\r\nline\n", "fake\nreal\nline\n"),
        ("tab\tand\x00nul\x08back\x7fdel \x9b31mcsi\x85\n", "tab\tandnulbackdel csi\n"),
        ("Collecting café==1.0 ✓\n", "Collecting café==1.0 ✓\n"),
    ],
)
def test_terminal_text_keeps_only_what_is_shown(raw, shown):
    assert terminal_safe(raw) == shown


def test_an_escape_sequence_split_across_chunks_is_removed_whole():
    terminal = TerminalText()
    chunks = ["-----> step\x1b", "[3", "1mred\x1b]0;ti", "tle\x07 done\r", "\nnext\x1b"]
    shown = "".join(terminal.feed(chunk) for chunk in chunks) + terminal.end()
    assert shown == "-----> stepred done\nnext"


def test_a_source_archive_over_the_cap_is_refused_and_not_stored(settings, tmp_path, db):
    settings.PAAS_SOURCE_MAX_BYTES = 5 * 1024 * 1024
    app = make_app()
    archive = tmp_path / "source.tar"
    archive.write_bytes(b"\0" * (5 * 1024 * 1024 + 1))
    blobs = Path(settings.DATA_DIR) / "blobs"
    before = sorted(blobs.rglob("*")) if blobs.exists() else []
    with pytest.raises(InvalidInput) as refused:
        build_create(app=app, actor=app.owner, revision="a" * 40, source_path=archive)
    assert "larger than 5 MiB unpacked" in str(refused.value) and "PAAS_SOURCE_MAX_BYTES" in str(refused.value)
    assert not Build.objects.filter(app=app).exists()
    assert (sorted(blobs.rglob("*")) if blobs.exists() else []) == before


def _git(directory: Path, *args: str) -> str:
    identity = ["-c", "user.name=paas test", "-c", "user.email=test@paas.invalid"]
    result = subprocess.run(["git", *identity, *args], cwd=directory, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_the_hook_writes_no_more_of_a_tree_than_the_cap_allows(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "big.bin").write_bytes(b"\0" * (3 * 1024 * 1024))  # a 3 MiB tree, a tiny pack
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "big")
    revision = _git(repo, "rev-parse", "HEAD")
    archive = tmp_path / "source.tar"
    os.chdir(repo)
    try:
        _archive(revision, str(archive), 1024 * 1024)
        assert archive.stat().st_size == 1024 * 1024 + 1  # enough for the receiver to refuse it
        _archive(revision, str(archive), 8 * 1024 * 1024)
        assert archive.stat().st_size > 3 * 1024 * 1024
    finally:
        os.chdir(Path(__file__).parent)


def test_each_app_repository_limits_what_one_push_may_send(settings, db):
    settings.PAAS_PUSH_MAX_BYTES = 2 * 1024 * 1024
    path = repo_ensure(make_app())
    assert _git(path, "config", "--get", "receive.maxInputSize") == str(2 * 1024 * 1024)


async def _collect(messages, timeout: float = 20) -> list[dict]:
    async def drain():
        return [message async for message in messages]

    return await asyncio.wait_for(drain(), timeout)


def _run_push(app) -> list[dict]:
    stream = push_stream(app=app, actor=app.owner, revision="a" * 40, archive=Path("unused"))
    try:
        return asyncio.run(_collect(stream))
    finally:
        connection.close()  # asyncio's threads had their own


@pytest.mark.django_db(transaction=True)
def test_what_a_build_prints_reaches_the_pusher_without_escape_sequences(monkeypatch):
    app = make_app()
    build = Build.objects.create(
        app=app,
        revision="a" * 40,
        source_digest="sha256:" + "0" * 64,
        state=BuildState.FAILED,
        log="\x1b[31mERROR\x1b[0m: \x1b]0;pwned\x07no such package\x07\r\n\x1b[2J !     Build failed\n",
    )
    monkeypatch.setattr(push, "build_create", lambda **kwargs: build)
    messages = _run_push(app)
    assert messages == [{"log": "ERROR: no such package\n !     Build failed\n"}, {"exit": 1}]


@pytest.mark.django_db(transaction=True)
def test_a_push_whose_build_never_starts_gives_up_and_says_why(monkeypatch, settings):
    settings.PAAS_BUILD_TIMEOUT = 0
    monkeypatch.setattr(push, "STALE_MARGIN_SECONDS", 0)
    monkeypatch.setattr(push, "WAIT_GRACE_SECONDS", 1)
    app = make_app("stuck")
    build = Build.objects.create(app=app, revision="a" * 40, source_digest="sha256:" + "0" * 64)
    monkeypatch.setattr(push, "build_create", lambda **kwargs: build)
    messages = _run_push(app)
    assert messages == [
        {"log": " !     Gave up waiting: the build did not start within 1s; see `paas builds -a stuck`\n"},
        {"exit": 1},
    ]
    build.refresh_from_db()
    assert build.state == BuildState.FAILED  # the app can build again


# End to end: a platform of this module's own, with limits low enough to reach in a test.

PUSH_LIMIT, SOURCE_LIMIT = "2m", "5m"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    running = Platform(tmp_path_factory.mktemp("limited"))
    running.env.update(PAAS_PUSH_MAX_BYTES=PUSH_LIMIT, PAAS_SOURCE_MAX_BYTES=SOURCE_LIMIT)
    running.start()
    try:
        yield running
    finally:
        running.cleanup()


def _blobs(platform) -> list[Path]:
    return [path for path in (platform.data_dir / "blobs").rglob("*") if path.is_file()]


def _new_app(platform, name: str) -> Path:
    source = platform.root / name
    source.mkdir()
    (source / "requirements.txt").write_text("flask\n")
    commit(platform, source, "first")
    result = platform.paas("create", name, cwd=source)
    assert result.exit_code == 0, result.output
    return source


@pytest.mark.e2e
def test_oversize_pushes_are_refused_with_the_limit_and_leave_nothing_behind(logged_in):
    platform = logged_in
    source = _new_app(platform, "big")
    (source / "noise.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible: a 3 MiB pack
    commit(platform, source, "too big a pack")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "larger than 2 MiB, the most this platform accepts in one push (PAAS_PUSH_MAX_BYTES)" in push.stderr

    platform.git("reset", "-q", "--hard", "HEAD~1", cwd=source)
    (source / "zeros.bin").write_bytes(b"\0" * (8 * 1024 * 1024))  # an 8 MiB tree in a pack of a few KiB
    commit(platform, source, "too big a tree")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "remote:  !     the pushed tree is larger than 5 MiB unpacked" in push.stderr
    assert "(PAAS_SOURCE_MAX_BYTES)" in push.stderr

    assert _blobs(platform) == []
    assert platform.paas_json("releases", "-a", "big") == []
    assert platform.paas_json("builds", "-a", "big") == []


@pytest.mark.e2e
def test_escape_sequences_a_build_prints_reach_the_pusher_stripped(logged_in):
    platform = logged_in
    source = _new_app(platform, "noisy")
    (source / "requirements.txt").write_text("./pkg\n")
    (source / "pkg").mkdir()
    (source / "pkg" / "setup.py").write_text(
        "import sys\n"
        'print("\\x1b[31mPAAS-RED\\x1b[0m \\x1b]0;owned\\x1b\\\\title \\x1b[2Jcleared\\x1b[1;1H")\n'
        "sys.exit(1)\n"
    )
    commit(platform, source, "a package that fails loudly")
    push = platform.git("push", "paas", "main", cwd=source)
    assert push.returncode != 0
    assert "PAAS-RED title cleared" in push.stderr, push.stderr
    assert ESC not in push.stderr and "\x07" not in push.stderr
    builds = platform.paas_json("builds", "-a", "noisy")
    assert [build["state"] for build in builds] == ["failed"]
    assert _blobs(platform) == []  # the failed build's source is gone too
