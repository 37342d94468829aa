"""`paas metrics`: an app's traffic through the router, minute by minute."""

import click

from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_json, echo_table


def _ms(value) -> str:
    return "-" if value is None else f"{value:g}ms"


@click.command()
@click.option("--minutes", default=30, show_default=True, help="How far back to look (at most 2880).")
@app_option
@json_option
@pass_client
def metrics(client, minutes, as_json):
    """Requests per second, p50/p95/p99 latency and 5xx share of the app's web traffic, per minute (UTC),
    with its deploys marked."""
    app = current_app()
    answer = client.get(f"/apps/{app}/metrics/?minutes={int(minutes)}")
    if as_json:
        echo_json(answer)
        return
    deploys = sorted(answer["deploys"], key=lambda deploy: deploy["at"])
    rows = [["minute", "requests", "req/s", "p50", "p95", "p99", "5xx"]]
    for minute in answer["minutes"]:
        while deploys and deploys[0]["at"][:16] <= minute["minute"][:16]:
            deploy = deploys.pop(0)
            rows.append([deploy["at"][11:16], f"-- v{deploy['version']}: {deploy['description']}", "", "", "", "", ""])
        if minute["requests"]:
            rows.append(
                [
                    minute["minute"][11:16],
                    str(minute["requests"]),
                    f"{minute['rps']:g}",
                    _ms(minute["p50_ms"]),
                    _ms(minute["p95_ms"]),
                    _ms(minute["p99_ms"]),
                    f"{minute['error_rate'] * 100:.1f}%",
                ]
            )
    if len(rows) == 1:
        click.echo(f"No requests reached {app} in the last {minutes} minutes.")
        return
    echo_table(rows)
