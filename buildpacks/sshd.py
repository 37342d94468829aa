"""The git receiver: an SSH server that lets a key's owner push to (and fetch from) their apps.

Only `git-receive-pack` and `git-upload-pack` run, on repositories of apps the key's user owns or collaborates on.
Each push gets a Unix socket through which its pre-receive hook hands over the pushed commit
and reads the build log back.
"""

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
from pathlib import Path

import asyncssh
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from apps.selectors import app_get, key_user, user_get
from buildpacks.hook import ARCHIVE_NAME
from buildpacks.push import in_thread, push_stream
from buildpacks.services import push_too_large_message, repo_ensure, scratch_dir, scratch_remove
from paas.errors import Forbidden, InvalidInput, PaasError
from paas.terminal import terminal_safe
from scheduler.ssh_runs import is_run_command, ssh_run, ssh_run_command

log = logging.getLogger("paas.git")

GIT_SERVICES = ("git-receive-pack", "git-upload-pack")
_repo_locks: dict[str, asyncio.Lock] = {}
_REVISION = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_REPO_PATH = re.compile(r"^/?([a-z0-9-]+?)(?:\.git)?/?$")


def parse_git_command(command: str | None) -> tuple[str, str]:
    """`git-receive-pack '/myapp.git'` -> ("git-receive-pack", "myapp")."""
    if not command:
        raise InvalidInput("this server only takes git pushes: git push paas main")
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise InvalidInput(f"cannot parse the command {command!r}") from error
    if len(words) != 2 or words[0] not in GIT_SERVICES:
        refused = words[0] if words else command
        raise InvalidInput(f"{refused!r} is not allowed; only git push and fetch are, and run APP -- COMMAND")
    match = _REPO_PATH.match(words[1])
    if not match:
        raise InvalidInput(f"{words[1]!r} is not an app repository; use ssh://git@HOST:PORT/APP.git")
    return words[0], match.group(1)


class GitSSHServer(asyncssh.SSHServer):
    """Authenticates pushers by their registered SSH public keys."""

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = await in_thread(key_user)(fingerprint=key.get_fingerprint("sha256"))
        if user is None:
            return False
        self._conn.set_extra_info(paas_user_id=user.pk)
        return True


def _authorize(user_id: int, app_name: str):
    try:
        user = user_get(user_id=user_id)
        return user, app_get(user=user, name=app_name)
    except (PaasError, ObjectDoesNotExist) as error:
        raise Forbidden(f"app {app_name!r} does not exist or you may not push to it") from error


def _say(process: asyncssh.SSHServerProcess, text: str) -> None:
    """Writes to the pusher's terminal (terminal-safe), if the pusher is still there."""
    with contextlib.suppress(Exception):
        process.stderr.write(terminal_safe(text).encode())


async def handle_session(process: asyncssh.SSHServerProcess) -> None:
    """One SSH session: a git service on one app's repository, or a one-off run (`run APP -- COMMAND`)."""
    if is_run_command(process.command):
        await _session(process, _run_session(process), "the run")
    else:
        await _session(process, _git_session(process), "the git receiver")


async def _session(process: asyncssh.SSHServerProcess, work, what: str) -> None:
    """Runs a session's work and exits with its status; errors are told to the user in words, and only there."""
    try:
        status = await work
    except PaasError as error:
        _say(process, f"error: {error}\n")
        status = 1
    except (ConnectionError, asyncssh.Error):
        log.info("an SSH client went away (%s)", what)
        status = 1
    except Exception:
        log.exception("SSH session failed (%s)", what)
        _say(process, f"error: internal error in {what}; see the platform's log\n")
        status = 1
    with contextlib.suppress(Exception):
        process.exit(status)


async def _git_session(process: asyncssh.SSHServerProcess) -> int:
    service, app_name = parse_git_command(process.command)
    user, app = await in_thread(_authorize)(process.get_extra_info("paas_user_id"), app_name)
    repo = await in_thread(repo_ensure)(app)
    async with _repo_lock(app.name, process):
        return await _run_git(process, service, repo, user, app)


async def _run_session(process: asyncssh.SSHServerProcess) -> int:
    """A one-off run attached to this session, for a user who may push to the app."""
    app_name, start = ssh_run_command(shlex.split(process.command))
    user, app = await in_thread(_authorize)(process.get_extra_info("paas_user_id"), app_name)
    return await ssh_run(process, user, app, start, in_thread)


@contextlib.asynccontextmanager
async def _repo_lock(app_name: str, process):
    """One git session per app repository at a time; a second push waits for the first."""
    lock = _repo_locks.setdefault(app_name, asyncio.Lock())
    if lock.locked():
        _say(process, f"Waiting for another push to {app_name} to finish...\n")
    async with lock:
        yield


async def _run_git(process, service: str, repo: Path, user, app) -> int:
    push_dir = await in_thread(scratch_dir)("push-")
    socket_path = push_dir / "hook.sock"
    hook_server = None
    try:
        if service == "git-receive-pack":
            hook_server = await asyncio.start_unix_server(
                lambda reader, writer: _serve_hook(reader, writer, user, app, push_dir / ARCHIVE_NAME),
                path=str(socket_path),
            )
        env = {
            **os.environ,
            "PAAS_PUSH_SOCKET": str(socket_path),
            "PAAS_PUSH_DIR": str(push_dir),
            "PAAS_SOURCE_MAX_BYTES": str(settings.PAAS_SOURCE_MAX_BYTES),
        }
        git = await asyncio.create_subprocess_exec(
            "git",
            service.removeprefix("git-"),
            str(repo),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        watch = _SizeRefusalWatch()
        status = await _pump(process, git, watch)
        if watch.refused():
            _say(process, f"error: {push_too_large_message()}\n")
        return status
    finally:
        if hook_server is not None:
            hook_server.close()
        await in_thread(scratch_remove)(push_dir)


class _SizeRefusalWatch:
    """Tells whether git refused a push for its size (receive.maxInputSize), from what went in and came out."""

    REFUSAL = b"pack exceeds maximum allowed size"

    def __init__(self):
        self.received = 0
        self.seen = False
        self._tails: dict[int, bytes] = {}

    def incoming(self, data: bytes) -> None:
        self.received += len(data)

    def outgoing(self, stream: int, data: bytes) -> None:
        tail = self._tails.get(stream, b"") + data
        self.seen = self.seen or self.REFUSAL in tail
        self._tails[stream] = tail[-len(self.REFUSAL) :]

    def refused(self) -> bool:
        return self.seen and self.received > settings.PAAS_PUSH_MAX_BYTES


async def _pump(process, git, watch: _SizeRefusalWatch) -> int:
    """Connects the SSH channel to the git process until git exits; kills git if the client goes away."""

    async def copy_in():
        while data := await process.stdin.read(65536):
            watch.incoming(data)
            git.stdin.write(data)
            await git.stdin.drain()
        git.stdin.close()

    async def copy_out(source, target):
        while data := await source.read(65536):
            watch.outgoing(id(source), data)
            target.write(data)
            await target.drain()

    feeder = asyncio.create_task(copy_in())
    try:
        await asyncio.gather(copy_out(git.stdout, process.stdout), copy_out(git.stderr, process.stderr))
        return await git.wait()
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feeder
        if git.returncode is None:
            git.kill()
            await git.wait()


async def _serve_hook(reader, writer, user, app, archive: Path) -> None:
    """Builds the commit the hook archived into this push's own directory, streaming the log back."""
    try:
        request = json.loads(await reader.readline())
        if not _REVISION.match(str(request.get("new"))):
            raise InvalidInput("the hook sent no valid revision")
        messages = push_stream(app=app, actor=user, revision=request["new"], archive=archive)
        async for message in messages:
            writer.write(json.dumps(message).encode() + b"\n")
            await writer.drain()
    except PaasError as error:  # the push is refused (its size, ...): the pusher reads why
        for message in ({"log": f" !     {terminal_safe(str(error))}\n"}, {"exit": 1}):
            writer.write(json.dumps(message).encode() + b"\n")
    except ConnectionError:
        log.info("the pusher of %s went away; its build goes on", app.name)
    except asyncio.CancelledError:
        return  # the platform is stopping
    except Exception:
        log.exception("push of %s failed", app.name)
        for message in ({"log": " !     internal error in the build; see the platform's log\n"}, {"exit": 1}):
            writer.write(json.dumps(message).encode() + b"\n")
    finally:
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


def host_key_path() -> Path:
    """The server's SSH host key, made on first start and kept in DATA_DIR: private (0600) from its first byte.

    The file is created exclusively: never through a symlink, nor over a key another process made meanwhile.
    """
    path = Path(settings.DATA_DIR) / "ssh_host_ed25519_key"
    if path.exists():
        return path
    key = asyncssh.generate_private_key("ssh-ed25519")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(key.export_private_key())
    return path


async def git_server_start(host: str, port: int) -> asyncssh.SSHAcceptor:
    """Starts listening for git over SSH."""
    return await asyncssh.create_server(
        GitSSHServer,
        host,
        port,
        server_host_keys=[str(host_key_path())],
        process_factory=handle_session,
        encoding=None,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        sftp_factory=None,
        line_editor=False,
    )
