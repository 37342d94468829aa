"""Commands on who may do what: an app's collaborators (access), your API tokens (tokens), users (staff)."""

import re

import click

from paas.cli.client import CliError
from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_json, echo_listing, when

DURATION = re.compile(r"^(\d+)([mhdw])$")
DURATION_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """`30d`, `12h`, `90m` or `2w` in seconds."""
    match = DURATION.match(text.strip().lower())
    if not match:
        raise CliError(f"{text!r} is not a duration such as 30d, 12h, 90m or 2w")
    return int(match.group(1)) * DURATION_SECONDS[match.group(2)]


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def access(ctx, client, as_json):
    """List who may see and change an app: its owner and collaborators."""
    if ctx.invoked_subcommand:
        return
    echo_listing(
        client.get(f"/apps/{current_app()}/access/"),
        as_json,
        empty="Nobody.",
        row=lambda row: [row["user"], row["role"], when(row["since"])],
    )


@access.command("add")
@click.argument("username")
@app_option
@pass_client
def access_add(client, username):
    """Let USERNAME see and change the app: push, scale, config, rollback, restart (destroying it stays yours)."""
    name = current_app()
    client.post(f"/apps/{name}/access/", {"username": username})
    click.echo(f"Added {username} to {name}: they may push, scale, configure and roll it back.")


@access.command("remove")
@click.argument("username")
@app_option
@pass_client
def access_remove(client, username):
    """Take the app away from the collaborator USERNAME."""
    name = current_app()
    client.delete(f"/apps/{name}/access/{username}/")
    click.echo(f"Removed {username} from {name}")


@click.group(invoke_without_command=True)
@json_option
@pass_client
@click.pass_context
def tokens(ctx, client, as_json):
    """List your API tokens (create and revoke them with the subcommands)."""
    if ctx.invoked_subcommand:
        return
    echo_listing(
        client.get("/tokens/"),
        as_json,
        empty="No tokens.",
        row=lambda token: [
            str(token["id"]),
            f"{token['prefix']}...",
            token["name"],
            f"expires {when(token['expires_at'])}" if token["expires_at"] else "never expires",
            f"last used {when(token['last_used_at'])}" if token["last_used_at"] else "never used",
        ],
    )


@tokens.command("create")
@click.argument("name", default="token", required=False)
@click.option("--expires", metavar="DURATION", help="When the token stops working: 30d, 12h, 90m, 2w (default: never).")
@json_option
@pass_client
def tokens_create(client, name, expires, as_json):
    """Create an API token called NAME and print it (shown this once: it is not stored)."""
    body = {"name": name, "expires_in": parse_duration(expires) if expires else None}
    token = client.post("/tokens/", body)
    if as_json:
        echo_json(token)
        return
    expiry = f"expires {when(token['expires_at'])} UTC" if token["expires_at"] else "never expires"
    click.echo(f"Created token {token['id']} ({token['name']}; {expiry}). Shown this once, it is:", err=True)
    click.echo(token["key"])


@tokens.command("revoke")
@click.argument("token")
@pass_client
def tokens_revoke(client, token):
    """Revoke the API token TOKEN (its ID or its prefix, as `paas tokens` shows them)."""
    wanted = token.removesuffix("...")
    matches = [row for row in client.get("/tokens/") if wanted in (str(row["id"]), row["prefix"])]
    if len(matches) != 1:
        raise CliError(f"no token {token!r} of yours; `paas tokens` lists them")
    client.delete(f"/tokens/{matches[0]['id']}/")
    click.echo(f"Revoked token {matches[0]['id']} ({matches[0]['prefix']}...)")


@click.group(invoke_without_command=True)
@json_option
@pass_client
@click.pass_context
def users(ctx, client, as_json):
    """List the platform's users (staff only; create them with the subcommand)."""
    if ctx.invoked_subcommand:
        return
    echo_listing(
        client.get("/users/"),
        as_json,
        empty="No users.",
        row=lambda user: [user["username"], "staff" if user["is_staff"] else "user", when(user["date_joined"])],
    )


@users.command("create")
@click.argument("name")
@click.option("--staff", is_flag=True, help="An operator: sees and changes every app, and creates users.")
@json_option
@pass_client
def users_create(client, name, staff, as_json):
    """Create the user NAME and print their first API token (shown this once: it is not stored)."""
    user = client.post("/users/", {"username": name, "is_staff": staff})
    if as_json:
        echo_json(user)
        return
    kind = "staff user" if user["is_staff"] else "user"
    click.echo(
        f"Created {kind} {user['username']}. Their API token, shown this once, is the next line; with it in a "
        f"file they log in with: paas login {client.url} < FILE",
        err=True,
    )
    click.echo(user["token"])
