"""`paas logs`: the app's log, its jobs' output and the platform's events, followed across deploys."""

import urllib.parse

import click

from paas.cli.options import app_option, current_app, pass_client
from paas.terminal import TerminalText


@click.command()
@click.option("-n", "--lines", default=100, show_default=True, type=click.IntRange(0, 10000), help="How many lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep showing lines as they are written, across deploys (Ctrl-C).")
@click.option("-p", "-t", "--process", help="Only this process type's lines (web, worker) and the platform's about it.")
@click.option("--since", help="Only lines since then: 10m, 2h, 1d, or a UTC time such as 2026-11-25T22:00.")
@app_option
@pass_client
def logs(client, lines, follow, process, since):
    """Show the app's log: its jobs' output and the platform's events, kept across deploys."""
    query = {"lines": lines, "follow": "true" if follow else "false"}
    query |= {key: value for key, value in (("process", process), ("since", since)) if value}
    path = f"/apps/{current_app()}/logs/?{urllib.parse.urlencode(query)}"
    text = TerminalText()
    try:
        for line in client.stream_lines(path, timeout=None if follow else 60):
            click.echo(text.feed(line), nl=False)
    except KeyboardInterrupt:
        pass
    click.echo(text.end(), nl=False)
