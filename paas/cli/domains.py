"""Commands on where an app answers: its domains, their certificates, and the HTTP-to-HTTPS redirect."""

import urllib.parse
from pathlib import Path

import click

from paas.cli.client import CliError
from paas.cli.options import app_option, current_app, json_option, pass_client
from paas.cli.output import echo_json, echo_table

_CERTIFICATE_SOURCES = {"internal": "router's CA", "acme": "ACME", "own": "own certificate"}


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="*")


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def domains(ctx, client, as_json):
    """List the names the app answers at, with each one's certificate (add, remove and redirect: subcommands)."""
    if ctx.invoked_subcommand:
        return
    app = current_app()
    answer = client.get(f"/apps/{app}/domains/")
    if as_json:
        echo_json(answer)
        return
    rows = [
        [
            domain["name"],
            domain["kind"],
            _CERTIFICATE_SOURCES.get(domain["certificate"], domain["certificate"]),
            f"expires {domain['expires_at'][:10]}" if domain["expires_at"] else "not issued yet",
        ]
        for domain in answer
    ]
    echo_table(rows)
    if client.get(f"/apps/{app}/router/")["redirect_https"]:
        click.echo("Plain HTTP is redirected to HTTPS.")


@domains.command("add")
@click.argument("name")
@app_option
@pass_client
def domains_add(client, name):
    """Make the app answer at NAME too (www.example.com, or a wildcard: *.example.com)."""
    app = current_app()
    added = client.post(f"/apps/{app}/domains/", {"name": name})
    click.echo(f"{app} answers at {added['name']} once its DNS points to this platform's router.")


@domains.command("remove")
@click.argument("name")
@app_option
@pass_client
def domains_remove(client, name):
    """Stop the app answering at NAME."""
    app = current_app()
    client.delete(f"/apps/{app}/domains/{_quoted(name)}/")
    click.echo(f"{app} no longer answers at {name}.")


@domains.command("redirect")
@click.argument("state", type=click.Choice(["on", "off"]))
@app_option
@pass_client
def domains_redirect(client, state):
    """Redirect plain HTTP to HTTPS (on), or serve both (off)."""
    app = current_app()
    client.patch(f"/apps/{app}/router/", {"redirect_https": state == "on"})
    click.echo(f"{app}: plain HTTP {'is redirected to HTTPS' if state == 'on' else 'is served as it is'}.")


@click.group()
def certs():
    """Serve a domain with your own certificate instead of the router's."""


@certs.command("add")
@click.argument("domain")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@app_option
@pass_client
def certs_add(client, domain, certificate, key):
    """Serve DOMAIN with CERTIFICATE (PEM, with its chain) and KEY (PEM, unencrypted; sent once, never shown)."""
    app = current_app()
    try:
        body = {"certificate": certificate.read_text(), "key": key.read_text()}
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read the certificate or key: {error}") from error
    done = client.request("PUT", f"/apps/{app}/domains/{_quoted(domain)}/certificate/", body)
    click.echo(f"{done['name']} is served with your certificate (expires {(done['expires_at'] or '?')[:10]}).")


@certs.command("remove")
@click.argument("domain")
@app_option
@pass_client
def certs_remove(client, domain):
    """Go back to the router's own certificate for DOMAIN."""
    app = current_app()
    client.delete(f"/apps/{app}/domains/{_quoted(domain)}/certificate/")
    click.echo(f"{domain} is served with the router's certificate again.")
