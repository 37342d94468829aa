"""Options and argument handling that many commands share: the app, --json, TYPE=N and KEY=VALUE pairs."""

import os
import re
import time

import click

from paas.cli import git
from paas.cli.client import ApiClient, CliError
from paas.terminal import TerminalText, indented

pass_client = click.make_pass_decorator(ApiClient)
APP_META = "paas.app"
SCALE_ARG = re.compile(r"^([a-z][a-z0-9_-]*)=(\d+)$")


def remember_app(ctx, param, value):
    """Keeps -a for `current_app`, wherever on the command line it was given."""
    if value:
        ctx.meta[APP_META] = value
    return value


def app_option(command):
    """Adds `-a/--app`, accepted after the command (`paas ps -a APP`) as well as before it (`paas -a APP ps`)."""
    return click.option(
        "-a",
        "--app",
        "app_name",
        expose_value=False,
        callback=remember_app,
        help="The app (default: $PAAS_APP, or the git remote `paas`).",
    )(command)


def json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")(command)


def current_app() -> str:
    """The app a command acts on: -a (after or before the command), then $PAAS_APP, then the `paas` remote."""
    name = click.get_current_context().meta.get(APP_META) or os.environ.get("PAAS_APP") or git.remote_app()
    if not name:
        raise CliError("which app? pass -a APP, set PAAS_APP, or run inside a checkout with a `paas` remote")
    return name


def parse_scale(pairs: tuple[str, ...]) -> dict[str, int]:
    counts = {}
    for pair in pairs:
        match = SCALE_ARG.match(pair)
        if not match:
            raise CliError(f"{pair!r} is not TYPE=N (for example web=2)")
        counts[match.group(1)] = int(match.group(2))
    return counts


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` arguments; the value may hold `=` and newlines."""
    config = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{pair!r} is not KEY=VALUE (for example DEBUG=1)")
        config[key] = value
    return config


def wait_for_rollout(client: ApiClient, name: str, release: int | None, timeout: float) -> None:
    """Waits until the release (or a restart, with None) has replaced every job, as `git push` does; a release's
    release phase is shown as it runs (its own time does not count against `timeout`)."""
    phase = ReleasePhaseOutput(release)
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/apps/{name}/rollout/{phase.query()}")
        phase.show(status)
        if status["state"] == "releasing":
            deadline = time.monotonic() + timeout
        elif status["state"] in ("done", "superseded"):
            note = f" ({status['message']})" if status["message"] else ""
            click.echo(f"{'v' + str(status['release']) if status['release'] else name} is live{note}.")
            return
        elif status["state"] == "failed":
            raise CliError(f"the rollout failed: {status['message']}; the previous release keeps serving")
        if time.monotonic() > deadline:
            raise CliError(f"not done after {timeout:.0f}s; `paas ps -a {name}` shows the jobs")
        time.sleep(0.5)


class ReleasePhaseOutput:
    """Shows a release's release phase as it runs: that it started, then what it prints, indented."""

    def __init__(self, release: int | None):
        self.release = release
        self.offset = 0
        self.announced = self.ended = False
        self.terminal = TerminalText()

    def query(self) -> str:
        return f"?release={self.release}&output_from={self.offset}" if self.release else ""

    def show(self, status: dict) -> None:
        phase = status.get("release_phase") if self.release else None
        if not phase:
            return
        if not self.announced:
            click.echo(f"Running the release command of v{self.release}...")
            self.announced = True
        self.offset = phase["offset"]
        ended = phase["state"] in ("succeeded", "failed") and not self.ended
        self.ended = self.ended or ended
        text = self.terminal.feed(phase["output"]) + (self.terminal.end() if ended else "")
        click.echo(indented(text), nl=False)
        if ended and phase["state"] == "failed":
            click.echo(f"The release command failed (exit status {phase['exit_code']}).")


def release_change(client: ApiClient, resource: str, changes: dict, no_wait: bool, timeout: float) -> None:
    """PATCHes an app resource whose change makes a release (config, checks), then waits for its rollout."""
    name = current_app()
    answer = client.patch(f"/apps/{name}/{resource}/", changes)
    if answer["release"] is None:
        click.echo("No change; no new release.")
        return
    click.echo(f"Made v{answer['release']} of {name}")
    formation = client.get(f"/apps/{name}/formation/")
    if formation["release"] is None and formation.get("releasing") is None:
        click.echo("It takes effect with the first deploy: git push paas main")
    elif not no_wait:
        wait_for_rollout(client, name, answer["release"], timeout)


def wait_options(command):
    """--no-wait and --timeout, for commands that roll out a release."""
    command = click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the rollout.")(
        command
    )
    return click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the rollout.")(command)
