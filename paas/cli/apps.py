"""Commands on apps as a whole: create, list, info, destroy, and their audit events."""

from urllib.parse import urlparse

import click

from paas.cli import git
from paas.cli.client import CliError
from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_json, echo_listing, echo_table, when


@click.command()
@click.argument("name", required=False)
@click.option("--no-remote", is_flag=True, help="Do not add the git remote `paas`.")
@pass_client
def create(client, name, no_remote):
    """Create an app (named NAME, or a generated name) and add the git remote `paas`."""
    app = client.post("/apps/", {"name": name or ""})
    click.echo(f"Created {app['name']}")
    if no_remote or not git.in_checkout():
        return
    info = client.get("/")
    host = urlparse(client.url).hostname or "localhost"
    url = f"ssh://git@{host}:{info['ssh_port']}/{app['name']}.git"
    action = git.remote_set(url)
    click.echo(f"Git remote paas {action}: {url}")
    click.echo("Deploy with: git push paas main")


@click.command("apps")
@json_option
@pass_client
def apps_list(client, as_json):
    """List your apps."""
    echo_listing(
        client.get("/apps/"),
        as_json,
        empty="No apps yet; create one with: paas create NAME",
        row=lambda app: [app["name"], app["owner"], when(app["created_at"])],
    )


@click.command()
@app_option
@json_option
@pass_client
def info(client, as_json):
    """Show an app: its release, formation and address."""
    name = current_app()
    app = client.get(f"/apps/{name}/")
    formation = client.get(f"/apps/{name}/formation/")
    root = client.get("/")
    url = f"http://{name}.{root['domain']}:{root['router_port']}/"
    if as_json:
        echo_json({**app, "formation": formation, "url": url})
        return
    counts = " ".join(f"{ptype}={count}" for ptype, count in sorted(formation["counts"].items()))
    release = f"v{formation['release']}" if formation["release"] else "none (push to deploy)"
    echo_table(
        [
            ["Name", app["name"]],
            ["Owner", app["owner"]],
            ["Release", release],
            ["Formation", counts or "-"],
            ["URL", url],
        ]
    )


@click.command()
@app_option
@click.option("--confirm", metavar="APP", help="The app's name again; without it you are asked.")
@pass_client
def destroy(client, confirm):
    """Destroy an app: its jobs, routes, releases, builds, git repository, cache and images."""
    name = current_app()
    if confirm is None:
        click.echo(f"This destroys {name} and everything it made. It cannot be undone.", err=True)
        confirm = click.prompt(f"Type {name} to confirm", default="", show_default=False, err=True)
    if confirm != name:
        raise CliError(f"not destroyed: confirm with the app's name (paas destroy -a {name} --confirm {name})")
    client.delete(f"/apps/{name}/", {"confirm": confirm})
    click.echo(f"Destroyed {name}")


@click.command()
@app_option
@click.option("--all", "everything", is_flag=True, help="Every event you may see (staff: the whole platform's).")
@click.option("-n", "--lines", default=50, show_default=True, help="How many events, newest last.")
@json_option
@pass_client
def events(client, everything, lines, as_json):
    """Show who did what to an app, and when (config keys, never their values)."""
    items = client.get("/events/" if everything else f"/apps/{current_app()}/events/")[:lines]
    echo_listing(
        list(reversed(items)) if not as_json else items,
        as_json,
        empty="No events yet.",
        row=lambda event: [when(event["created_at"]), event["app"] or "-", event["actor"] or "paas", event["detail"]],
    )
