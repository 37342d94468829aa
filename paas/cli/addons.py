"""Commands on an app's add-ons (PostgreSQL and Redis servers the platform runs for it, with backups) and volumes."""

import shlex
import sys
import time

import click

from paas.cli.client import CliError
from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_listing, when
from paas.cli.run import run_attached, run_over_ssh

TRANSFER_TIMEOUT = 3600  # seconds a backup or a restore may take (the platform answers once it is done)
SHELLS = {"postgres": 'psql "$DATABASE_URL"', "redis": 'redis-cli --no-auth-warning -u "$REDIS_URL"'}


def size_text(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "-"


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def addons(ctx, client, as_json):
    """List the app's add-ons (create, destroy, backup, backups, restore, psql, redis-cli: subcommands)."""
    if ctx.invoked_subcommand:
        return
    app = current_app()
    echo_listing(
        client.get(f"/apps/{app}/addons/"),
        as_json,
        empty=f"{app} has no add-ons. Add a database: paas addons create postgres -a {app}",
        row=lambda addon: [
            addon["name"],
            addon["kind"],
            addon["config_var"],
            _state(addon),
            size_text(addon["size"]),
            addon["host"],
        ],
    )


def _state(addon: dict) -> str:
    if addon["state"] != "up":
        return addon["state"]
    return "up" if addon["server"] == "running" else f"up ({addon['server'] or 'host not answering'})"


@addons.command("create")
@click.argument("kind", type=click.Choice(["postgres", "redis"]))
@click.option("--as", "name", help="Its name; its URL is then set in NAME_URL rather than DATABASE_URL or REDIS_URL.")
@click.option("--no-wait", is_flag=True, help="Return at once; `paas addons` shows when it is up.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for it to be up.")
@app_option
@pass_client
def addons_create(client, kind, name, no_wait, timeout):
    """Run a KIND server for the app; its URL goes in the app's config (a new release) once it answers."""
    app = current_app()
    addon = client.post(f"/apps/{app}/addons/", {"kind": kind, **({"name": name} if name else {})})
    click.echo(f"Creating {addon['name']} ({kind}) for {app} on host {addon['host']}...")
    if no_wait:
        return
    deadline = time.monotonic() + timeout
    while addon["state"] == "creating":
        if time.monotonic() > deadline:
            raise CliError(f"not up after {timeout:.0f}s; `paas addons -a {app}` shows its state")
        time.sleep(1)
        addon = client.get(f"/apps/{app}/addons/{addon['name']}/")
    if addon["state"] == "failed":
        raise CliError(f"{addon['name']} could not be made: {addon['error']}")
    click.echo(f"{addon['name']} is up; {addon['config_var']} is set and the app restarts with it.")


@addons.command("destroy")
@click.argument("name")
@click.option("--confirm", required=True, help="The app's name again: the add-on's data and backups are deleted.")
@app_option
@pass_client
def addons_destroy(client, name, confirm):
    """Remove add-on NAME, its data and its backups, and unset its config var."""
    app = current_app()
    client.delete(f"/apps/{app}/addons/{name}/", {"confirm": confirm})
    click.echo(f"{name} destroyed.")


@addons.command("backup")
@click.argument("name")
@app_option
@pass_client
def addons_backup(client, name):
    """Take a backup of add-on NAME now (pg_dump, or Redis's BGSAVE)."""
    app = current_app()
    backup = client.post(f"/apps/{app}/addons/{name}/backups/", {}, timeout=TRANSFER_TIMEOUT)
    click.echo(f"Backup {backup['name']} of {name} taken ({size_text(backup['size'])}).")


@addons.command("backups")
@click.argument("name")
@app_option
@json_option
@pass_client
def addons_backups(client, name, as_json):
    """List add-on NAME's backups."""
    app = current_app()
    echo_listing(
        client.get(f"/apps/{app}/addons/{name}/backups/"),
        as_json,
        empty=f"{name} has no backups. Take one: paas addons backup {name} -a {app}",
        row=lambda backup: [backup["name"], size_text(backup["size"]), when(backup["created_at"])],
    )


@addons.command("restore")
@click.argument("name")
@click.argument("backup")
@app_option
@pass_client
def addons_restore(client, name, backup):
    """Load BACKUP (b3: `paas addons backups NAME`) back into add-on NAME, replacing its data."""
    app = current_app()
    restored = client.post(f"/apps/{app}/addons/{name}/restore/", {"backup": backup}, timeout=TRANSFER_TIMEOUT)
    click.echo(f"{name} restored from {restored['name']}.")


@addons.command("psql")
@click.argument("name", required=False)
@click.option("--command", "-c", "sql", help="Run this SQL and exit, rather than open a shell.")
@app_option
@pass_client
def addons_psql(client, name, sql):
    """Open psql on PostgreSQL add-on NAME (the app's only one, if not given), as a one-off run."""
    _shell(client, "postgres", name, f"-c {shlex.quote(sql)}" if sql else "")


@addons.command("redis-cli")
@click.argument("name", required=False)
@click.argument("words", nargs=-1)
@app_option
@pass_client
def addons_redis_cli(client, name, words):
    """Open redis-cli on Redis add-on NAME (the app's only one, if not given), as a one-off run; with WORDS, run
    that command and exit (paas addons redis-cli redis GET counter)."""
    _shell(client, "redis", name, shlex.join(words))


def _shell(client, kind: str, name: str | None, extra: str = "") -> None:
    app = current_app()
    candidates = [addon for addon in client.get(f"/apps/{app}/addons/") if addon["kind"] == kind]
    chosen = [addon for addon in candidates if addon["name"] == name] if name else candidates
    if len(chosen) != 1:
        names = ", ".join(addon["name"] for addon in candidates) or "none"
        raise CliError(f"say which {kind} add-on of {app} (its {kind} add-ons: {names})")
    addon = chosen[0]
    command = SHELLS[kind].replace("DATABASE_URL" if kind == "postgres" else "REDIS_URL", addon["config_var"])
    command = f"{command} {extra}".strip()
    if not extra and sys.stdin.isatty() and sys.stdout.isatty():
        run_over_ssh(client, app, shlex.split(command, posix=False), {}, addon=addon["name"])
    sys.exit(run_attached(client, app, command, {}, addon=addon["name"]))


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def volumes(ctx, client, as_json):
    """List the app's volumes (create, remove: subcommands)."""
    if ctx.invoked_subcommand:
        return
    app = current_app()
    echo_listing(
        client.get(f"/apps/{app}/volumes/"),
        as_json,
        empty=f"{app} has no volumes. Add one: paas volumes create data --mount /data --process worker -a {app}",
        row=lambda volume: [
            volume["name"],
            volume["path"],
            volume["process_type"] + (" (shared)" if volume["shared"] else ""),
            size_text(volume["size"]),
            volume["host"],
        ],
    )


@volumes.command("create")
@click.argument("name")
@click.option("--mount", "path", required=True, help="Where its jobs find it, e.g. /data.")
@click.option("--process", "process_type", required=True, help="The process type whose jobs mount it, e.g. worker.")
@click.option("--shared", is_flag=True, help="Several jobs of the process type may use it at once.")
@app_option
@pass_client
def volumes_create(client, name, path, process_type, shared):
    """Add volume NAME: storage kept across deploys and restarts, mounted into one process type's jobs."""
    app = current_app()
    body = {"name": name, "path": path, "process_type": process_type, "shared": shared}
    volume = client.post(f"/apps/{app}/volumes/", body)
    click.echo(f"Volume {name} is mounted at {volume['path']} in {process_type} jobs (on host {volume['host']}).")


@volumes.command("remove")
@click.argument("name")
@click.option("--confirm", required=True, help="The app's name again: the data on the volume is deleted.")
@app_option
@pass_client
def volumes_remove(client, name, confirm):
    """Remove volume NAME and its data; its jobs restart without it."""
    app = current_app()
    client.delete(f"/apps/{app}/volumes/{name}/", {"confirm": confirm})
    click.echo(f"Volume {name} removed.")
