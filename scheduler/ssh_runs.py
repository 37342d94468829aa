"""`ssh -t -p PORT git@HOST run APP -- COMMAND`: a one-off run connected to an SSH session.

With a pseudo-terminal (`ssh -t`), the job gets one too: what is typed goes to it as typed (Ctrl-C included,
which its terminal turns into SIGINT), and window size changes follow. Without one, its stdout and stderr stay
apart and the session's input is its stdin, up to end-of-file. A session that goes away kills its run.
"""

import asyncio
import contextlib
import shlex

import asyncssh

from hosts.drivers import host_driver
from paas.errors import InvalidInput
from paas.runenv import ENV_OPTION, run_env_decoded
from releases.services import config_validate_changes
from scheduler.runs import RunStart, run_abandoned, run_exit_code, run_start, session_items

ADDON_OPTION = "--addon="  # the run is an add-on's shell (paas addons psql)
EXIT_NO_STATUS = 255  # as ssh's own, when the remote command ended without an exit status


def ssh_run_command(words: list[str]) -> RunStart:
    """`run APP [--env=B64] [--addon=NAME] -- COMMAND...` (the `--` is optional) -> the app's name and what to
    start."""
    if len(words) < 2:
        raise InvalidInput("say which app and what to run: ssh -t git@HOST run APP -- bash")
    app_name, rest = words[1], words[2:]
    env, addon = {}, ""
    while rest[:1] and rest[0].startswith((ENV_OPTION, ADDON_OPTION)):
        option = rest.pop(0)
        if option.startswith(ADDON_OPTION):
            addon = option.removeprefix(ADDON_OPTION)
        else:
            env.update(_env_decoded(option))
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if not rest:
        raise InvalidInput(f"say what to run: ssh -t git@HOST run {app_name} -- bash")
    return app_name, RunStart(" ".join(rest), attached=True, stdin=True, env=env, addon=addon)


def _env_decoded(option: str) -> dict[str, str]:
    try:
        env = run_env_decoded(option)
    except ValueError as error:
        raise InvalidInput("--env= takes the variables as base64 of a JSON object") from error
    config_validate_changes(env)
    return {key: value for key, value in env.items() if value is not None}


async def ssh_run(process: asyncssh.SSHServerProcess, user, app, start: RunStart, in_thread) -> int:
    """Runs `start` in a one-off job of `app` attached to this session; returns its exit status."""
    terminal = process.get_terminal_type()
    width, height, *_ = process.get_terminal_size()
    start.tty = bool(terminal)
    if terminal:
        start.env = {"TERM": terminal, **start.env}
        start.size = (height, width) if height and width else None
    job, session = await in_thread(run_start)(app=app, actor=user, start=start)
    driver = await in_thread(host_driver)(job.host)
    ended = False
    typing = asyncio.create_task(_type_into(process, session, driver, job.container_id, in_thread))
    output = asyncio.create_task(_show_output(process, session))
    closed = asyncio.create_task(process.channel.wait_closed())
    try:
        await asyncio.wait({output, closed}, return_when=asyncio.FIRST_COMPLETED)
        ended = output.done() and output.exception() is None
        if ended:
            exit_code = await in_thread(run_exit_code)(job)
            return EXIT_NO_STATUS if exit_code is None else exit_code
        return EXIT_NO_STATUS
    finally:
        for task in (typing, output, closed):
            task.cancel()
        session.close()
        if not ended:
            await in_thread(run_abandoned)(job)


async def _show_output(process, session) -> None:
    async for stream, data in session_items(session):
        target = process.stderr if stream == "stderr" else process.stdout
        target.write(data)
        await target.drain()


async def _type_into(process, session, driver, container_id: str, in_thread) -> None:
    """Copies what the user types into the job, with window size changes and signals, until end-of-file."""
    while True:
        try:
            data = await process.stdin.read(65536)
        except asyncssh.TerminalSizeChanged as change:
            await in_thread(driver.job_resize)(container_id, change.height, change.width)
            continue
        except asyncssh.SignalReceived as received:
            signal = received.signal if received.signal.startswith("SIG") else f"SIG{received.signal}"
            with contextlib.suppress(Exception):
                await in_thread(driver.job_signal)(container_id, signal)
            continue
        except asyncssh.BreakReceived:
            data = b"\x03"  # a break, as a terminal's Ctrl-C
        if not data:
            session.close_input()
            return
        await in_thread(session.write)(data)


def is_run_command(command: str | None) -> bool:
    """Whether an SSH session asks for a run rather than a git service."""
    try:
        return bool(command) and shlex.split(command)[:1] == ["run"]
    except ValueError:
        return False
