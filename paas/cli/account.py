"""Commands on the user and the CLI itself: login, keys, whoami, version, shell completion."""

import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version as package_version
from pathlib import Path

import click
from click.shell_completion import get_completion_class

from paas.cli.client import ApiClient, CliError, config_load, config_save
from paas.cli.options import json_option, pass_client
from paas.cli.output import echo_json, echo_listing


@click.command()
@click.argument("url")
def login(url):
    """Log in to the platform at URL with an API token: typed at the prompt, or on standard input
    (`paas login URL < var/admin.token`). Never on the command line, where shell history and process lists keep it."""
    token = _token_read()
    client = ApiClient(url, token)
    info = client.get("/")
    config_save({**config_load(), "url": client.url, "token": token})
    click.echo(f"Logged in to {client.url} as {info['user']}.")


def _token_read() -> str:
    token = click.prompt("API token", hide_input=True) if sys.stdin.isatty() else sys.stdin.readline()
    if not token.strip():
        raise CliError("no API token given; type it at the prompt, or send it on standard input: paas login URL < FILE")
    return token.strip()


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


def _private_key_of(public_key: Path) -> Path:
    """The private key beside a public key file (its path without .pub); the .pub itself when ssh-agent holds it."""
    private = public_key.with_suffix("") if public_key.suffix == ".pub" else None
    if private is not None and private.exists():
        return private
    if os.environ.get("SSH_AUTH_SOCK"):
        return public_key  # ssh-keygen then asks the agent to sign
    raise CliError(
        f"no private key found beside {public_key}; pass it with --private-key PATH "
        "(it signs a challenge from the platform, to prove that the key is yours)"
    )


def _ssh_sign(private_key: Path, text: str, namespace: str) -> str:
    """`text` signed with ssh-keygen -Y sign (which may ask for the key's passphrase on the terminal): armored."""
    if shutil.which("ssh-keygen") is None:
        raise CliError("ssh-keygen is needed to prove that the key is yours; install OpenSSH's client")
    with tempfile.TemporaryDirectory(prefix="paas-key-") as scratch:
        message = Path(scratch) / "challenge"
        message.write_text(text)
        command = ["ssh-keygen", "-Y", "sign", "-n", namespace, "-f", str(private_key), str(message)]
        result = subprocess.run(command, capture_output=True, text=True)  # a passphrase prompt uses the terminal
        if result.returncode != 0:
            raise CliError(f"ssh-keygen could not sign with {private_key}: {result.stderr.strip()}")
        return message.with_name("challenge.sig").read_text()


@keys.command("add")
@click.argument("pubkey_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--private-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The key's private key file, which signs the proof (default: PUBKEY_FILE without .pub).",
)
@pass_client
def keys_add(client, pubkey_file, private_key):
    """Add an SSH public key (default: ~/.ssh/id_ed25519.pub) for git push.

    The platform asks for proof that the key is yours: ssh-keygen signs a challenge from it with the private key
    (and may ask for its passphrase).
    """
    path = pubkey_file or _default_public_key()
    signer = private_key or _private_key_of(path)
    challenge = client.post("/keys/challenge/", {})
    signature = _ssh_sign(signer, challenge["challenge"], challenge["namespace"])
    proof = {"challenge": challenge["challenge"], "signature": signature}
    key = client.post("/keys/", {"public_key": path.read_text(), **proof})
    click.echo(f"Added key {key['fingerprint']} {key['comment']}".rstrip())


@keys.command("remove")
@click.argument("fingerprint")
@pass_client
def keys_remove(client, fingerprint):
    """Remove the SSH key with FINGERPRINT."""
    client.delete(f"/keys/{fingerprint}/")
    click.echo(f"Removed key {fingerprint}")
