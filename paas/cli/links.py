"""Commands on how an app's jobs find other jobs: its links to other apps, and discovery."""

import click

from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_json, echo_table


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def links(ctx, client, as_json):
    """List the apps whose jobs the app's jobs reach by internal name, and those that reach it (add and remove:
    subcommands)."""
    if ctx.invoked_subcommand:
        return
    app = current_app()
    answer = client.get(f"/apps/{app}/links/")
    if as_json:
        echo_json(answer)
        return
    rows = [[f"{app} reaches", name, f"web.{name}.internal"] for name in answer["reaches"]]
    rows += [["reached by", name, ""] for name in answer["reached_by"]]
    if rows:
        echo_table(rows)
    else:
        click.echo(f"{app} reaches only its own jobs (web.{app}.internal). Link it: paas links add OTHER -a {app}")


@links.command("add")
@click.argument("other")
@app_option
@pass_client
def links_add(client, other):
    """Let the app's jobs reach OTHER's at TYPE.OTHER.internal (you must be able to change OTHER too)."""
    app = current_app()
    client.post(f"/apps/{app}/links/", {"app": other})
    click.echo(f"{app} reaches {other}'s jobs at TYPE.{other}.internal once its jobs have restarted.")


@links.command("remove")
@click.argument("other")
@app_option
@pass_client
def links_remove(client, other):
    """Stop the app's jobs reaching OTHER's."""
    app = current_app()
    client.delete(f"/apps/{app}/links/{other}/")
    click.echo(f"{app} no longer reaches {other} once its jobs have restarted.")


@click.command()
@click.option("--process", "process_type", help="One process type only, such as web.")
@app_option
@json_option
@pass_client
def discover(client, process_type, as_json):
    """Where the app's healthy jobs answer: their internal name and port, and the router's address of each."""
    app = current_app()
    query = f"?process={process_type}" if process_type else ""
    answer = client.get(f"/apps/{app}/discover/{query}")
    if as_json:
        echo_json(answer)
        return
    rows = [["job", "release", "host", "internal", "address"]]
    for endpoint in answer:
        release = f"v{endpoint['release']}"
        rows.append([endpoint["job"], release, endpoint["host"], endpoint["internal"], endpoint["address"] or "-"])
    echo_table(rows)
