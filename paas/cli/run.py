"""`paas run`: a one-off command in a job of the app's current release, with its config."""

import json
import os
import shlex
import sys
from urllib.parse import urlparse

import click

from paas.cli.client import CliError
from paas.cli.options import app_option, current_app, parse_assignments, pass_client
from paas.runenv import run_env_encoded
from paas.terminal import TerminalText

EXIT_NO_STATUS = 1  # the run ended without an exit status (it was killed, or its host went away)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--detach", "-d", is_flag=True, help="Return at once; the output goes to `paas logs -p run`.")
@click.option("--no-tty", is_flag=True, help="No terminal: output streams through the API, input is not read.")
@click.option("--env", "-e", "env", multiple=True, help="KEY=VALUE for this run only (repeatable).")
@app_option
@pass_client
def run(client, command, detach, no_tty, env):
    """Run COMMAND in a one-off job of the current release (paas run -- python manage.py migrate).

    In a terminal it is interactive (paas run bash) through the git SSH server and your SSH key; otherwise its
    output streams back. Exits with the command's exit status.
    """
    name = current_app()
    words = [word for word in command if word != "--"] if command[:1] == ("--",) else list(command)
    text = " ".join(words)
    variables = parse_assignments(env)
    if detach:
        job = client.post(f"/apps/{name}/runs/", {"command": text, "detach": True, "env": variables})
        click.echo(f"Running `{text}` on {name} as {job['name']} (detached); its output: paas logs -p run -a {name}")
        return
    if not no_tty and sys.stdin.isatty() and sys.stdout.isatty():
        run_over_ssh(client, name, words, variables)
    sys.exit(run_attached(client, name, text, variables))


def run_attached(client, name: str, text: str, variables: dict, addon: str = "") -> int:
    """Streams the run's output (NDJSON through the API); returns its exit status."""
    click.echo(f"Running `{text}` on {name}...", err=True)
    body = {"command": text, "env": variables, **({"addon": addon} if addon else {})}
    terminal = {"stdout": TerminalText(), "stderr": TerminalText()}
    exit_code = EXIT_NO_STATUS
    try:
        for line in client.stream_lines(f"/apps/{name}/runs/", timeout=None, method="POST", body=body):
            message = json.loads(line)
            if "exit" in message:
                exit_code = EXIT_NO_STATUS if message["exit"] is None else message["exit"]
            for stream in ("stdout", "stderr"):
                if stream in message:
                    click.echo(terminal[stream].feed(message[stream]), nl=False, err=stream == "stderr")
    except KeyboardInterrupt:
        click.echo("\nStopped; the run is killed.", err=True)
        return 130
    return exit_code


def run_over_ssh(client, name: str, words: list[str], variables: dict, addon: str = "") -> None:
    """Replaces this process with `ssh -t ... run APP -- COMMAND`: a pseudo-terminal end to end. Variables go
    apart from the command (`--env=`), so that they are not shown with it."""
    host = urlparse(client.url).hostname or "localhost"
    port = client.get("/")["ssh_port"]
    ssh = shlex.split(os.environ.get("PAAS_SSH_COMMAND") or os.environ.get("GIT_SSH_COMMAND") or "ssh")
    options = f" {run_env_encoded(variables)}" if variables else ""
    options += f" --addon={addon}" if addon else ""
    remote = f"run {name}{options} -- {shlex.join(words)}"
    try:
        os.execvp(ssh[0], [*ssh, "-t", "-p", str(port), f"git@{host}", remote])
    except OSError as error:
        raise CliError(f"cannot start {ssh[0]} ({error}); use --no-tty to run without a terminal") from error
