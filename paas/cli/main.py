"""The `paas` command: a client of the platform's REST API (and `paas up`, which runs the platform)."""

import json
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import click

from paas.cli import git
from paas.cli.client import ApiClient, CliError, config_load, config_save

pass_client = click.make_pass_decorator(ApiClient)
SCALE_ARG = re.compile(r"^([a-z][a-z0-9_-]*)=(\d+)$")


def app_option(command):
    """Adds `-a/--app`; the app defaults to $PAAS_APP, then to this checkout's `paas` remote."""
    return click.option(
        "-a", "--app", "app_name", envvar="PAAS_APP", help="The app (default: $PAAS_APP, or the git remote `paas`)."
    )(command)


def json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")(command)


def resolve_app(app_name: str | None) -> str:
    name = app_name or git.remote_app()
    if not name:
        raise CliError("which app? pass -a APP, set PAAS_APP, or run inside a checkout with a `paas` remote")
    return name


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def echo_listing(items: list, as_json: bool, *, empty: str, row) -> None:
    """Prints a list the API returned: as JSON, as a table with one `row(item)` each, or `empty`."""
    if as_json:
        echo_json(items)
    elif not items:
        click.echo(empty)
    else:
        echo_table([row(item) for item in items])


def echo_table(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@click.group()
@click.version_option(package_name="paas")
@click.pass_context
def cli(ctx):
    """paas: git push to deploy, on your own machines."""
    ctx.obj = ApiClient.from_config()


@cli.command()
def up():
    """Run the whole platform in this process (API, git over SSH, builds, scheduler, router)."""
    from paas.runner import run

    run()


@cli.command()
@click.argument("url")
@click.option("--token", required=True, help="Your API token (the admin's is in DATA_DIR/admin.token).")
def login(url, token):
    """Log in to the platform at URL."""
    client = ApiClient(url, token)
    info = client.get("/")
    config_save({**config_load(), "url": client.url, "token": token})
    click.echo(f"Logged in to {client.url} as {info['user']}.")


@cli.group(invoke_without_command=True)
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


@cli.command()
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


@cli.command()
@json_option
@pass_client
def apps(client, as_json):
    """List your apps."""
    echo_listing(
        client.get("/apps/"),
        as_json,
        empty="No apps yet; create one with: paas create NAME",
        row=lambda app: [app["name"], app["owner"], app["created_at"][:19]],
    )


@cli.command()
@app_option
@json_option
@pass_client
def info(client, app_name, as_json):
    """Show an app: its release, formation and address."""
    name = resolve_app(app_name)
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


@cli.command()
@app_option
@json_option
@pass_client
def releases(client, app_name, as_json):
    """List an app's releases, newest first."""
    echo_listing(
        client.get(f"/apps/{resolve_app(app_name)}/releases/"),
        as_json,
        empty="No releases yet; deploy with: git push paas main",
        row=lambda r: [f"v{r['version']}", r["description"], r["created_by"] or "-", r["created_at"][:19]],
    )


def _parse_scale(pairs: tuple[str, ...]) -> dict[str, int]:
    counts = {}
    for pair in pairs:
        match = SCALE_ARG.match(pair)
        if not match:
            raise CliError(f"{pair!r} is not TYPE=N (for example web=2)")
        counts[match.group(1)] = int(match.group(2))
    return counts


def _wait_for_formation(client: ApiClient, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        formation = client.get(f"/apps/{name}/formation/")
        jobs = client.get(f"/apps/{name}/jobs/")
        if _formation_settled(formation, jobs):
            return
        time.sleep(0.5)
    raise CliError(f"the formation did not settle within {timeout:.0f}s; `paas ps -a {name}` shows the jobs")


def _formation_settled(formation: dict, jobs: list[dict]) -> bool:
    release = formation["release"]
    for ptype, count in formation["counts"].items():
        up = [j for j in jobs if j["process_type"] == ptype and j["release"] == release and j["state"] == "up"]
        if len(up) != count:
            return False
    extra = [j for j in jobs if formation["counts"].get(j["process_type"], 0) == 0]
    return not extra


@cli.command()
@click.argument("counts", nargs=-1)
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the jobs.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the jobs.")
@app_option
@json_option
@pass_client
def scale(client, counts, no_wait, timeout, app_name, as_json):
    """Show the formation, or set it: paas scale web=2 worker=1."""
    name = resolve_app(app_name)
    if counts:
        formation = client.patch(f"/apps/{name}/formation/", {"counts": _parse_scale(counts)})
        if not no_wait:
            _wait_for_formation(client, name, timeout)
    else:
        formation = client.get(f"/apps/{name}/formation/")
    if as_json:
        echo_json(formation)
        return
    shown = " ".join(f"{ptype}={count}" for ptype, count in sorted(formation["counts"].items()))
    click.echo(f"{name}: {shown or 'nothing scaled'}" + (f" (v{formation['release']})" if formation["release"] else ""))


@cli.command()
@app_option
@json_option
@pass_client
def ps(client, app_name, as_json):
    """List an app's jobs and their states."""
    echo_listing(
        client.get(f"/apps/{resolve_app(app_name)}/jobs/"),
        as_json,
        empty="No jobs running.",
        row=lambda job: [
            job["name"],
            job["state"],
            f"v{job['release']}",
            job["host"] or "-",
            (job["container_id"] or "")[:12],
            _job_note(job),
        ],
    )


def _job_note(job: dict) -> str:
    if job["state"] == "crashed":
        return f"exited {job['exit_code']}; {job['restarts']} restarts" + (f"; {job['error']}" if job["error"] else "")
    return f"{job['restarts']} restarts" if job["restarts"] else ""
