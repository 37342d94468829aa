"""Commands on how jobs run: health checks and resource limits."""

import click

from paas.cli.client import CliError
from paas.cli.options import (
    app_option,
    current_app,
    json_option,
    pass_client,
    release_change,
    wait_for_rollout,
    wait_options,
)
from paas.cli.output import echo_json, echo_table

ROLLOUT_TIMEOUT = 120.0


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def checks(ctx, client, as_json):
    """List the HTTP health checks (and set or unset them with the subcommands); other types use TCP."""
    if ctx.invoked_subcommand:
        return
    answer = client.get(f"/apps/{current_app()}/checks/")["checks"]
    if as_json:
        echo_json(answer)
    elif not answer:
        click.echo("No HTTP checks: a web job is up once its port takes connections. Set one: paas checks set web /")
    else:
        rows = [
            [ptype, f"GET {check['path']}", f"timeout {check['timeout']:g}s", f"{check['passes']} passes in a row"]
            for ptype, check in sorted(answer.items())
        ]
        echo_table(rows)


@checks.command("set")
@click.argument("process_type")
@click.argument("path")
@click.option("--timeout", "check_timeout", default=2.0, show_default=True, help="Seconds the app has to answer.")
@click.option("--passes", default=2, show_default=True, help="Checks to pass in a row before the job takes traffic.")
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the rollout.")
@app_option
@pass_client
def checks_set(client, process_type, path, check_timeout, passes, no_wait):
    """Check PROCESS_TYPE with GET PATH (2xx or 3xx passes), in a new release rolled out like a push."""
    check = {"path": path, "timeout": check_timeout, "passes": passes}
    release_change(client, "checks", {process_type: check}, no_wait, ROLLOUT_TIMEOUT)


@checks.command("unset")
@click.argument("process_type")
@app_option
@wait_options
@pass_client
def checks_unset(client, process_type, no_wait, timeout):
    """Back to the TCP check for PROCESS_TYPE, in a new release rolled out like a push."""
    release_change(client, "checks", {process_type: None}, no_wait, timeout)


def _limits_shown(limits: dict) -> str:
    return f"memory={limits['memory']} cpu={limits['cpus']:g} pids={limits['pids']}"


@click.group(invoke_without_command=True)
@app_option
@json_option
@pass_client
@click.pass_context
def limits(ctx, client, as_json):
    """List the memory, CPU and process limits of each process type (set them with the subcommands)."""
    if ctx.invoked_subcommand:
        return
    answer = client.get(f"/apps/{current_app()}/limits/")
    if as_json:
        echo_json(answer)
    elif not answer["effective"]:
        click.echo("No process types yet; push code with a Procfile first.")
    else:
        rows = [
            [ptype, _limits_shown(effective), "" if ptype in answer["limits"] else "(defaults)"]
            for ptype, effective in sorted(answer["effective"].items())
        ]
        echo_table(rows)


def parse_limits(pairs: tuple[str, ...]) -> dict:
    """`memory=512m cpu=0.5` as the API's {"memory": "512m", "cpus": 0.5}."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if key not in ("memory", "cpu", "cpus") or not sep or not value:
            raise CliError(f"{pair!r} is not a limit; say memory=512m or cpu=0.5")
        if key == "memory":
            parsed["memory"] = value
            continue
        try:
            parsed["cpus"] = float(value)
        except ValueError:
            raise CliError(f"{pair!r}: cpu is a number of CPUs, such as 0.5") from None
    return parsed


def _limits_change(client, changes: dict, no_wait: bool, timeout: float) -> None:
    name = current_app()
    answer = client.patch(f"/apps/{name}/limits/", changes)
    for ptype in sorted(changes):
        effective = answer["effective"].get(ptype)
        click.echo(f"{ptype}: {_limits_shown(effective) if effective else 'defaults'}")
    if not no_wait:
        wait_for_rollout(client, name, None, timeout)


@limits.command("set")
@click.argument("process_type")
@click.argument("assignments", nargs=-1, required=True)
@app_option
@wait_options
@pass_client
def limits_set(client, process_type, assignments, no_wait, timeout):
    """Set PROCESS_TYPE's limits (memory=512m cpu=0.5); its jobs are replaced one by one, as by a restart."""
    _limits_change(client, {process_type: parse_limits(assignments)}, no_wait, timeout)


@limits.command("unset")
@click.argument("process_type")
@app_option
@wait_options
@pass_client
def limits_unset(client, process_type, no_wait, timeout):
    """Back to the default limits for PROCESS_TYPE; its jobs are replaced one by one."""
    _limits_change(client, {process_type: None}, no_wait, timeout)
