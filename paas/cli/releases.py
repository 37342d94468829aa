"""Commands on releases and what makes them: list, diff, rollback, config vars, builds."""

import shlex

import click

from paas.cli.client import CliError
from paas.cli.options import (
    app_option,
    current_app,
    json_option,
    parse_assignments,
    pass_client,
    release_change,
    wait_for_rollout,
    wait_options,
)
from paas.cli.output import echo_json, echo_listing, when
from paas.terminal import terminal_safe


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def releases(ctx, client, as_json):
    """List an app's releases, newest first (and `releases diff A B`)."""
    if ctx.invoked_subcommand:
        return
    echo_listing(
        client.get(f"/apps/{current_app()}/releases/"),
        as_json,
        empty="No releases yet; deploy with: git push paas main",
        row=lambda r: [
            f"v{r['version']}",
            r["description"],
            (r["revision"] or "")[:7] or "-",
            r["created_by"] or "-",
            when(r["created_at"]),
        ],
    )


def _version(text: str) -> int:
    try:
        return int(text.lstrip("v"))
    except ValueError:
        raise CliError(f"{text!r} is not a release version (for example v3 or 3)") from None


def _echo_mapping_diff(title: str, diff: dict) -> None:
    for key, value in diff["added"].items():
        click.echo(f"  {title} + {key}={value}")
    for key, value in diff["removed"].items():
        click.echo(f"  {title} - {key}={value}")
    for key, change in diff["changed"].items():
        click.echo(f"  {title} ~ {key}: {change['from']} -> {change['to']}")


@releases.command("diff")
@click.argument("from_version")
@click.argument("to_version")
@click.option("--show-values", is_flag=True, help="Show config values instead of masking them.")
@app_option
@json_option
@pass_client
def releases_diff(client, from_version, to_version, show_values, as_json):
    """What changed from release FROM_VERSION to TO_VERSION: source, image, config and process types."""
    old, new = _version(from_version), _version(to_version)
    query = f"?from={old}&to={new}" + ("&show_values=true" if show_values else "")
    diff = client.get(f"/apps/{current_app()}/releases/diff/{query}")
    if as_json:
        echo_json(diff)
        return
    before, after = diff["from"], diff["to"]
    click.echo(f"v{before['version']} -> v{after['version']}")
    click.echo(f"  source   {(before['revision'] or '-')[:7]} -> {(after['revision'] or '-')[:7]}")
    click.echo(f"  image    {before['image'] or '-'} -> {after['image'] or '-'}")
    _echo_mapping_diff("config", diff["config"])
    _echo_mapping_diff("process", diff["processes"])
    if not any(diff["config"][part] or diff["processes"][part] for part in ("added", "removed", "changed")):
        click.echo("  config and process types are the same")


@click.command()
@click.argument("version", required=False)
@app_option
@wait_options
@pass_client
def rollback(client, version, no_wait, timeout):
    """Roll back to VERSION (default: the release before the newest) as a new release."""
    name = current_app()
    body = {"version": _version(version)} if version else {}
    release = client.post(f"/apps/{name}/releases/rollback/", body)
    click.echo(f"{release['description']}: made v{release['version']} of {name}")
    if not no_wait:
        wait_for_rollout(client, name, release["version"], timeout)


@click.group(invoke_without_command=True)
@app_option
@json_option
@click.option("--shell", is_flag=True, help="Print `export KEY=VALUE` lines for a shell.")
@pass_client
@click.pass_context
def env(ctx, client, as_json, shell):
    """List an app's config vars (and get, set, unset them with the subcommands)."""
    if ctx.invoked_subcommand:
        return
    config = client.get(f"/apps/{current_app()}/config/")["config"]
    if as_json:
        echo_json(config)
    elif shell:
        for key, value in sorted(config.items()):
            click.echo(f"export {key}={shlex.quote(value)}")
    elif not config:
        click.echo("No config vars; set one with: paas env set KEY=VALUE")
    else:
        for key, value in sorted(config.items()):
            click.echo(f"{key}={value}")


@env.command("get")
@click.argument("key")
@app_option
@pass_client
def env_get(client, key):
    """Print the value of one config var."""
    config = client.get(f"/apps/{current_app()}/config/")["config"]
    if key not in config:
        raise CliError(f"{key} is not set; `paas env` lists the config vars")
    click.echo(config[key])


@env.command("set")
@click.argument("assignments", nargs=-1, required=True)
@app_option
@wait_options
@pass_client
def env_set(client, assignments, no_wait, timeout):
    """Set config vars, KEY=VALUE ..., in one new release rolled out like a push."""
    release_change(client, "config", parse_assignments(assignments), no_wait, timeout)


@env.command("unset")
@click.argument("keys", nargs=-1, required=True)
@app_option
@wait_options
@pass_client
def env_unset(client, keys, no_wait, timeout):
    """Unset config vars, KEY ..., in one new release rolled out like a push."""
    release_change(client, "config", dict.fromkeys(keys), no_wait, timeout)


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def builds(ctx, client, as_json):
    """List an app's builds, newest first (and `builds log N`)."""
    if ctx.invoked_subcommand:
        return
    echo_listing(
        client.get(f"/apps/{current_app()}/builds/"),
        as_json,
        empty="No builds yet; deploy with: git push paas main",
        row=lambda b: [
            str(b["id"]),
            b["state"],
            b["revision"][:7],
            f"v{b['release']}" if b["release"] else "-",
            f"{b['duration']:.0f}s" if b["duration"] is not None else "-",
            when(b["created_at"]),
            b["error"][:60],
        ],
    )


@builds.command("purge-cache")
@app_option
@pass_client
def builds_purge_cache(client):
    """Empty the app's build cache (downloaded and installed dependencies): the next push builds from scratch."""
    name = current_app()
    client.delete(f"/apps/{name}/builds/cache/")
    click.echo(f"Emptied the build cache of {name}; the next push installs its dependencies afresh.")


@builds.command("log")
@click.argument("build_id", type=int)
@app_option
@json_option
@pass_client
def builds_log(client, build_id, as_json):
    """Print the log of build BUILD_ID."""
    build = client.get(f"/apps/{current_app()}/builds/{build_id}/")
    if as_json:
        echo_json(build)
        return
    click.echo(terminal_safe(build["log"]), nl=False)
