"""Commands on the user and the CLI itself: login, keys, whoami, version, shell completion."""

from importlib.metadata import version as package_version
from pathlib import Path

import click
from click.shell_completion import get_completion_class

from paas.cli.client import ApiClient, CliError, config_load, config_save
from paas.cli.options import json_option, pass_client
from paas.cli.output import echo_json, echo_listing


@click.command()
@click.argument("url")
@click.option("--token", required=True, help="Your API token (the admin's is in DATA_DIR/admin.token).")
def login(url, token):
    """Log in to the platform at URL."""
    client = ApiClient(url, token)
    info = client.get("/")
    config_save({**config_load(), "url": client.url, "token": token})
    click.echo(f"Logged in to {client.url} as {info['user']}.")


@click.command()
@json_option
@pass_client
def whoami(client, as_json):
    """Show who you are logged in as, and where."""
    info = client.get("/")
    if as_json:
        echo_json({"user": info["user"], "url": client.url, "is_staff": info["is_staff"]})
        return
    click.echo(f"{info['user']} at {client.url}" + (" (staff)" if info["is_staff"] else ""))


@click.command()
@json_option
@click.pass_context
def version(ctx, as_json):
    """Show the CLI's version and the server's."""
    cli_version = package_version("paas")
    try:
        server = ApiClient.from_config().get("/")["version"]
    except CliError as error:
        server = f"unknown ({error.format_message()})"
    if as_json:
        echo_json({"cli": cli_version, "server": server})
        return
    click.echo(f"paas CLI {cli_version}\nserver   {server}")


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx, shell):
    """Print shell completion for SHELL; e.g. add `eval "$(paas completion bash)"` to ~/.bashrc."""
    completion_class = get_completion_class(shell)
    root = ctx.find_root()
    click.echo(completion_class(root.command, {}, "paas", "_PAAS_COMPLETE").source())


@click.group(invoke_without_command=True)
@json_option
@pass_client
@click.pass_context
def keys(ctx, client, as_json):
    """List your SSH keys (add and remove them with the subcommands)."""
    if ctx.invoked_subcommand:
        return
    echo_listing(
        client.get("/keys/"),
        as_json,
        empty="No keys yet; add one with: paas keys add ~/.ssh/id_ed25519.pub",
        row=lambda key: [key["fingerprint"], key["comment"]],
    )


def _default_public_key() -> Path:
    for name in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"):
        candidate = Path.home() / ".ssh" / name
        if candidate.exists():
            return candidate
    raise CliError("no public key given and none found in ~/.ssh; create one with: ssh-keygen -t ed25519")


@keys.command("add")
@click.argument("pubkey_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_client
def keys_add(client, pubkey_file):
    """Add an SSH public key (default: ~/.ssh/id_ed25519.pub) for git push."""
    path = pubkey_file or _default_public_key()
    key = client.post("/keys/", {"public_key": path.read_text()})
    click.echo(f"Added key {key['fingerprint']} {key['comment']}".rstrip())


@keys.command("remove")
@click.argument("fingerprint")
@pass_client
def keys_remove(client, fingerprint):
    """Remove the SSH key with FINGERPRINT."""
    client.delete(f"/keys/{fingerprint}/")
    click.echo(f"Removed key {fingerprint}")
